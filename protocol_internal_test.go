package liveflux

import (
	"encoding/json"
	"testing"
)

// encodeUpdate writes what encodeMessage would, once decoded, however
// hostile the rendering.
func TestEncodeUpdateIsEncodeMessage(t *testing.T) {
	for _, html := range []string{
		`<div a="1">plain</div>`,
		"quotes \" and \\ backslashes",
		"controls \x00\x01\b\f\n\r\t\x1f and \x7f",
		"line separators \u2028 \u2029",
		"<script>&amp;</script>",
		"invalid \xff\xfe UTF-8 \xc3",
		"emoji 😀 and é",
	} {
		want := encodeMessage(serverMessage{Type: MessageUpdate, ComponentID: `I"D`, Data: struct {
			HTML string `json:"html"`
		}{html}})
		got := encodeUpdate(`I"D`, []byte(html))
		if a, b := decoded(t, got), decoded(t, want); a != b {
			t.Errorf("%q:\n got  %s\n want %s", html, got, want)
		}
	}
}

// decoded is msg decoded and encoded again by encoding/json.
func decoded(t *testing.T, msg []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(msg, &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", msg, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
