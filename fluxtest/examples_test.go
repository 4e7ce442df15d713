package fluxtest_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// The examples are commands (package main): they cannot be imported, so
// these tests build each one, run it on a free port and drive it through
// its pages, as a browser would, with nothing copied.

var (
	builtMu  sync.Mutex
	built    = map[string]string{} // example → binary
	builtDir string
)

// startExample builds examples/name once per test binary, runs it on a
// free port until the test ends, and returns its base URL.
func startExample(t *testing.T, name string) *fluxtest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs examples/" + name)
	}
	builtMu.Lock()
	bin, ok := built[name]
	if !ok {
		if builtDir == "" {
			dir, err := os.MkdirTemp("", "fluxtest-examples-")
			if err != nil {
				builtMu.Unlock()
				t.Fatal(err)
			}
			builtDir = dir
		}
		bin = filepath.Join(builtDir, name)
		cmd := exec.Command(goTool(), "build", "-o", bin, "./examples/"+name)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			builtMu.Unlock()
			t.Fatalf("building examples/%s: %v\n%s", name, err, out)
		}
		built[name] = bin
	}
	builtMu.Unlock()

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(sc.Text()); u != "" {
				found <- u
			}
		}
	}()
	select {
	case u := <-found:
		return fluxtest.Remote(t, u)
	case <-time.After(30 * time.Second):
		t.Fatalf("examples/%s printed no URL within 30 s", name)
		return nil
	}
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" && fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// examples/counter: two independent counters over HTTP, the first
// rendered with the page (start 0), the second mounted after load (start
// 10), both bound to the visitor's session cookie.
func TestExampleCounter(t *testing.T) {
	t.Parallel()
	srv := startExample(t, "counter")
	c := srv.Client(t)
	views := c.Open("/")
	if len(views) != 2 || c.Connected() {
		t.Fatalf("%d components, socket open: %v; page:\n%s", len(views), c.Connected(), c.HTML())
	}
	first, second := c.View("#first .counter"), c.View("#second .counter")
	first.AssertText(".count", "0")
	second.AssertText(".count", "10")
	second.Click("button[aria-label=increment]")
	first.Click("button[aria-label=decrement]")
	first.Click("button[aria-label=decrement]")
	first.AssertText(".count", "-2")
	second.AssertText(".count", "11")

	// Another visitor cannot drive the first visitor's counter: the
	// server answers 404 as for an unknown ID, and that page mounts its
	// own from the same parameters.
	other := srv.Client(t, fluxtest.HTTPOnly()).Watch(second)
	if out := other.ExpectError(404).Click("button[aria-label=increment]"); !out.Remounted || other.ID() == second.ID() {
		t.Fatalf("another session drove the visitor's instance: %+v", out)
	}
	other.AssertText(".count", "10")
	second.AssertText(".count", "11")
}

// examples/websocket: two counters showing one shared count over
// WebSocket; a click on either updates both, in every tab.
func TestExampleWebSocket(t *testing.T) {
	t.Parallel()
	srv := startExample(t, "websocket")
	tab1 := srv.Client(t)
	views := tab1.Open("/")
	if len(views) != 2 || !tab1.Connected() {
		t.Fatalf("%d components, socket open: %v", len(views), tab1.Connected())
	}
	tab2 := tab1.NewTab()
	tab2.Open("/")
	a1, b1 := views[0], views[1]
	a1.AssertText(".label", "Counter A")
	start := a1.Text(".count")
	a1.Click("button[aria-label=increment]")
	want := next(t, start, 1)
	a1.AssertText(".count", want)
	// The other counter, and both of the other tab, are refreshed from a
	// goroutine: pushed, not answered.
	b1.WaitText(".count", want)
	for _, v := range tab2.Views() {
		v.WaitText(".count", want)
	}
	tab2.Views()[1].Click("button[aria-label=decrement]")
	a1.WaitText(".count", start)
}

func next(t *testing.T, s string, d int) string {
	t.Helper()
	var n int
	if _, err := fmtSscan(s, &n); err != nil {
		t.Fatalf("count %q: %v", s, err)
	}
	return itoa(n + d)
}

// The TodoMVC example, driven through the markup: Enter adds, the filters
// patch the URL, Back restores it, an edit saves on Enter, Escape
// empties the new todo field, another tab shows the same list, the about
// page's "Delete all" flashes and redirects.
func TestExampleTodoMVC(t *testing.T) {
	t.Parallel()
	srv := startExample(t, "todomvc")
	tab := srv.Client(t)
	v := tab.Open("/")[0]
	add := func(title string) {
		t.Helper()
		v.Fill(".new-todo", title)
		v.KeyDown(".new-todo", "Enter")
		if got := v.Value(".new-todo"); got != "" {
			t.Errorf("the new todo field holds %q after Enter", got)
		}
	}
	add("milk")
	add(" bread ")
	v.AssertCount(".todo-list li", 2)
	v.AssertText(".todo-list li:nth-child(2) label", "bread")
	v.Click(".todo-list li:nth-child(1) .toggle")
	v.AssertText(".todo-count", "1 item left")
	v.Click(`.filters a[href="/active"]`)
	if tab.URL() != "/active" {
		t.Errorf("URL %q after Active", tab.URL())
	}
	v.AssertCount(".todo-list li", 1)
	v.AssertText(".filters a.selected", "Active")
	tab.Back()
	v.AssertCount(".todo-list li", 2)
	v.AssertText(".filters a.selected", "All")

	v.Trigger(".todo-list li:nth-child(2) label", "dblclick")
	v.Fill(".todo-list li.editing .edit", "butter")
	v.KeyDown(".todo-list li.editing .edit", "Enter")
	v.AssertText(".todo-list li:nth-child(2) label", "butter")
	v.Fill(".new-todo", "half")
	v.KeyDown(".new-todo", "Escape")
	if got := v.Value(".new-todo"); got != "" {
		t.Errorf("Escape left %q in the new todo field", got)
	}

	other := tab.NewTab()
	ov := other.Open("/completed")[0]
	ov.AssertCount(".todo-list li", 1)
	ov.AssertText(".todo-list li label", "milk")
	add("eggs")
	ov.WaitText(".todo-count", "2 items left")

	about := tab.Open("/about")[0]
	about.AssertText(".count", "3")
	out := about.Click(".delete-all")
	if len(out.Events) != 1 || out.Events[0].Name != liveflux.EventFlash || !strings.Contains(string(out.Events[0].Detail), "Deleted 3 todos.") || out.Redirect != "/" {
		t.Errorf("delete all: events %v, redirect %q", out.Events, out.Redirect)
	}
	ov.WaitFor("the other tab to show no todo", func(v *fluxtest.View) bool { return v.Count(".todo-list li") == 0 })
}
