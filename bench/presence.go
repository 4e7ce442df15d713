package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-liveflux/liveflux/internal/wire"
)

// Phase 9: presence at size. A room of the chat example's own component,
// every member rendering who is online; then members of the presence topic
// joining and leaving in thousands while observers count them. Phase 10: a
// burst of topic messages published on one node for a subscriber on
// another.

// shows is what one client shows of one component: the updates it
// receives are applied as the JS client applies them (internal/wire), and
// pattern's first group, read from the rendering, is the number it shows.
type shows struct {
	id      string
	ref     []byte // the updates of id start with it
	pattern *regexp.Regexp
	c       *wsClient // to ask for a full rendering when a diff does not apply

	mu   sync.Mutex
	view wire.View
	held bool

	shown atomic.Int64 // -1 until a rendering shows a number
	conv  atomic.Pointer[converge]
}

func newShows(id string, pattern *regexp.Regexp, c *wsClient) *shows {
	s := &shows{id: id, ref: []byte(`{"type":"update","componentID":"` + id + `"`), pattern: pattern, c: c}
	s.shown.Store(-1)
	return s
}

// take applies msg when it is an update of s's component, and reports
// whether it was.
func (s *shows) take(msg []byte) bool {
	if !bytes.HasPrefix(msg, s.ref) {
		return false
	}
	f, err := wire.Parse(msg)
	if err != nil {
		return true
	}
	u, err := wire.ParseUpdate(f.Data)
	if err != nil {
		return true
	}
	s.mu.Lock()
	next, outcome, err := wire.Apply(s.view, s.held, s.id, u)
	if err == nil && outcome == wire.Applied {
		s.view, s.held = next, true
	}
	body := s.view.Body
	s.mu.Unlock()
	if outcome == wire.NeedsInit {
		s.c.WriteText(initMsg(s.id))
		return true
	}
	if m := s.pattern.FindStringSubmatch(body); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if old := s.shown.Swap(n); old != n {
			if c := s.conv.Load(); c != nil {
				c.moved(old, n)
			}
		}
	}
	return true
}

// converge waits until every one of a set of clients shows one number.
type converge struct {
	mu    sync.Mutex
	want  int64
	at    int // how many of them show it
	total int
	done  chan time.Time
}

// arm makes c wait until every one of members shows want.
func (c *converge) arm(want int64, members []*shows) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want, c.total, c.at = want, len(members), 0
	c.done = make(chan time.Time, 1)
	for _, s := range members {
		s.conv.Store(c)
		if s.shown.Load() == want {
			c.at++
		}
	}
	if c.at == c.total {
		c.done <- time.Now()
	}
}

// moved records that a member went from showing old to showing n.
func (c *converge) moved(old, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old == c.want {
		c.at--
	}
	if n == c.want {
		c.at++
		if c.at == c.total {
			select {
			case c.done <- time.Now():
			default:
			}
		}
	}
}

// showing returns how many members show the number waited for.
func (c *converge) showing() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

// sizeStep is one measured step: clients sent something at once, and the
// observers were waited for until every one showed the count it leads to.
type sizeStep struct {
	what      string
	n         int // the members that joined or left
	want      int64
	lat       time.Duration // from the first frame until the last observer shows want
	converged bool
	showing   int // observers showing want at the end (all, when converged)
	observers int
	cpu       time.Duration // server CPU meanwhile
	calls     int64         // HandleTopic calls of the observers meanwhile (phase 9b)
	runs      int64         // the main handler's topic deliveries meanwhile (HandleTopic runs)
	msgsOut   int64         // the main handler's WebSocket messages meanwhile
	bytesOut  int64         // and their bytes
	initsIn   time.Duration // from the first frame until the server handled the step's last init (0: none)
	fired     time.Duration // how long the load process took to send the step's frames
}

// measure fires, then waits (at most wait) until every member shows want.
func (l *load) measure(ctx context.Context, conv *converge, members []*shows, want int64, wait time.Duration, fire func() error) (sizeStep, error) {
	st := sizeStep{want: want, observers: len(members)}
	conv.arm(want, members)
	before, err := l.stats()
	if err != nil {
		return st, err
	}
	t0 := time.Now()
	if err := fire(); err != nil {
		return st, err
	}
	st.fired = time.Since(t0)
	select {
	case t := <-conv.done:
		st.lat, st.converged = t.Sub(t0), true
	case <-time.After(wait):
		st.lat = wait
	case <-ctx.Done():
		return st, ctx.Err()
	}
	after, err := l.stats()
	if err != nil {
		return st, err
	}
	st.cpu = time.Duration(after.CPUNs - before.CPUNs)
	st.runs = after.TopicRuns - before.TopicRuns
	if after.Inits > before.Inits {
		st.initsIn = time.Unix(0, after.LastInit).Sub(t0)
	}
	st.msgsOut, st.bytesOut = after.MsgsOut-before.MsgsOut, after.BytesOut-before.BytesOut
	st.showing = conv.showing()
	return st, nil
}

// observe dials a client of its own that watches id on path, and reports
// what it shows.
func (l *load) observe(ctx context.Context, path, id string, pattern *regexp.Regexp) (*shows, error) {
	c, err := dialWS(ctx, l.srv.addr, path, 0)
	if err != nil {
		return nil, err
	}
	l.others = append(l.others, c)
	s := newShows(id, pattern, c)
	go func() {
		for {
			msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			s.take(msg)
		}
	}()
	return s, c.WriteText(initMsg(id))
}

var (
	chatOnline   = regexp.MustCompile(`(\d+) online</h2>`)
	onlineCount  = regexp.MustCompile(`<p>(\d+) online</p>`)
	burstLast    = regexp.MustCompile(`last=(\d+)`)
	leavePrefix  = `{"type":"leave","componentID":"`
	messageClose = `"}`
)

func leaveMsg(id string) []byte { return []byte(leavePrefix + id + messageClose) }

// roomResult is phase 9a: a room of the chat example.
type roomResult struct {
	members     int
	join, leave sizeStep
}

// room mounts cfg.room + 1 chats (the example's component: each one
// subscribes to the room and renders who is online from Presence), has one
// watched by an observer, then has the first cfg.room sessions each start
// watching one at once (they join), and later stop at once (they leave).
func (l *load) room(ctx context.Context) (*roomResult, error) {
	r := l.cfg.room
	res := &roomResult{members: r}
	if err := l.addSessions(ctx, r, nil); err != nil {
		return nil, err
	}
	ids, err := l.mountForm(url.Values{"kind": {"chat"}, "n": {strconv.Itoa(r + 1)}, "name": {"m"}}, r+1)
	if err != nil {
		return nil, err
	}
	var conv converge
	obs, err := l.observe(ctx, "/liveflux", ids[r], chatOnline)
	if err != nil {
		return nil, err
	}
	if st, err := l.measure(ctx, &conv, []*shows{obs}, 1, 10*time.Second, func() error { return nil }); err != nil || !st.converged {
		return nil, fmt.Errorf("the observer of the room does not show itself online: %v", err)
	}
	members := []*shows{obs}
	for i, s := range l.sessions[:r] {
		sh := newShows(ids[i], chatOnline, s.c)
		s.shows.Store(sh)
		members = append(members, sh)
	}
	defer func() {
		for _, s := range l.sessions[:r] {
			s.shows.Store(nil)
		}
	}()
	l.profile("room-join")
	res.join, err = l.measure(ctx, &conv, members, int64(r+1), l.cfg.massWait, func() error {
		for i, s := range l.sessions[:r] {
			if err := s.c.WriteText(initMsg(ids[i])); err != nil {
				return err
			}
		}
		return nil
	})
	l.profile("")
	if err != nil {
		return nil, err
	}
	res.join.what, res.join.n = "join", r
	res.leave, err = l.measure(ctx, &conv, []*shows{obs}, 1, l.cfg.massWait, func() error {
		for i, s := range l.sessions[:r] {
			if err := s.c.WriteText(leaveMsg(ids[i])); err != nil {
				return err
			}
		}
		return nil
	})
	res.leave.what, res.leave.n = "leave", r
	return res, err
}

// mountForm mounts what form says and returns the n IDs.
func (l *load) mountForm(form url.Values, n int) ([]string, error) {
	body, err := l.post("/ctl/mount", form)
	if err != nil {
		return nil, err
	}
	ids := bytes.Fields([]byte(body))
	if len(ids) != n {
		return nil, fmt.Errorf("mount %s: got %d IDs, want %d", form.Get("kind"), len(ids), n)
	}
	out := make([]string, n)
	for i, id := range ids {
		out[i] = string(id)
	}
	return out, nil
}

// massResult is phase 9b: members of the presence topic joining and
// leaving by the thousand while observers count them.
type massResult struct {
	present   int
	observers int // of each kind
	steps     []sizeStep
}

// mass has the cfg.present members of phase 8, present and each watched
// by sessions[i], leave and join at once, in thousands and all together,
// while cfg.presenceSubs observers counting from the changes and as many
// counting with Presence are waited for; last, every member's connection
// closes at once.
func (l *load) mass(ctx context.Context, members []string) (*massResult, error) {
	p, k := len(members), l.cfg.presenceSubs
	res := &massResult{present: p, observers: k}
	var observers []*shows
	for _, mode := range []string{"inc", ""} {
		ids, err := l.mountIn("online", k, mode, "")
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			s, err := l.observe(ctx, "/liveflux", id, onlineCount)
			if err != nil {
				return nil, err
			}
			observers = append(observers, s)
		}
	}
	var conv converge
	if st, err := l.measure(ctx, &conv, observers, int64(p), 30*time.Second, func() error { return nil }); err != nil || !st.converged {
		return nil, fmt.Errorf("the observers do not show the %d present (%d do): %v", p, st.showing, err)
	}
	send := func(n int, msg func(string) []byte) func() error {
		return func() error {
			for i, s := range l.sessions[:n] {
				if err := s.c.WriteText(msg(members[i])); err != nil {
					return err
				}
			}
			return nil
		}
	}
	few := min(1000, p)
	steps := []struct {
		what string
		n    int
		want int
		fire func() error
	}{
		{"leave", p, 0, send(p, leaveMsg)},
		{"join", few, few, send(few, initMsg)},
		{"leave", few, 0, send(few, leaveMsg)},
		{"join", p, p, send(p, initMsg)},
		{"close", p, 0, func() error {
			for _, s := range l.sessions[:p] {
				s.c.Close()
			}
			return nil
		}},
	}
	for _, step := range steps {
		l.logf("phase 9: %d members %s at once", step.n, step.what)
		calls0, err := l.topicCalls(PresenceTopic)
		if err != nil {
			return nil, err
		}
		st, err := l.measure(ctx, &conv, observers, int64(step.want), l.cfg.massWait, step.fire)
		if err != nil {
			return nil, err
		}
		calls1, err := l.topicCalls(PresenceTopic)
		if err != nil {
			return nil, err
		}
		st.what, st.n, st.calls = step.what, step.n, calls1-calls0
		res.steps = append(res.steps, st)
		time.Sleep(200 * time.Millisecond)
	}
	return res, nil
}

// burstResult is phase 10: a burst published on node A for a subscriber
// on node B.
type burstResult struct {
	n                    int
	lat                  time.Duration // the first Publish → the client on B shows the last message
	publish              time.Duration // the n Publish calls
	converged            bool
	count, missed, order int
	cpu                  time.Duration
	shown                int64
}

// bursts runs phase 10 for each size.
func (l *load) bursts(ctx context.Context) ([]burstResult, error) {
	var out []burstResult
	for _, n := range l.cfg.bursts {
		l.logf("phase 10: a burst of %d topic messages from node A to a subscriber on node B", n)
		ids, err := l.mountForm(url.Values{"kind": {"bursttally"}, "n": {"1"}, "node": {"b"}}, 1)
		if err != nil {
			return nil, err
		}
		s, err := l.observe(ctx, "/liveflux-b", ids[0], burstLast)
		if err != nil {
			return nil, err
		}
		var conv converge
		if st, err := l.measure(ctx, &conv, []*shows{s}, 0, 10*time.Second, func() error { return nil }); err != nil || !st.converged {
			return nil, fmt.Errorf("the burst's subscriber is not shown: %v", err)
		}
		var took string
		st, err := l.measure(ctx, &conv, []*shows{s}, int64(n), time.Minute, func() error {
			var perr error
			took, perr = l.post("/ctl/burst", url.Values{"from": {"1"}, "n": {strconv.Itoa(n)}})
			return perr
		})
		if err != nil {
			return nil, err
		}
		r := burstResult{n: n, lat: st.lat, converged: st.converged, cpu: st.cpu, shown: s.shown.Load()}
		ns, _ := strconv.ParseInt(took, 10, 64)
		r.publish = time.Duration(ns)
		body, err := l.ctlGet("/ctl/burst?id=" + ids[0])
		if err != nil {
			return nil, err
		}
		var state struct{ Count, Last, Order, Missed int }
		if err := json.Unmarshal([]byte(body), &state); err != nil {
			return nil, fmt.Errorf("burst state %q: %w", body, err)
		}
		r.count, r.missed, r.order = state.Count, state.Missed, state.Order
		out = append(out, r)
	}
	return out, nil
}
