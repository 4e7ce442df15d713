package liveflux_test

import (
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
)

func TestTriggerAndTouched(t *testing.T) {
	data := url.Values{
		"email":               {"a@b"},
		liveflux.FieldTrigger: {"email"},
		liveflux.FieldTouched: {"name", "email"},
	}
	if got := liveflux.Trigger(data); got != "email" {
		t.Errorf("Trigger = %q, want email", got)
	}
	for name, want := range map[string]bool{"name": true, "email": true, "password": false} {
		if got := liveflux.Touched(data, name); got != want {
			t.Errorf("Touched(%q) = %v, want %v", name, got, want)
		}
	}
	if liveflux.Trigger(url.Values{}) != "" || liveflux.Touched(nil, "x") {
		t.Error("an action without the fields has no trigger and nothing touched")
	}
}
