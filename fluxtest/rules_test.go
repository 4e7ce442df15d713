package fluxtest

import (
	"encoding/json"
	"fmt"
	"golang.org/x/net/html"
	"os"
	"reflect"
	"testing"
)

// actionCase is one case of testdata/client/actions.json (its README
// describes the format).
type actionCase struct {
	Name   string          `json:"name"`
	HTML   string          `json:"html"`
	Event  *caseEvent      `json:"event"`
	Events []*caseEvent    `json:"events"`
	Want   json.RawMessage `json:"want"`
}

type caseEvent struct {
	Type             string                     `json:"type"`
	Target           string                     `json:"target"`
	Submitter        string                     `json:"submitter"`
	Key              string                     `json:"key"`
	CtrlKey          bool                       `json:"ctrlKey"`
	ShiftKey         bool                       `json:"shiftKey"`
	AltKey           bool                       `json:"altKey"`
	MetaKey          bool                       `json:"metaKey"`
	Values           map[string]json.RawMessage `json:"values"`
	DefaultPrevented bool                       `json:"defaultPrevented"`
	Confirm          *bool                      `json:"confirm"`
}

type wantAction struct {
	Component string              `json:"component"`
	Action    string              `json:"action"`
	Fields    map[string][]string `json:"fields"`
	Files     map[string][]string `json:"files,omitempty"`
}

// The rule engine derives, for every case the client's own tests replay,
// the action the client sends (or that it sends none).
func TestClientRules(t *testing.T) {
	data, err := os.ReadFile("../testdata/client/actions.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []actionCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("actions.json: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("actions.json has no case")
	}
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.Name] {
			t.Errorf("two cases named %q", tc.Name)
		}
		names[tc.Name] = true
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			want, err := decodeWant(tc.Want)
			if err != nil {
				t.Fatal(err)
			}
			got, d, err := replay(tc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("html: %s\nevent: %+v\ngot  %+v\nwant %+v\nnotes: %q", tc.HTML, tc.Event, got, want, d.notes)
			}
		})
	}
}

func decodeWant(raw json.RawMessage) ([]wantAction, error) {
	var one *wantAction
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == nil {
			return []wantAction{}, nil
		}
		return []wantAction{normalize(*one)}, nil
	}
	var many []wantAction
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want: neither null, an action nor a list of actions: %s", raw)
	}
	for i := range many {
		many[i] = normalize(many[i])
	}
	return many, nil
}

func normalize(w wantAction) wantAction {
	if w.Fields == nil {
		w.Fields = map[string][]string{}
	}
	return w
}

// replay runs one case through the rule engine.
func replay(tc actionCase) ([]wantAction, *dispatch, error) {
	doc, err := newDocument(tc.HTML)
	if err != nil {
		return nil, nil, err
	}
	p := &page{doc: doc}
	d := &dispatch{}
	p.bind(d) // the markup is in the page: load triggers send
	find := func(sel string) (*html.Node, error) {
		m, err := compile(sel)
		if err != nil {
			return nil, err
		}
		found := queryAll(doc, m)
		if len(found) != 1 {
			return nil, fmt.Errorf("selector %q matches %d elements, want 1", sel, len(found))
		}
		return found[0], nil
	}
	events := tc.Events
	if tc.Event != nil {
		events = append(events, tc.Event)
	}
	for _, e := range events {
		for sel, raw := range e.Values {
			n, err := find(sel)
			if err != nil {
				return nil, nil, err
			}
			var v any
			var s string
			var b bool
			var list []string
			switch {
			case json.Unmarshal(raw, &s) == nil:
				v = s
			case json.Unmarshal(raw, &b) == nil:
				v = b
			case json.Unmarshal(raw, &list) == nil:
				v = list
			default:
				return nil, nil, fmt.Errorf("values[%q]: %s is not a string, a bool or strings", sel, raw)
			}
			if err := p.fill(n, v); err != nil {
				return nil, nil, err
			}
		}
		accept := e.Confirm == nil || *e.Confirm
		p.confirm = func(string) bool { return accept }
		if e.Type == "load" {
			continue
		}
		target, err := find(e.Target)
		if err != nil {
			return nil, nil, err
		}
		switch e.Type {
		case "click":
			p.click(target, e.DefaultPrevented, d)
		case "submit":
			var submitter *html.Node
			if e.Submitter != "" {
				if submitter, err = find(e.Submitter); err != nil {
					return nil, nil, err
				}
			}
			if err := p.requestSubmit(target, submitter, e.DefaultPrevented, d); err != nil {
				return nil, nil, err
			}
		default:
			mods := map[string]bool{"ctrl": e.CtrlKey, "shift": e.ShiftKey, "alt": e.AltKey, "meta": e.MetaKey}
			p.fire(&event{typ: e.Type, target: target, key: e.Key, mods: mods, defaultPrevented: e.DefaultPrevented}, d)
		}
	}
	got := []wantAction{}
	for _, s := range d.sent {
		id, _ := getAttr(s.root, attrID)
		w := wantAction{Component: id, Action: s.action, Fields: map[string][]string(s.fields.values())}
		for _, f := range s.files {
			if w.Files == nil {
				w.Files = map[string][]string{}
			}
			w.Files[f.name] = append(w.Files[f.name], f.file.Name)
		}
		got = append(got, w)
	}
	return got, d, nil
}
