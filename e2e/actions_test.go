package e2e

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-liveflux/liveflux"
)

// actionCase is one case of testdata/client/actions.json (its README.md
// gives the format).
type actionCase struct {
	Name   string            `json:"name"`
	HTML   string            `json:"html"`
	Event  json.RawMessage   `json:"event,omitempty"`
	Events []json.RawMessage `json:"events,omitempty"`
	Want   json.RawMessage   `json:"want"`
}

// sentAction is an action as a case's want gives it.
type sentAction struct {
	Component string              `json:"component"`
	Action    string              `json:"action"`
	Fields    map[string][]string `json:"fields"`
	Files     map[string][]string `json:"files,omitempty"`
}

// replayJS runs every case against the real client in the page: it puts
// the case's markup in the page, sets values, performs the events as the
// README says, and records each POST the client sends (the page has no
// socket) instead of sending it.
const replayJS = `(async (cases) => {
  const tick = () => new Promise((r) => setTimeout(r, 0));
  let sent = [];
  XMLHttpRequest.prototype.send = function (body) {
    const a = { component: "", action: "", fields: {}, files: {} };
    for (const [name, v] of body.entries()) {
      if (name === "liveflux_component_id") a.component = v;
      else if (name === "liveflux_action") a.action = v;
      else if (name === "liveflux_component_kind") continue;
      else if (typeof v === "string") (a.fields[name] ||= []).push(v);
      else (a.files[name] ||= []).push(v.name);
    }
    if (!Object.keys(a.files).length) delete a.files;
    if (a.component) sent.push(a); // else a mount, not an action
  };
  // What a page's own navigation would do is not part of a case.
  window.addEventListener("submit", (e) => e.preventDefault());
  window.addEventListener("click", (e) => e.target.closest?.("a[href]") && e.preventDefault());
  const box = document.getElementById("cases");
  const out = [];
  for (const c of cases) {
    box.innerHTML = "";
    await tick(); // the client forgets the last case's components
    sent = [];
    box.innerHTML = c.html;
    await tick(); // the client sees the new markup (load triggers fire)
    let err = "";
    try {
      for (const ev of c.events || [c.event]) {
        const one = (sel) => { const m = box.querySelectorAll(sel); if (m.length !== 1) throw new Error(sel + " matches " + m.length); return m[0]; };
        for (const [sel, v] of Object.entries(ev.values || {})) {
          const el = one(sel);
          if (typeof v === "boolean") el.checked = v;
          else if (Array.isArray(v) && el.type === "file") {
            const dt = new DataTransfer();
            for (const n of v) dt.items.add(new File(["x"], n));
            el.files = dt.files;
          } else if (Array.isArray(v)) for (const o of el.options) o.selected = v.includes(o.value);
          else el.value = v;
        }
        window.confirm = () => ev.confirm !== false;
        if (ev.type === "load") continue;
        const t = one(ev.target);
        let undo = null;
        if (ev.defaultPrevented) {
          const f = (e) => e.target === t && e.preventDefault();
          window.addEventListener(ev.type, f, true);
          undo = () => window.removeEventListener(ev.type, f, true);
        }
        if (ev.type === "click") t.click();
        else if (ev.type === "submit") t.requestSubmit(ev.submitter ? one(ev.submitter) : undefined);
        else if (ev.type === "keydown" || ev.type === "keyup")
          t.dispatchEvent(new KeyboardEvent(ev.type, { bubbles: true, cancelable: true, key: ev.key, ctrlKey: !!ev.ctrlKey, shiftKey: !!ev.shiftKey, altKey: !!ev.altKey, metaKey: !!ev.metaKey }));
        else if (ev.type === "focus" || ev.type === "blur") t.dispatchEvent(new FocusEvent(ev.type));
        else t.dispatchEvent(new Event(ev.type, { bubbles: true, cancelable: true }));
        undo?.();
        await tick();
      }
    } catch (e) {
      err = String(e);
    }
    out.push({ name: c.name, sent, err });
  }
  box.innerHTML = "";
  return out;
})`

// The shared cases of testdata/client/actions.json: for each piece of
// markup and gesture, the real client in Chromium sends exactly the
// actions, fields and files the case wants. fluxtest replays the same
// file against its Go rule engine.
func TestActionCases(t *testing.T) {
	needBrowser(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "client", "actions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []actionCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	s := newServer(t)
	s.page("/{$}", liveflux.ClientOptions{}, func(r *http.Request) template.HTML { return `<div id="cases"></div>` })
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitFor("the client", `window.Liveflux`, "")
	type result struct {
		Name string       `json:"name"`
		Sent []sentAction `json:"sent"`
		Err  string       `json:"err"`
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Minute)
	defer cancel()
	results, err := chromedp.Run(ctx, chromedp.Evaluate[[]result](replayJS+`(`+string(raw)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("replaying the cases: %v", err)
	}
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := results[i]
			if r.Err != "" {
				t.Fatalf("replaying: %s", r.Err)
			}
			var want []sentAction
			switch w := string(c.Want); {
			case w == "null":
			case len(w) > 0 && w[0] == '[':
				if err := json.Unmarshal(c.Want, &want); err != nil {
					t.Fatal(err)
				}
			default:
				var one sentAction
				if err := json.Unmarshal(c.Want, &one); err != nil {
					t.Fatal(err)
				}
				want = []sentAction{one}
			}
			for i := range want {
				if want[i].Fields == nil {
					want[i].Fields = map[string][]string{}
				}
			}
			got := r.Sent
			for i := range got {
				if got[i].Fields == nil {
					got[i].Fields = map[string][]string{}
				}
			}
			if len(got) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("%s\nsent %s\nwant %s", c.HTML, g, w)
			}
		})
	}
}
