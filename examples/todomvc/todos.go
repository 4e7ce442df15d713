package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/go-liveflux/liveflux"
)

// Todo is one item of a list.
type Todo struct {
	ID        int    `json:"id"`
	Title     string `json:"title"`
	Completed bool   `json:"completed"`
}

// lists keeps every visitor's list on the server, by session: it outlives
// the pages that show it (a reload shows the same list), and every tab of
// the visitor shows the same one.
type lists struct {
	mu     sync.Mutex
	by     map[string][]Todo
	lastID int
}

func newLists() *lists { return &lists{by: map[string][]Todo{}} }

// load returns a copy of session's list.
func (l *lists) load(session string) []Todo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Todo(nil), l.by[session]...)
}

// change runs fn on session's list and keeps what it returns.
func (l *lists) change(session string, fn func([]Todo) []Todo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.by[session] = fn(l.by[session])
}

func (l *lists) add(session, title string) {
	l.change(session, func(ts []Todo) []Todo {
		l.lastID++
		return append(ts, Todo{ID: l.lastID, Title: title})
	})
}

// topic is where the components that show session's list hear of its
// changes.
func topic(session string) string { return "todos:" + session }

// Todos is the TodoMVC app: the visitor's list, filtered by the page's URL
// ("/", "/active", "/completed").
type Todos struct {
	liveflux.Base
	Session string // sealed: from the session cookie, never written into the page
	Filter  string // "", "active" or "completed"
	Editing int    // the ID of the todo being edited; 0: none
	Items   []Todo
	lists   *lists
}

// SealedParams keeps the session out of the page: Mount can trust it.
func (t *Todos) SealedParams() []string { return []string{"session"} }

func (t *Todos) Mount(ctx context.Context, params map[string]string) error {
	t.Session = params["session"]
	if t.Session == "" {
		return liveflux.NewError(http.StatusBadRequest, "no session")
	}
	t.Items = t.lists.load(t.Session)
	return liveflux.Subscribe(ctx, topic(t.Session))
}

// HandleURL is the routing: the path is the filter. It runs on first
// paint (a deep link to /active shows the active todos), on a click on a
// filter (data-flux-patch: no reload), and on Back and Forward.
func (t *Todos) HandleURL(ctx context.Context, u *url.URL) error {
	t.Filter = strings.Trim(u.Path, "/")
	if t.Filter != "active" && t.Filter != "completed" {
		t.Filter = ""
	}
	return nil
}

func (t *Todos) Handle(ctx context.Context, action string, data url.Values) error {
	id, _ := strconv.Atoi(data.Get("id"))
	title := strings.TrimSpace(data.Get("title"))
	switch action {
	case "add":
		if title == "" {
			return nil
		}
		t.lists.add(t.Session, title)
	case "clear-new":
		return nil // the rendering empties the field
	case "toggle":
		t.update(func(ts []Todo) []Todo {
			for i := range ts {
				if ts[i].ID == id {
					ts[i].Completed = !ts[i].Completed
				}
			}
			return ts
		})
	case "toggle-all":
		all := t.left() > 0
		t.update(func(ts []Todo) []Todo {
			for i := range ts {
				ts[i].Completed = all
			}
			return ts
		})
	case "destroy":
		t.update(func(ts []Todo) []Todo { return remove(ts, id) })
	case "edit":
		t.Editing = id
		return nil
	case "save":
		if t.Editing != id {
			return nil // saved already (Enter, then the field lost focus)
		}
		t.Editing = 0
		t.update(func(ts []Todo) []Todo {
			if title == "" {
				return remove(ts, id)
			}
			for i := range ts {
				if ts[i].ID == id {
					ts[i].Title = title
				}
			}
			return ts
		})
	case "cancel":
		t.Editing = 0
		return nil
	case "clear-completed":
		t.update(func(ts []Todo) []Todo {
			out := ts[:0]
			for _, x := range ts {
				if !x.Completed {
					out = append(out, x)
				}
			}
			return out
		})
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	t.Items = t.lists.load(t.Session)
	return liveflux.Publish(ctx, topic(t.Session), nil)
}

// HandleTopic loads the list again after another tab (or this one)
// changed it.
func (t *Todos) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	t.Items = t.lists.load(t.Session)
	return nil
}

func (t *Todos) update(fn func([]Todo) []Todo) { t.lists.change(t.Session, fn) }

func remove(ts []Todo, id int) []Todo {
	out := ts[:0]
	for _, x := range ts {
		if x.ID != id {
			out = append(out, x)
		}
	}
	return out
}

func (t *Todos) left() int {
	n := 0
	for _, x := range t.Items {
		if !x.Completed {
			n++
		}
	}
	return n
}

// The markup follows the TodoMVC template, with the style sheet's class
// names. Every interaction is markup: Enter in the new field adds (and
// Escape empties it), a double click on a title edits it (the edit field
// has autofocus: the client focuses it when the update inserts it), Enter
// or leaving the field saves, Escape cancels, the filters change the URL
// without a reload.
var todosView = template.Must(template.New("todos").Parse(`
<header class="header" data-flux-action="clear-new" data-flux-on="keydown.escape">
  <h1>todos</h1>
  <input class="new-todo" name="title" placeholder="What needs to be done?" autofocus autocomplete="off" data-flux-action="add" data-flux-on="keydown.enter">
</header>
{{if .Items}}
<section class="main">
  <input id="toggle-all" class="toggle-all" type="checkbox" data-flux-action="toggle-all"{{if eq .Left 0}} checked{{end}}>
  <label for="toggle-all">Mark all as complete</label>
  <ul class="todo-list">
  {{range .Visible}}
    <li class="{{if .Completed}}completed{{end}}{{if eq .ID $.Editing}} editing{{end}}" data-flux-action="cancel" data-flux-on="keydown.escape" data-flux-value-id="{{.ID}}">
      <div class="view">
        <input class="toggle" type="checkbox" data-flux-action="toggle" data-flux-value-id="{{.ID}}"{{if .Completed}} checked{{end}}>
        <label data-flux-action="edit" data-flux-on="dblclick" data-flux-value-id="{{.ID}}">{{.Title}}</label>
        <button class="destroy" data-flux-action="destroy" data-flux-value-id="{{.ID}}" aria-label="Delete"></button>
      </div>
      {{if eq .ID $.Editing}}<input class="edit" name="title" value="{{.Title}}" autofocus data-flux-action="save" data-flux-on="keydown.enter, blur" data-flux-value-id="{{.ID}}">{{end}}
    </li>
  {{end}}
  </ul>
</section>
<footer class="footer">
  <span class="todo-count"><strong>{{.Left}}</strong> {{if eq .Left 1}}item{{else}}items{{end}} left</span>
  <ul class="filters">
    <li><a href="/" data-flux-patch{{if eq .Filter ""}} class="selected"{{end}}>All</a></li>
    <li><a href="/active" data-flux-patch{{if eq .Filter "active"}} class="selected"{{end}}>Active</a></li>
    <li><a href="/completed" data-flux-patch{{if eq .Filter "completed"}} class="selected"{{end}}>Completed</a></li>
  </ul>
  {{if .Done}}<button class="clear-completed" data-flux-action="clear-completed">Clear completed</button>{{end}}
</footer>
{{end}}`))

func (t *Todos) Render(ctx context.Context, w io.Writer) error {
	var visible []Todo
	for _, x := range t.Items {
		if t.Filter == "" || (t.Filter == "completed") == x.Completed {
			visible = append(visible, x)
		}
	}
	left := t.left()
	return todosView.Execute(w, map[string]any{
		"Items": t.Items, "Visible": visible, "Editing": t.Editing, "Filter": t.Filter,
		"Left": left, "Done": len(t.Items) - left,
	})
}

// About is the about page's component: how many todos the visitor has,
// and a button that deletes them all, then goes back to the list with a
// flash message that says so.
type About struct {
	liveflux.Base
	Session string
	Count   int
	lists   *lists
}

func (a *About) SealedParams() []string { return []string{"session"} }

func (a *About) Mount(ctx context.Context, params map[string]string) error {
	a.Session = params["session"]
	a.Count = len(a.lists.load(a.Session))
	return nil
}

func (a *About) Handle(ctx context.Context, action string, data url.Values) error {
	if action != "delete-all" {
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	n := len(a.lists.load(a.Session))
	if n == 0 {
		a.Count = 0
		return liveflux.NewError(http.StatusConflict, "There is nothing to delete.")
	}
	a.lists.change(a.Session, func([]Todo) []Todo { return nil })
	a.Count = 0
	if err := liveflux.Publish(ctx, topic(a.Session), nil); err != nil {
		return err
	}
	if err := liveflux.Flash(ctx, "info", fmt.Sprintf("Deleted %d todos.", n)); err != nil {
		return err
	}
	return a.Redirect("/")
}

var aboutView = template.Must(template.New("about").Parse(`
<header class="header"><h1>todos</h1></header>
<div class="about">
  <h2>About</h2>
  <p>A <a href="https://todomvc.com">TodoMVC</a> app with Liveflux: the list lives on the server, every tab shows it, and the page has no JavaScript of its own.</p>
  <p>You have <strong class="count">{{.Count}}</strong> {{if eq .Count 1}}todo{{else}}todos{{end}}.</p>
  <button class="delete-all" data-flux-action="delete-all" data-flux-confirm="Delete every todo?">Delete all todos</button>
  <p class="error" role="alert" data-flux-error hidden></p>
</div>`))

func (a *About) Render(ctx context.Context, w io.Writer) error { return aboutView.Execute(w, a) }
