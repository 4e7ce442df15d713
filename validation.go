package liveflux

import (
	"net/url"
	"slices"
)

// Validation on blur, without bookkeeping: an action sent by a form, or by
// one of its controls (data-flux-on), carries the name of the control whose
// event sent it (FieldTrigger) and the names of the form's fields the user
// has touched: typed in, changed or left (FieldTouched; every field on
// submit). A component validates the whole form and shows the errors of
// touched fields only, so a field the user has not reached yet shows none:
//
//	func (f *Signup) Handle(ctx context.Context, action string, data url.Values) error {
//		f.Email = data.Get("email")
//		f.Errors = map[string]string{}
//		if liveflux.Touched(data, "email") && !strings.Contains(f.Email, "@") {
//			f.Errors["email"] = "not an email address"
//		}
//		…
//	}

// Trigger returns the name of the control whose event sent the action, or
// "" when it was a submit, a click or a call from JavaScript.
func Trigger(data url.Values) string { return data.Get(FieldTrigger) }

// Touched reports whether the user has touched the form field name before
// the action was sent (every field has been, once the form is submitted).
func Touched(data url.Values, name string) bool { return slices.Contains(data[FieldTouched], name) }
