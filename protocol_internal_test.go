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

// encodeAnswer writes what encoding/json writes for the answer's fields:
// the rendering (markup, quotes, control characters, U+2028, invalid
// UTF-8), the events, the stream operations and the patch, each left out
// when empty.
func TestEncodeAnswerIsJSON(t *testing.T) {
	type answer struct {
		HTML    string          `json:"html"`
		Events  []Event         `json:"events,omitempty"`
		Streams json.RawMessage `json:"streams,omitempty"`
		Patch   *urlPatch       `json:"patch,omitempty"`
	}
	html := []byte("<p class=\"x\">a & b</p>\n\t\x01 \u2028 \xff é 😀 \\")
	ops := []streamOp{{op: streamReset, name: "m", enc: []byte(`["reset","m"]`)}}
	for _, res := range []result{
		{html: html},
		{html: html, events: []Event{{Name: "saved", Detail: json.RawMessage(`{"n":1}`)}}, streams: ops, patch: &urlPatch{URL: "/a?b=1", Replace: true}},
	} {
		want, err := encodeJSON(answer{string(res.html), res.events, appendOps(nil, res.streams), res.patch})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.streams) == 0 {
			want, _ = encodeJSON(answer{string(res.html), res.events, nil, res.patch})
		}
		if got := encodeAnswer(res); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
