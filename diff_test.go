package liveflux

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf16"
)

// applyDiff does what the JS client does with a diff update.
func applyDiff(t *testing.T, prev string, msg []byte) string {
	t.Helper()
	var m struct {
		Data struct {
			Diff []json.RawMessage `json:"diff"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg, &m); err != nil || len(m.Data.Diff) != 3 {
		t.Fatalf("not a diff update: %s (%v)", msg, err)
	}
	var p, s int
	var text string
	json.Unmarshal(m.Data.Diff[0], &p)
	json.Unmarshal(m.Data.Diff[1], &s)
	json.Unmarshal(m.Data.Diff[2], &text)
	u := utf16.Encode([]rune(prev))
	return string(utf16.Decode(u[:p])) + text + string(utf16.Decode(u[len(u)-s:]))
}

func TestDiffUpdateRoundTrips(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("<li>row</li>", 50)
	tests := []struct{ name, prev, next string }{
		{"one value", long + "<b>1</b>" + long, long + "<b>2</b>" + long},
		{"insert", long + long, long + "<i>new</i>" + long},
		{"delete", long + "<i>old</i>" + long, long + long},
		{"multi-byte around the change", long + "é€😀a😀€é" + long, long + "é€😀b😀€é" + long},
		{"multi-byte changed", long + "€" + long, long + "😀" + long},
		{"same leading byte", long + "é" + long, long + "è" + long},
		{"escapes", long + `"` + long, long + "\"\\\n\t\u2028<&>\x01" + long},
		{"no change", long, long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := appendDiffUpdate(nil, "ID", 8, 7, []byte(tt.prev), []byte(tt.next))
			if !ok {
				t.Fatalf("no diff for a small change")
			}
			if !json.Valid(msg) {
				t.Fatalf("invalid JSON: %s", msg)
			}
			if got := applyDiff(t, tt.prev, msg); got != tt.next {
				t.Fatalf("diff applied gives\n%q\nwant\n%q", got, tt.next)
			}
			if !strings.HasPrefix(string(msg), `{"type":"update","componentID":"ID","data":{"rev":8,"base":7,"diff":[`) {
				t.Fatalf("envelope: %s", msg)
			}
		})
	}
	if _, ok := appendDiffUpdate(nil, "ID", 2, 1, []byte("abcdefgh"), []byte("12345678")); ok {
		t.Errorf("diff sent although it is not smaller than the rendering")
	}
}

func TestRootBody(t *testing.T) {
	t.Parallel()
	if got := string(rootBody([]byte(`<div a="&gt;" b="1">x<p>y</p></div>`))); got != "x<p>y</p>" {
		t.Fatalf("rootBody = %q", got)
	}
	if rootBody([]byte(`<div`)) != nil {
		t.Fatal("rootBody of garbage")
	}
}
