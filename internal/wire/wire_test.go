package wire

import (
	"encoding/json"
	"testing"
)

// Diffs count UTF-16 code units, as JavaScript strings do.
func TestApplyDiff(t *testing.T) {
	for _, tc := range []struct {
		body string
		d    Diff
		want string
	}{
		{"<b>41</b>", Diff{3, 4, "42"}, "<b>42</b>"},
		{"abc", Diff{0, 0, "xyz"}, "xyz"},
		{"abc", Diff{3, 0, "d"}, "abcd"},
		{"abc", Diff{1, 1, ""}, "ac"},
		{"a😀b", Diff{3, 1, "!"}, "a😀!b"}, // 😀 is two code units
		{"é😀", Diff{1, 2, "-"}, "é-😀"},
	} {
		if got, ok := ApplyDiff(tc.body, tc.d); !ok || got != tc.want {
			t.Errorf("ApplyDiff(%q, %+v) = %q, %v, want %q", tc.body, tc.d, got, ok, tc.want)
		}
	}
	if _, ok := ApplyDiff("abc", Diff{2, 2, ""}); ok {
		t.Error("a diff longer than the body applied")
	}
}

// Apply follows the JS client's rules: an older full rendering is ignored,
// a diff applies only to the rendering it is based on.
func TestApply(t *testing.T) {
	full := func(rev string) Update {
		var u Update
		if err := json.Unmarshal([]byte(`{"html":"<div data-flux-component-kind=\"k\" data-flux-component-id=\"ID\" data-flux-rev=\"`+rev+`\"><b>1</b></div>"}`), &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	v, out, err := Apply(View{}, false, "ID", full("5"))
	if err != nil || out != Applied || v != (View{"k", 5, "<b>1</b>"}) {
		t.Fatalf("full rendering: %+v %v %v", v, out, err)
	}
	if _, out, _ := Apply(v, true, "ID", full("4")); out != Stale {
		t.Errorf("an older full rendering: %v, want Stale", out)
	}
	diff, err := ParseUpdate(json.RawMessage(`{"rev":6,"base":5,"diff":[3,4,"2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, out, err := Apply(v, true, "ID", diff); err != nil || out != Applied || got.Body != "<b>2</b>" || got.Rev != 6 {
		t.Errorf("diff: %+v %v %v", got, out, err)
	}
	if _, out, _ := Apply(View{"k", 4, "x"}, true, "ID", diff); out != NeedsInit {
		t.Errorf("a diff on another base: %v, want NeedsInit", out)
	}
	if _, _, err := Apply(View{}, false, "OTHER", full("1")); err == nil {
		t.Error("a rendering of another component applied")
	}
	if _, err := ParseUpdate(json.RawMessage(`{"rev":6,"base":5,"diff":[3,"4"]}`)); err == nil {
		t.Error("a malformed diff parsed")
	}
}
