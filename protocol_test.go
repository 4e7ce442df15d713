package liveflux_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// protocolCase is one case of testdata/protocol (see its README.md).
type protocolCase struct {
	Description string `json:"description"`
	Server      struct {
		MaxBodyBytes int64 `json:"maxBodyBytes"`
	} `json:"server"`
	Components map[string]struct {
		Kind   string            `json:"kind"`
		Params map[string]string `json:"params"`
	} `json:"components"`
	Steps []protocolStep `json:"steps"`
}

type protocolStep struct {
	HTTP *struct {
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
		Form    map[string]any    `json:"form"` // a string or a list of strings
		Body    *string           `json:"body"`
	} `json:"http"`
	Capture string `json:"capture"`

	WS      string `json:"ws"`
	Connect *struct {
		Subprotocols []string `json:"subprotocols"`
	} `json:"connect"`
	Send    json.RawMessage `json:"send"`
	SendRaw *string         `json:"sendRaw"`

	Expect json.RawMessage `json:"expect"`
}

// TestProtocolFixtures replays every case of testdata/protocol against a
// real handler: the wire protocol as a client in any language sees it.
func TestProtocolFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/protocol/*.json")
	assertNoError(t, err)
	if len(files) == 0 {
		t.Fatal("no cases in testdata/protocol")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			assertNoError(t, err)
			var pc protocolCase
			assertNoError(t, jsonUnmarshalStrict(data, &pc))
			replay(t, pc)
		})
	}
}

var repeatPlaceholder = regexp.MustCompile(`\{\{repeat (\S) (\d+)\}\}`)

// replay runs the steps of pc in order.
func replay(t *testing.T, pc protocolCase) {
	var opts []liveflux.WebSocketOption
	if pc.Server.MaxBodyBytes > 0 {
		opts = append(opts, liveflux.WithMaxBodyBytes(pc.Server.MaxBodyBytes))
	}
	f := newFixture(t, opts...)
	ids := map[string]string{}
	for name, c := range pc.Components {
		ids[name] = f.mount(t, c.Kind, c.Params)
	}
	fill := func(s string) string {
		s = repeatPlaceholder.ReplaceAllStringFunc(s, func(p string) string {
			m := repeatPlaceholder.FindStringSubmatch(p)
			n, _ := strconv.Atoi(m[2])
			return strings.Repeat(m[1], n)
		})
		for name, id := range ids {
			s = strings.ReplaceAll(s, "{{"+name+"}}", id)
		}
		return s
	}
	clients := map[string]*wsClient{}
	for i, step := range pc.Steps {
		what := fmt.Sprintf("step %d", i+1)
		switch {
		case step.HTTP != nil:
			got := replayHTTP(t, f, step, fill)
			var want struct {
				Status  int               `json:"status"`
				Headers map[string]string `json:"headers"`
				Body    json.RawMessage   `json:"body"`
			}
			assertNoError(t, jsonUnmarshalStrict([]byte(fill(string(step.Expect))), &want))
			assertEqual(t, got.status, want.Status, what+": status")
			for k, v := range want.Headers {
				assertEqual(t, got.header.Get(k), v, what+": header "+k)
			}
			if want.Body != nil {
				matchValue(t, what+": body", strings.TrimSpace(got.body), want.Body)
			}
			if step.Capture != "" {
				ids[step.Capture] = idOf(t, got.body)
			}
		case step.Connect != nil:
			d := f.dialer
			d.Subprotocols = step.Connect.Subprotocols
			c := f.dialIdleWith(t, d, nil)
			c.startReading()
			clients[step.WS] = c
			if step.Expect != nil {
				var want struct {
					Subprotocol string `json:"subprotocol"`
				}
				assertNoError(t, jsonUnmarshalStrict(step.Expect, &want))
				assertEqual(t, c.ws.Subprotocol(), want.Subprotocol, what+": subprotocol")
			}
		default:
			c := clients[step.WS]
			if c == nil {
				t.Fatalf("%s: client %q not connected", what, step.WS)
			}
			switch {
			case step.SendRaw != nil:
				c.send(fill(*step.SendRaw))
			case step.Send != nil:
				c.send(fill(string(step.Send)))
			}
			var frames []json.RawMessage
			if step.Expect != nil {
				assertNoError(t, json.Unmarshal([]byte(fill(string(step.Expect))), &frames))
			}
			for j, want := range frames {
				var got map[string]any
				b := c.next()
				assertNoError(t, json.Unmarshal(b, &got))
				var fields map[string]json.RawMessage
				assertNoError(t, json.Unmarshal(want, &fields))
				for path, w := range fields {
					v, ok := lookup(got, path)
					at := fmt.Sprintf("%s, frame %d (%s): %s", what, j+1, b, path)
					var rule map[string]json.RawMessage
					if json.Unmarshal(w, &rule) == nil && rule != nil {
						if present, has := rule["present"]; has {
							assertEqual(t, ok, string(present) == "true", at+" present")
							continue
						}
					}
					if !ok {
						t.Fatalf("%s: missing", at)
					}
					matchValue(t, at, v, w)
				}
			}
		}
	}
}

// replayHTTP sends the request of step.
func replayHTTP(t *testing.T, f *fixture, step protocolStep, fill func(string) string) response {
	t.Helper()
	body := ""
	if step.HTTP.Body != nil {
		body = fill(*step.HTTP.Body)
	} else {
		form := url.Values{}
		for k, v := range step.HTTP.Form {
			switch v := v.(type) {
			case string:
				form.Add(k, fill(v))
			case []any:
				for _, s := range v {
					form.Add(k, fill(s.(string)))
				}
			}
		}
		body = form.Encode()
	}
	req, err := http.NewRequest(step.HTTP.Method, f.srv.URL, strings.NewReader(body))
	assertNoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range step.HTTP.Headers {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	assertNoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	assertNoError(t, err)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// lookup returns the value at a dotted path ("data.html") of a frame.
func lookup(v any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// matchValue checks got against want: a JSON value it must equal, or a
// rule on a string (equals, contains, notContains, startsWith, endsWith).
func matchValue(t *testing.T, at string, got any, want json.RawMessage) {
	t.Helper()
	var rule struct {
		Equals      *string  `json:"equals"`
		Contains    []string `json:"contains"`
		NotContains []string `json:"notContains"`
		StartsWith  string   `json:"startsWith"`
		EndsWith    string   `json:"endsWith"`
	}
	if len(want) > 0 && want[0] != '{' {
		var w any
		assertNoError(t, json.Unmarshal(want, &w))
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s = %v, want %v", at, got, w)
		}
		return
	}
	assertNoError(t, jsonUnmarshalStrict(want, &rule))
	s, ok := got.(string)
	if !ok {
		t.Fatalf("%s = %v, want a string", at, got)
	}
	if rule.Equals != nil && s != *rule.Equals {
		t.Fatalf("%s = %q, want %q", at, s, *rule.Equals)
	}
	for _, part := range rule.Contains {
		if !strings.Contains(s, part) {
			t.Fatalf("%s = %q, want it to contain %q", at, s, part)
		}
	}
	for _, part := range rule.NotContains {
		if strings.Contains(s, part) {
			t.Fatalf("%s = %q, want it not to contain %q", at, s, part)
		}
	}
	if !strings.HasPrefix(s, rule.StartsWith) || !strings.HasSuffix(s, rule.EndsWith) {
		t.Fatalf("%s = %q, want it to start with %q and end with %q", at, s, rule.StartsWith, rule.EndsWith)
	}
}
