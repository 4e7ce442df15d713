package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/bus"
)

// The server role: a Liveflux WebSocketHandler on /liveflux, a raw TCP echo
// server (the round-trip floor) and a control API under /ctl/ that the
// load process drives. It prints "READY <http addr> <echo addr>" once
// listening, and exits when its standard input closes (the load process
// ended) or on POST /ctl/quit.

// broadcastPayload is what Broadcast sends in the fan-out rounds; its JSON
// is padded to the requested size.
type broadcastPayload struct {
	Type string `json:"type"`
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

// payloadFor returns a payload whose JSON encoding is size bytes (at
// least the envelope's).
func payloadFor(seq, size int) broadcastPayload {
	// {"type":"bench","seq":N,"text":"…"}
	overhead := len(`{"type":"bench","seq":`) + len(strconv.Itoa(seq)) + len(`,"text":""}`)
	n := min(max(0, size-overhead), len(padding))
	return broadcastPayload{Type: "bench", Seq: seq, Text: padding[:n]}
}

var padding = strings.Repeat("x", 64<<10)

type server struct {
	ws *liveflux.WebSocketHandler
	// nodeA and nodeB are two more handlers, joined as nodes by a
	// backplane in memory, over a store of their own (phase 10).
	nodeA, nodeB *liveflux.WebSocketHandler
	profPath     string // prefix of per-phase CPU profiles; "" for none
	memPath      string // prefix of heap profiles; "" for none

	profMu   sync.Mutex
	profFile *os.File
	quit     chan struct{}
	quitOnce sync.Once

	counts *counts // what the main handler measured

	groupsMu sync.Mutex
	groups   map[string][]string // mounted instances by the group named at mount
}

func runServer(ping time.Duration, cpuprofile, memprofile string, nofile uint64) error {
	raiseFileLimit(nofile)
	if memprofile != "" {
		// Fine enough to see what a session holds; restored once the idle
		// phase's profile is written.
		runtime.MemProfileRate = 256
	}
	logger := slog.New(countDrops{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})})
	// One control request mounts every session: its share is the whole store.
	store := liveflux.NewMemoryStore(liveflux.WithMaxInstances(1_000_000), liveflux.WithMaxInstancesPerSession(1_000_000), liveflux.WithMaxBytesPerSession(1<<30))
	// Every session comes from one address, without a session: its share
	// of presence entries is every entry too.
	opts := []liveflux.WebSocketOption{
		liveflux.WithRegistry(newRegistry()),
		liveflux.WithLogger(logger),
		liveflux.WithWebSocketPingInterval(ping),
		liveflux.WithMaxPresencePerSession(1_000_000),
	}
	nodes, nodeStore := bus.New(), liveflux.NewMemoryStore()
	counts := new(counts)
	s := &server{
		counts:   counts,
		ws:       liveflux.NewWebSocketHandler(store, append(opts, liveflux.WithMetrics(counts))...),
		nodeA:    liveflux.NewWebSocketHandler(nodeStore, append(opts, liveflux.WithWebSocketBackplane(nodes.Node()))...),
		nodeB:    liveflux.NewWebSocketHandler(nodeStore, append(opts, liveflux.WithWebSocketBackplane(nodes.Node()))...),
		profPath: cpuprofile,
		memPath:  memprofile,
		quit:     make(chan struct{}),
		groups:   make(map[string][]string),
	}
	mux := http.NewServeMux()
	mux.Handle("/liveflux", s.ws)
	mux.Handle("/liveflux-b", s.nodeB)
	mux.HandleFunc("POST /ctl/burst", s.burst)
	mux.HandleFunc("GET /ctl/burst", s.burstState)
	mux.HandleFunc("GET /ctl/mem", s.mem)
	mux.HandleFunc("GET /ctl/stats", s.stats)
	mux.HandleFunc("POST /ctl/mount", s.mount)
	mux.HandleFunc("POST /ctl/broadcast", s.broadcast)
	mux.HandleFunc("POST /ctl/broadcast-each", s.broadcastEach)
	mux.HandleFunc("POST /ctl/publish", s.publish)
	mux.HandleFunc("GET /ctl/topic", s.topicStats)
	mux.HandleFunc("GET /ctl/render", s.render)
	mux.HandleFunc("POST /ctl/prof", s.prof)
	mux.HandleFunc("POST /ctl/heapprof", s.heapprof)
	mux.HandleFunc("GET /ctl/watched", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, slices.Contains(s.ws.Watched(), r.FormValue("id")))
	})
	mux.HandleFunc("POST /ctl/quit", func(w http.ResponseWriter, r *http.Request) {
		s.quitOnce.Do(func() { close(s.quit) })
	})

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go serveEcho(echoLn)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go srv.Serve(httpLn)
	fmt.Printf("READY %s %s\n", httpLn.Addr(), echoLn.Addr())

	go func() { // the load process went away: stop too
		io.Copy(io.Discard, os.Stdin)
		s.quitOnce.Do(func() { close(s.quit) })
	}()
	<-s.quit
	s.stopProfile()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.ws.Shutdown(ctx)
	s.nodeA.Shutdown(ctx)
	s.nodeB.Shutdown(ctx)
	srv.Shutdown(ctx)
	return nil
}

// serveEcho echoes whatever each connection sends.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

// memReport is the answer of /ctl/mem and /ctl/stats.
type memReport struct {
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Mallocs    uint64 `json:"mallocs"`
	Goroutines int    `json:"goroutines"`
	CPUNs      int64  `json:"cpuNs"` // user + system CPU time of the process
	Syscw      int64  `json:"syscw"` // write-type syscalls of the process (/proc/self/io)
	// The main handler's metrics: topic deliveries (HandleTopic runs) and
	// the messages they carried, WebSocket messages sent and their bytes.
	TopicRuns int64 `json:"topicRuns"`
	Inits     int64 `json:"inits"`    // WebSocket inits handled
	LastInit  int64 `json:"lastInit"` // UnixNano when the last was
	TopicMsgs int64 `json:"topicMsgs"`
	MsgsOut   int64 `json:"msgsOut"`
	BytesOut  int64 `json:"bytesOut"`
}

// counts is the main handler's liveflux.Metrics: a few counters.
type counts struct {
	topicRuns, topicMsgs, msgsOut, bytesOut atomic.Int64
	inits, lastInit                         atomic.Int64
}

func (c *counts) Record(m liveflux.Measure) {
	switch m.Kind {
	case liveflux.MeasureTopicDelivery:
		c.topicRuns.Add(1)
		c.topicMsgs.Add(int64(m.N))
	case liveflux.MeasureAction:
		if m.Action == "" && m.Transport == liveflux.TransportWebSocket {
			c.inits.Add(1)
			c.lastInit.Store(time.Now().UnixNano())
		}
	case liveflux.MeasureMessageOut:
		c.msgsOut.Add(1)
		c.bytesOut.Add(int64(m.Bytes))
	}
}

func (s *server) report(gc bool) memReport {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return memReport{
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Mallocs:    ms.Mallocs,
		Goroutines: runtime.NumGoroutine(),
		CPUNs:      ru.Utime.Nano() + ru.Stime.Nano(),
		Syscw:      procIOField(os.Getpid(), "syscw"),
		TopicRuns:  s.counts.topicRuns.Load(),
		Inits:      s.counts.inits.Load(),
		LastInit:   s.counts.lastInit.Load(),
		TopicMsgs:  s.counts.topicMsgs.Load(),
		MsgsOut:    s.counts.msgsOut.Load(),
		BytesOut:   s.counts.bytesOut.Load(),
	}
}

// mem answers after a full collection that returned free memory to the OS.
func (s *server) mem(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.report(true)) }

// stats answers without collecting.
func (s *server) stats(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.report(false)) }

// mount mounts n instances of kind, with the parameter topic when given
// (and name: the i-th is named NAME-i), on node b with node=b, and answers
// their IDs, one a line. With group, the IDs are kept under that name for
// broadcast-each.
func (s *server) mount(w http.ResponseWriter, r *http.Request) {
	kind := r.FormValue("kind")
	n, _ := strconv.Atoi(r.FormValue("n"))
	h := s.ws
	if r.FormValue("node") == "b" {
		h = s.nodeB
	}
	var out bytes.Buffer
	ids := make([]string, 0, max(n, 1))
	for i := range max(n, 1) {
		params := map[string]string{}
		if t := r.FormValue("topic"); t != "" {
			params["topic"] = t
		}
		if name := r.FormValue("name"); name != "" {
			params["name"] = name + "-" + strconv.Itoa(i)
		}
		html, err := h.Mount(r, kind, params)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := idOf(string(html))
		ids = append(ids, id)
		out.WriteString(id)
		out.WriteByte('\n')
	}
	if g := r.FormValue("group"); g != "" {
		s.groupsMu.Lock()
		s.groups[g] = append(s.groups[g], ids...)
		s.groupsMu.Unlock()
	}
	w.Write(out.Bytes())
}

// broadcastEach calls Broadcast once for every instance of a group, with
// a payload of size bytes carrying seq, and answers how long it took.
func (s *server) broadcastEach(w http.ResponseWriter, r *http.Request) {
	s.groupsMu.Lock()
	ids := s.groups[r.FormValue("group")]
	s.groupsMu.Unlock()
	seq, _ := strconv.Atoi(r.FormValue("seq"))
	size, _ := strconv.Atoi(r.FormValue("size"))
	p := payloadFor(seq, max(size, 1))
	start := time.Now()
	for _, id := range ids {
		if err := s.ws.Broadcast(id, p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	fmt.Fprint(w, time.Since(start).Nanoseconds())
}

// publish publishes a topicMessage carrying seq and text to topic, and
// answers how long the call took.
func (s *server) publish(w http.ResponseWriter, r *http.Request) {
	seq, _ := strconv.Atoi(r.FormValue("seq"))
	m := topicMessage{Seq: seq, Text: r.FormValue("text")}
	start := time.Now()
	if err := s.ws.Publish(r.Context(), r.FormValue("topic"), m); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, time.Since(start).Nanoseconds())
}

// burst publishes the numbers from … from+n-1 to BurstTopic on node A, as
// fast as Publish returns, and answers how long that took.
func (s *server) burst(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.Atoi(r.FormValue("from"))
	n, _ := strconv.Atoi(r.FormValue("n"))
	start := time.Now()
	for i := from; i < from+n; i++ {
		if err := s.nodeA.Publish(r.Context(), BurstTopic, i); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	fmt.Fprint(w, time.Since(start).Nanoseconds())
}

// burstState answers what the BurstTally id on node B received.
func (s *server) burstState(w http.ResponseWriter, r *http.Request) {
	c, err := s.nodeB.Store().Get(r.Context(), r.FormValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	writeJSON(w, c)
}

// topicReport is the answer of /ctl/topic.
type topicReport struct {
	Calls       int64    `json:"calls"`       // HandleTopic calls for the topic so far
	Present     int      `json:"present"`     // entries of its presence list
	PresenceNs  float64  `json:"presenceNs"`  // one Presence call
	ChangeBytes int64    `json:"changeBytes"` // JSON of the last presence change an Online instance got
	Dropped     int64    `json:"dropped"`     // topic messages dropped so far (the handler's warnings)
	Counts      [2][]int `json:"counts"`      // what the Online instances last rendered: [from the changes, with Presence]
}

// dropped counts the handler's warnings that a subscriber fell behind
// (and, in the library before topic logs, "topic message dropped", one per
// message), which countDrops keeps out of the log.
var dropped atomic.Int64

type countDrops struct{ slog.Handler }

func (h countDrops) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "fell further behind") || strings.Contains(r.Message, "topic message dropped") {
		dropped.Add(1)
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h countDrops) WithAttrs(a []slog.Attr) slog.Handler { return countDrops{h.Handler.WithAttrs(a)} }
func (h countDrops) WithGroup(g string) slog.Handler      { return countDrops{h.Handler.WithGroup(g)} }

// topicStats reports on one topic; with presence=1 it also times
// Presence.
func (s *server) topicStats(w http.ResponseWriter, r *http.Request) {
	topic := r.FormValue("topic")
	rep := topicReport{Calls: topicCalls(topic).Load(), ChangeBytes: lastChange.Load(), Dropped: dropped.Load()}
	for _, id := range strings.Split(r.FormValue("online"), ",") {
		if v, ok := onlineCounts.Load(id); ok {
			c := v.([2]int)
			rep.Counts[c[0]] = append(rep.Counts[c[0]], c[1])
		}
	}
	if r.FormValue("presence") != "" {
		n := 20
		if r.FormValue("presence") == "once" {
			n = 1
		}
		start := time.Now()
		for range n {
			rep.Present = len(s.ws.Presence(topic))
		}
		rep.PresenceNs = float64(time.Since(start).Nanoseconds()) / float64(n)
	}
	writeJSON(w, rep)
}

// broadcast calls Broadcast count times (default 1) with a payload of size
// bytes (default 230) carrying seq, and answers how long the calls took.
func (s *server) broadcast(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("id")
	seq, _ := strconv.Atoi(r.FormValue("seq"))
	size, _ := strconv.Atoi(r.FormValue("size"))
	if size <= 0 {
		size = 230
	}
	count, _ := strconv.Atoi(r.FormValue("count"))
	count = max(count, 1)
	payloads := make([]broadcastPayload, count)
	for i := range payloads {
		payloads[i] = payloadFor(seq+i, size)
	}
	start := time.Now()
	for _, p := range payloads {
		if err := s.ws.Broadcast(id, p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	fmt.Fprint(w, time.Since(start).Nanoseconds())
}

// renderReport is the answer of /ctl/render.
type renderReport struct {
	RenderNs  float64 `json:"renderNs"`  // Counter.Render into a reused buffer
	RefreshNs float64 `json:"refreshNs"` // Refresh of an unwatched counter
}

// render times the counter's Render, and Refresh (store lock, render with
// the root element, update encoding) of an instance nobody watches.
func (s *server) render(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.FormValue("n"))
	n = max(n, 100)
	ctx := r.Context()
	c := &Counter{Count: 41}
	var buf bytes.Buffer
	start := time.Now()
	for range n {
		buf.Reset()
		c.Render(ctx, &buf)
	}
	renderNs := float64(time.Since(start).Nanoseconds()) / float64(n)

	html, err := s.ws.Mount(r, "counter", nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	id := idOf(string(html))
	m := n / 10
	start = time.Now()
	for range m {
		if err := s.ws.Refresh(ctx, id); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	refreshNs := float64(time.Since(start).Nanoseconds()) / float64(m)
	s.ws.Store().Delete(ctx, id)
	writeJSON(w, renderReport{RenderNs: renderNs, RefreshNs: refreshNs})
}

// prof starts (start=name) or stops (stop=1) a CPU profile of one phase.
func (s *server) prof(w http.ResponseWriter, r *http.Request) {
	if s.profPath == "" {
		return
	}
	s.stopProfile()
	name := r.FormValue("start")
	if name == "" {
		return
	}
	f, err := os.Create(s.profPath + "-" + name + ".prof")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.profMu.Lock()
	s.profFile = f
	s.profMu.Unlock()
}

func (s *server) stopProfile() {
	s.profMu.Lock()
	defer s.profMu.Unlock()
	if s.profFile != nil {
		pprof.StopCPUProfile()
		s.profFile.Close()
		s.profFile = nil
	}
}

// heapprof writes a heap profile named after the phase.
func (s *server) heapprof(w http.ResponseWriter, r *http.Request) {
	if s.memPath == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(s.memPath + "-" + r.FormValue("name") + ".prof")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	pprof.Lookup("heap").WriteTo(f, 0)
	// Back to the default rate: fine sampling slows every allocation, and
	// the phases that follow are timed.
	runtime.MemProfileRate = 512 * 1024
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// procIOField reads one counter of /proc/<pid>/io, or -1.
func procIOField(pid int, name string) int64 {
	return procField(fmt.Sprintf("/proc/%d/io", pid), name)
}

// procField reads "name: value" from a /proc file (the first number after
// the colon), or -1.
func procField(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return -1
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	return -1
}

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit, and
// both to need when need is larger and the process may. It returns the
// soft limit in force.
func raiseFileLimit(need uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if need > rl.Max {
		want := syscall.Rlimit{Cur: need, Max: need}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			return need
		}
	}
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}
