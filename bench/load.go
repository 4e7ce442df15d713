package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-liveflux/liveflux"
)

// session is one idle WebSocket client of the load process; a goroutine
// reads everything the server sends it.
type session struct {
	c       *wsClient
	counter string // its own counter component
	// topicRef, when set, starts the update messages of the topic
	// subscriber this session watches: they count for l.topic.
	topicRef atomic.Pointer[[]byte]
	// shows, when set, applies the updates of one component it watches
	// (phase 9).
	shows atomic.Pointer[shows]
}

// fanState tracks one Broadcast round: how many watchers still miss it.
type fanState struct {
	seq       atomic.Int64
	remaining atomic.Int64
	done      chan time.Time
	stray     atomic.Int64 // bench messages of another round
	bytes     atomic.Int64 // payload bytes of this round's messages
}

func (f *fanState) arm(seq int64, watchers int) {
	f.remaining.Store(int64(watchers))
	f.bytes.Store(0)
	f.seq.Store(seq)
	select {
	case <-f.done:
	default:
	}
}

// hitBytes counts one message of size bytes for round seq.
func (f *fanState) hitBytes(seq int64, size int) {
	if seq != f.seq.Load() {
		f.stray.Add(1)
		return
	}
	f.bytes.Add(int64(size))
	if f.remaining.Add(-1) == 0 {
		select {
		case f.done <- time.Now():
		default:
		}
	}
}

type load struct {
	cfg  config
	srv  *serverProc
	base string
	ctl  *http.Client

	sessions []*session
	others   []*wsClient
	updates  atomic.Int64 // update messages the sessions received
	errs     atomic.Int64 // error messages the sessions received
	firstErr atomic.Value
	fan      fanState
	topic    fanState // topic rounds: updates of the sessions' subscribers
	pres     fanState // presence rounds: updates of the Online instances
	seq      int64
	log      io.Writer
}

func newLoad(cfg config, srv *serverProc) *load {
	return &load{
		cfg: cfg, srv: srv, base: "http://" + srv.addr,
		ctl:   &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		fan:   fanState{done: make(chan time.Time, 1)},
		topic: fanState{done: make(chan time.Time, 1)},
		pres:  fanState{done: make(chan time.Time, 1)},
		log:   os.Stderr,
	}
}

func (l *load) logf(format string, args ...any) {
	fmt.Fprintf(l.log, "bench: "+format+"\n", args...)
}

func (l *load) closeAll() {
	for _, s := range l.sessions {
		s.c.Close()
	}
	for _, c := range l.others {
		c.Close()
	}
}

// --- control API ---

func (l *load) getJSON(path string, v any) error {
	resp, err := l.ctl.Get(l.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (l *load) ctlGet(path string) (string, error) {
	resp, err := l.ctl.Get(l.base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func (l *load) post(path string, form url.Values) (string, error) {
	resp, err := l.ctl.PostForm(l.base+path, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	return string(b), nil
}

func (l *load) stats() (memReport, error) {
	var r memReport
	return r, l.getJSON("/ctl/stats", &r)
}

// memGC is the server's memory after a full collection, and its RSS then.
func (l *load) memGC() (memReport, int64, error) {
	var r memReport
	if err := l.getJSON("/ctl/mem", &r); err != nil {
		return r, 0, err
	}
	return r, rssOf(l.srv.pid), nil
}

func (l *load) mount(kind string, n int) ([]string, error) { return l.mountIn(kind, n, "", "") }

// mountIn mounts n instances of kind with the parameter topic (unless
// empty), kept under group on the server (unless empty).
func (l *load) mountIn(kind string, n int, topic, group string) ([]string, error) {
	form := url.Values{"kind": {kind}, "n": {strconv.Itoa(n)}}
	if topic != "" {
		form.Set("topic", topic)
	}
	if group != "" {
		form.Set("group", group)
	}
	body, err := l.post("/ctl/mount", form)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(body)
	if len(ids) != n {
		return nil, fmt.Errorf("mount %s: got %d IDs, want %d", kind, len(ids), n)
	}
	return ids, nil
}

func (l *load) profile(phase string) {
	if l.cfg.cpuprofile == "" {
		return
	}
	form := url.Values{"stop": {"1"}}
	if phase != "" {
		form = url.Values{"start": {phase}}
	}
	if _, err := l.post("/ctl/prof", form); err != nil {
		l.logf("profile %q: %v", phase, err)
	}
}

// broadcast makes the server Broadcast count payloads of size bytes to id,
// with sequence numbers from seq on.
func (l *load) broadcast(id string, seq int64, size, count int) (time.Duration, error) {
	body, err := l.post("/ctl/broadcast", url.Values{
		"id": {id}, "seq": {strconv.FormatInt(seq, 10)},
		"size": {strconv.Itoa(size)}, "count": {strconv.Itoa(count)},
	})
	if err != nil {
		return 0, err
	}
	ns, _ := strconv.ParseInt(strings.TrimSpace(body), 10, 64)
	return time.Duration(ns), nil
}

// --- messages ---

func initMsg(id string) []byte {
	return []byte(`{"type":"init","componentID":"` + id + `"}`)
}

var (
	benchPrefix  = []byte(`{"type":"bench","seq":`)
	updatePrefix = []byte(`{"type":"update",`)
	errorPrefix  = []byte(`{"type":"error",`)
)

// readLoop consumes what the server sends one session.
func (l *load) readLoop(s *session) {
	for {
		msg, err := s.c.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(msg, benchPrefix):
			l.fan.hitBytes(parseSeq(msg[len(benchPrefix):]), len(msg))
		case bytes.HasPrefix(msg, updatePrefix):
			if sh := s.shows.Load(); sh != nil && sh.take(msg) {
				continue
			}
			if ref := s.topicRef.Load(); ref != nil && bytes.HasPrefix(msg, *ref) {
				l.topic.hitBytes(l.topic.seq.Load(), len(msg))
				continue
			}
			l.updates.Add(1)
		case bytes.HasPrefix(msg, errorPrefix):
			if l.errs.Add(1) == 1 {
				l.firstErr.Store(string(msg))
			}
		}
	}
}

func parseSeq(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// waitUpdates waits until the sessions have received want updates.
func (l *load) waitUpdates(ctx context.Context, want int64, what string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for l.updates.Load() < want {
		if l.errs.Load() > 0 {
			return fmt.Errorf("%s: server answered an error: %v", what, l.firstErr.Load())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %d of %d updates after 2 minutes", what, l.updates.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// addSessions dials sessions until there are n; ids, when given, are
// the components the new sessions init (one each).
func (l *load) addSessions(ctx context.Context, n int, ids []string) error {
	start := len(l.sessions)
	if n <= start {
		return nil
	}
	news := make([]*session, n-start)
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(news) || ctx.Err() != nil {
					return
				}
				c, err := dialRetry(ctx, l.srv.addr, 0)
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
				s := &session{c: c}
				if ids != nil {
					s.counter = ids[i]
					if err := c.WriteText(initMsg(s.counter)); err != nil {
						errMu.Lock()
						first = err
						errMu.Unlock()
						return
					}
				}
				news[i] = s
				go l.readLoop(s)
			}
		}()
	}
	wg.Wait()
	for _, s := range news {
		if s != nil {
			l.sessions = append(l.sessions, s)
		}
	}
	if first != nil {
		return fmt.Errorf("dialing session %d of %d: %w", len(l.sessions)+1, n, first)
	}
	return nil
}

// dialRetry dials, retrying briefly when the listen queue overflows.
func dialRetry(ctx context.Context, addr string, rcvbuf int) (*wsClient, error) {
	var err error
	for attempt := range 5 {
		var c *wsClient
		if c, err = dialWS(ctx, addr, "/liveflux", rcvbuf); err == nil {
			return c, nil
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	return nil, err
}

// --- the run ---

func (l *load) run(ctx context.Context) (*results, error) {
	res := &results{machine: machine(), sessions: l.cfg.sessions, loadStart: loadavg()}
	res.runtimeRaw, res.runtimeGz = runtimeSize(liveflux.ClientRuntime())
	if l.cfg.only == "topics" {
		l.logf("server pid %d on %s; topics and presence only", l.srv.pid, l.srv.addr)
		tr, err := l.topics(ctx)
		if err != nil {
			return nil, err
		}
		res.topics = tr
		res.loadEnd = loadavg()
		return res, nil
	}

	l.logf("server pid %d on %s; phase 1: %d idle sessions", l.srv.pid, l.srv.addr, l.cfg.sessions)
	if err := l.idle(ctx, res); err != nil {
		return nil, fmt.Errorf("idle sessions: %w", err)
	}
	l.logf("phase 3: action round trips (%d each)", l.cfg.rtt)
	if err := l.roundTrips(ctx, res); err != nil {
		return nil, fmt.Errorf("round trips: %w", err)
	}
	l.logf("phase 5: bytes per update")
	if err := l.wireBytes(ctx, res); err != nil {
		return nil, fmt.Errorf("bytes per update: %w", err)
	}
	var feeds []string
	for _, w := range l.cfg.watchers {
		l.logf("phase 2: fan-out to %d watchers, %d rounds", w, l.cfg.rounds)
		fr, feed, err := l.fanout(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("fan-out to %d: %w", w, err)
		}
		res.fan = append(res.fan, fr)
		feeds = append(feeds, feed)
	}
	// The slow consumer joins the largest fan-out.
	big := 0
	for i, w := range l.cfg.watchers {
		if w > l.cfg.watchers[big] {
			big = i
		}
	}
	l.logf("phase 4: slow consumer among %d watchers", l.cfg.watchers[big])
	sr, err := l.slowConsumer(ctx, l.cfg.watchers[big], feeds[big])
	if err != nil {
		return nil, fmt.Errorf("slow consumer: %w", err)
	}
	sr.without = res.fan[big]
	res.slow = sr
	tr, err := l.topics(ctx)
	if err != nil {
		return nil, err
	}
	res.topics = tr
	res.loadEnd = loadavg()
	return res, nil
}

// idle measures the memory of sessions that each watch their own counter.
func (l *load) idle(ctx context.Context, res *results) error {
	time.Sleep(200 * time.Millisecond)
	before, rss0, err := l.memGC()
	if err != nil {
		return err
	}
	ids, err := l.mount("counter", l.cfg.sessions)
	if err != nil {
		return err
	}
	if err := l.addSessions(ctx, l.cfg.sessions, ids); err != nil {
		return err
	}
	if err := l.waitUpdates(ctx, int64(l.cfg.sessions), "init"); err != nil {
		return err
	}
	time.Sleep(time.Second) // let handshake garbage die and goroutines park
	after, rss1, err := l.memGC()
	if err != nil {
		return err
	}
	// A second reading, a moment later, shows whether it had settled.
	time.Sleep(500 * time.Millisecond)
	after2, rss2, err := l.memGC()
	if err != nil {
		return err
	}
	n := float64(l.cfg.sessions)
	res.heapBefore = before.HeapInuse + before.StackInuse
	res.heapAfter = min(after.HeapInuse+after.StackInuse, after2.HeapInuse+after2.StackInuse)
	res.rssBefore, res.rssAfter = rss0, min(rss1, rss2)
	res.heapPer = (float64(res.heapAfter) - float64(res.heapBefore)) / n
	res.stackPer = (float64(after2.StackInuse) - float64(before.StackInuse)) / n
	res.rssPer = float64(res.rssAfter-res.rssBefore) / n
	res.goroutinesPer = float64(after2.Goroutines-before.Goroutines) / n
	if l.cfg.memprofile != "" {
		l.post("/ctl/heapprof", url.Values{"name": {"idle"}})
	}
	return nil
}

// roundTrips compares an action over WebSocket, over HTTP POST, and a raw
// TCP echo of the same bytes, interleaved in chunks so that a noisy
// neighbour hits all three alike.
func (l *load) roundTrips(ctx context.Context, res *results) error {
	// Two counters: HTTP actions on the WebSocket's counter would queue
	// updates the WebSocket client reads later.
	ids, err := l.mount("counter", 2)
	if err != nil {
		return err
	}
	id, httpID := ids[0], ids[1]
	ws, err := dialRetry(ctx, l.srv.addr, 0)
	if err != nil {
		return err
	}
	l.others = append(l.others, ws)
	if err := ws.WriteText(initMsg(id)); err != nil {
		return err
	}
	if _, err := readUntil(ws, updatePrefix, 10*time.Second); err != nil {
		return err
	}
	echo, err := net.Dial("tcp", l.srv.echoAddr)
	if err != nil {
		return err
	}
	defer echo.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()

	action := []byte(`{"type":"action","componentID":"` + id + `","action":"inc"}`)
	form := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {httpID}, liveflux.FieldAction: {"inc"}}.Encode()
	echoBuf := make([]byte, len(action))

	wsOnce := func() error {
		if err := ws.WriteText(action); err != nil {
			return err
		}
		_, err := readUntil(ws, updatePrefix, 10*time.Second)
		return err
	}
	tcpOnce := func() error {
		if _, err := echo.Write(action); err != nil {
			return err
		}
		_, err := io.ReadFull(echo, echoBuf)
		return err
	}
	httpOnce := func() error {
		resp, err := hc.Post(l.base+"/liveflux", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP action: %s", resp.Status)
		}
		return err
	}
	timed := func(fn func() error, into *[]time.Duration) error {
		t := time.Now()
		if err := fn(); err != nil {
			return err
		}
		*into = append(*into, time.Since(t))
		return nil
	}

	var tcpLat, wsLat, httpLat, discard []time.Duration
	for range 200 { // warm up
		for _, fn := range []func() error{tcpOnce, wsOnce, httpOnce} {
			if err := timed(fn, &discard); err != nil {
				return err
			}
		}
	}
	const chunks = 10
	per := l.cfg.rtt / chunks
	for range chunks {
		for range per {
			if err := timed(tcpOnce, &tcpLat); err != nil {
				return err
			}
		}
		for range per {
			if err := timed(wsOnce, &wsLat); err != nil {
				return err
			}
		}
		for range per {
			if err := timed(httpOnce, &httpLat); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	res.tcp, res.ws, res.http = summarize(tcpLat), summarize(wsLat), summarize(httpLat)

	// Server allocations per action, in separate blocks between two stats
	// readings; one stats request's own allocations are subtracted.
	s0, err := l.stats()
	if err != nil {
		return err
	}
	s1, err := l.stats()
	if err != nil {
		return err
	}
	overhead := float64(s1.Mallocs - s0.Mallocs)
	allocs := func(fn func() error, n int, phase string) (float64, error) {
		l.profile(phase)
		defer l.profile("")
		a, err := l.stats()
		if err != nil {
			return 0, err
		}
		for range n {
			if err := fn(); err != nil {
				return 0, err
			}
		}
		b, err := l.stats()
		if err != nil {
			return 0, err
		}
		return (float64(b.Mallocs-a.Mallocs) - overhead) / float64(n), nil
	}
	n := max(l.cfg.rtt/2, 100)
	if res.wsAllocs, err = allocs(wsOnce, n, "action-ws"); err != nil {
		return err
	}
	if res.httpAllocs, err = allocs(httpOnce, n, "action-http"); err != nil {
		return err
	}

	// Render time, server side: medians of five batches.
	var renders, refreshes []float64
	for range 5 {
		var rr renderReport
		if err := l.getJSON("/ctl/render?n=20000", &rr); err != nil {
			return err
		}
		renders = append(renders, rr.RenderNs)
		refreshes = append(refreshes, rr.RefreshNs)
	}
	res.renderNs, res.refreshNs = medianF(renders), medianF(refreshes)
	return nil
}

// readUntil reads c's messages until one starts with prefix.
func readUntil(c *wsClient, prefix []byte, timeout time.Duration) ([]byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		msg, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(msg, prefix) {
			return msg, nil
		}
		if bytes.HasPrefix(msg, errorPrefix) {
			return nil, fmt.Errorf("server error: %s", msg)
		}
	}
}

// wireBytes measures what a watcher of a 300-row list receives when an
// action changes one row.
func (l *load) wireBytes(ctx context.Context, res *results) error {
	ids, err := l.mount("list", 1)
	if err != nil {
		return err
	}
	id := ids[0]
	watcher, err := dialRetry(ctx, l.srv.addr, 0)
	if err != nil {
		return err
	}
	actor, err := dialRetry(ctx, l.srv.addr, 0)
	if err != nil {
		return err
	}
	l.others = append(l.others, watcher, actor)
	for _, c := range []*wsClient{watcher, actor} {
		if err := c.WriteText(initMsg(id)); err != nil {
			return err
		}
		first, err := readUntil(c, updatePrefix, 10*time.Second)
		if err != nil {
			return err
		}
		res.listFull = len(first)
	}
	var sizes, frames []int
	idRef := []byte(`"componentID":"` + id + `"`)
	// Action 0 is the first after the watchers joined; 1–21 are counted.
	for i := range 22 {
		act := fmt.Sprintf(`{"type":"action","componentID":%q,"action":"set","data":{"row":"%d","value":"%d"}}`,
			id, (i*37+5)%ListRows, 90000+i)
		if err := actor.WriteText([]byte(act)); err != nil {
			return err
		}
		// The first message about the list is the update, whatever its form.
		watcher.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			msg, err := watcher.ReadMessage()
			if err != nil {
				return err
			}
			if !bytes.Contains(msg, idRef) {
				continue
			}
			if bytes.HasPrefix(msg, errorPrefix) {
				return fmt.Errorf("server error: %s", msg)
			}
			if i == 0 {
				res.updateFirst = len(msg)
				break
			}
			sizes = append(sizes, len(msg))
			frames = append(frames, watcher.frames)
			var env struct{ Type string }
			json.Unmarshal(msg, &env)
			res.updateType = env.Type
			break
		}
		// The actor watches too: drain its copy.
		actor.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			msg, err := actor.ReadMessage()
			if err != nil {
				return err
			}
			if bytes.Contains(msg, idRef) {
				break
			}
		}
	}
	watcher.conn.SetReadDeadline(time.Time{})
	actor.conn.SetReadDeadline(time.Time{})
	res.updateBytes, res.updateFrames = medianI(sizes), medianI(frames)
	res.updateMin, res.updateMax = slices.Min(sizes), slices.Max(sizes)
	return nil
}

// fanout makes the first w sessions watch one new component and times
// Broadcast rounds to it.
func (l *load) fanout(ctx context.Context, w int) (fanResult, string, error) {
	if err := l.addSessions(ctx, w, nil); err != nil {
		return fanResult{}, "", err
	}
	ids, err := l.mount("feed", 1)
	if err != nil {
		return fanResult{}, "", err
	}
	feed := ids[0]
	base := l.updates.Load()
	msg := initMsg(feed)
	for _, s := range l.sessions[:w] {
		if err := s.c.WriteText(msg); err != nil {
			return fanResult{}, "", err
		}
	}
	if err := l.waitUpdates(ctx, base+int64(w), "init of the fan-out component"); err != nil {
		return fanResult{}, "", err
	}
	time.Sleep(200 * time.Millisecond)
	fr, err := l.rounds(ctx, feed, w, fmt.Sprintf("fanout-%d", w))
	return fr, feed, err
}

// rounds times l.cfg.rounds Broadcasts to id, watched by w sessions, after
// two warm-up rounds, reading the server's CPU time and write syscalls
// around them.
func (l *load) rounds(ctx context.Context, id string, w int, phase string) (fanResult, error) {
	fr := fanResult{watchers: w, rounds: l.cfg.rounds}
	const warmup = 2
	var s0 memReport
	l.profile(phase)
	defer l.profile("")
	var calls []time.Duration
	for r := range warmup + l.cfg.rounds {
		if r == warmup {
			var err error
			if s0, err = l.stats(); err != nil {
				return fr, err
			}
		}
		l.seq++
		l.fan.arm(l.seq, w)
		t0 := time.Now()
		call, err := l.broadcast(id, l.seq, 230, 1)
		if err != nil {
			return fr, err
		}
		select {
		case t := <-l.fan.done:
			if r >= warmup {
				fr.lats = append(fr.lats, t.Sub(t0))
				calls = append(calls, call)
			}
		case <-time.After(10 * time.Second):
			if r >= warmup {
				fr.timeouts++
				fr.missing += int(l.fan.remaining.Load())
			}
		case <-ctx.Done():
			return fr, ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	s1, err := l.stats()
	if err != nil {
		return fr, err
	}
	deliveries := float64(w * l.cfg.rounds)
	fr.lat = summarize(fr.lats)
	if fr.lat.p50 > 0 {
		fr.perSec = float64(w) / fr.lat.p50.Seconds()
	}
	fr.cpuPer = float64(s1.CPUNs-s0.CPUNs) / deliveries
	// The control responses in the window (one per round, and the first
	// stats reading's) are writes too; they are not deliveries.
	fr.writesPer = float64(s1.Syscw-s0.Syscw-int64(l.cfg.rounds)-1) / deliveries
	if s0.Syscw < 0 {
		fr.writesPer = -1
	}
	fr.call = summarize(calls)
	return fr, nil
}

// slowConsumer adds one watcher that never reads, with a tiny receive
// buffer, stuffs its socket, runs the rounds again, then overflows its send
// queue.
func (l *load) slowConsumer(ctx context.Context, w int, feed string) (*slowResult, error) {
	sr := &slowResult{}
	var err error
	if _, sr.rssBefore, err = l.memGC(); err != nil {
		return nil, err
	}
	slow, err := dialRetry(ctx, l.srv.addr, 4096)
	if err != nil {
		return nil, err
	}
	l.others = append(l.others, slow)
	ids, err := l.mount("feed", 1)
	if err != nil {
		return nil, err
	}
	hog := ids[0]
	for _, id := range []string{feed, hog} {
		if err := slow.WriteText(initMsg(id)); err != nil {
			return nil, err
		}
	}
	time.Sleep(200 * time.Millisecond)
	// 64 messages of 16 KiB (1 MiB): more than the socket buffers hold,
	// fewer than the send queue (256), so the client stays connected with
	// the server's writer blocked.
	if _, err := l.broadcast(hog, 1_000_000_000, 16<<10, 64); err != nil {
		return nil, err
	}
	filled := time.Now()
	time.Sleep(500 * time.Millisecond)
	sr.sendQ, sr.recvQ = tcpQueues(l.srv.addr, slow.localPort())
	sr.with, err = l.rounds(ctx, feed, w, fmt.Sprintf("slow-%d", w))
	if err != nil {
		return nil, err
	}
	if _, sr.rssFilled, err = l.memGC(); err != nil {
		return nil, err
	}
	// 300 more: the queue overflows. The server drops the client once its
	// blocked write times out; until then the client is still watching.
	if _, err := l.broadcast(hog, 2_000_000_000, 16<<10, 300); err != nil {
		return nil, err
	}
	sr.dropped = "not dropped within 30 s"
	for wait := time.Now().Add(30 * time.Second); time.Now().Before(wait); time.Sleep(100 * time.Millisecond) {
		body, err := l.ctlGet("/ctl/watched?id=" + hog)
		if err != nil {
			return nil, err
		}
		if body == "false" {
			sr.dropped = fmt.Sprintf("dropped %.1f s after its socket filled", time.Since(filled).Seconds())
			break
		}
	}
	if _, sr.rssAfter, err = l.memGC(); err != nil {
		return nil, err
	}
	slow.Close()
	return sr, nil
}
