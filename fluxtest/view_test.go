package fluxtest_test

import (
	"testing"
)

func TestMountClickAssert(t *testing.T) {
	t.Parallel()
	v := serve(t).Client().Mount("counter", map[string]string{"start": "5"})
	v.AssertText(".count", "5")
	v.Click("button[data-flux-action=inc]")
	v.Click("button[data-flux-action=inc]")
	v.AssertText(".count", "7")
	out := v.Click("button[data-flux-action=dec]")
	if out.Transport != "websocket" || out.Sent[0].Name != "dec" {
		t.Errorf("outcome %+v", out)
	}
	v.AssertText(".count", "6")
}
