package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// latency is a set of samples' percentiles.
type latency struct {
	n                  int
	p50, p90, p99, max time.Duration
}

// summarize returns the nearest-rank percentiles of samples.
func summarize(samples []time.Duration) latency {
	if len(samples) == 0 {
		return latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return latency{n: len(s), p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: s[len(s)-1]}
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianI(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

type fanResult struct {
	watchers  int
	rounds    int
	lats      []time.Duration
	lat       latency // Broadcast call → last watcher has it
	call      latency // the Broadcast call itself, in the server
	timeouts  int     // rounds some watcher never got (10 s)
	missing   int
	perSec    float64 // deliveries per second (watchers / p50)
	cpuPer    float64 // server CPU ns per delivery
	writesPer float64 // server write syscalls per delivery
}

type slowResult struct {
	with, without                  fanResult
	rssBefore, rssFilled, rssAfter int64 // server RSS, bytes, after a GC
	sendQ, recvQ                   int   // bytes stuck in the slow socket (server send, client receive)
	dropped                        string
}

type results struct {
	machine            machineInfo
	loadStart, loadEnd string

	sessions                  int
	heapBefore, heapAfter     uint64
	rssBefore, rssAfter       int64
	heapPer, stackPer, rssPer float64
	goroutinesPer             float64

	fan []fanResult

	tcp, ws, http        latency
	renderNs, refreshNs  float64
	wsAllocs, httpAllocs float64

	slow *slowResult

	listFull                  int // the full rendering's update message
	updateBytes, updateFrames int
	updateMin, updateMax      int
	updateFirst               int // the first update after the watchers joined
	updateType                string

	runtimeRaw, runtimeGz int

	topics *topicsResults
}

type machineInfo struct {
	cpu   string
	cores int
	mem   string
	goVer string
	os    string
}

func machine() machineInfo {
	m := machineInfo{cpu: "unknown", cores: runtime.NumCPU(), goVer: runtime.Version(), os: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		procs := 0
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				m.cpu = strings.TrimSpace(v)
			case "processor":
				procs++
			}
		}
		if procs > 0 {
			m.cores = procs
		}
	}
	if kb := procField("/proc/meminfo", "MemTotal"); kb > 0 {
		m.mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// rssOf is VmRSS of a process, in bytes.
func rssOf(pid int) int64 {
	kb := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	if kb < 0 {
		return -1
	}
	return kb * 1024
}

// tcpQueues finds, in /proc/net/tcp, the bytes queued on both ends of the
// loopback connection between the server at serverAddr and the client port.
func tcpQueues(serverAddr string, clientPort int) (sendQ, recvQ int) {
	_, sp, _ := net.SplitHostPort(serverAddr)
	serverPort, _ := strconv.Atoi(sp)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	sendQ, recvQ = -1, -1
	port := func(addr string) int {
		_, h, _ := strings.Cut(addr, ":")
		n, _ := strconv.ParseInt(h, 16, 32)
		return int(n)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 5 || fl[0] == "sl" {
			continue
		}
		local, remote := port(fl[1]), port(fl[2])
		tx, rx, _ := strings.Cut(fl[4], ":")
		txn, _ := strconv.ParseInt(tx, 16, 64)
		rxn, _ := strconv.ParseInt(rx, 16, 64)
		switch {
		case local == serverPort && remote == clientPort:
			sendQ = int(txn)
		case local == clientPort && remote == serverPort:
			recvQ = int(rxn)
		}
	}
	return sendQ, recvQ
}

// runtimeSize is the runtime's size, raw and gzip -9.
func runtimeSize(js []byte) (raw, gz int) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(js)
	zw.Close()
	return len(js), b.Len()
}

// --- formatting ---

const kb = 1024.0

func fmtKB(bytes float64) string { return fmt.Sprintf("%.1f KB", bytes/kb) }

func fmtMB(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/(kb*kb)) }

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtNs(ns float64) string { return fmtDur(time.Duration(ns)) }

func fmtCount(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// verdict compares a value with an upper bound (strict: below it, not
// equal) and says by how much it missed.
func verdict(value, goal float64, strict bool, format func(float64) string) string {
	if value < goal || (!strict && value <= goal) {
		return "met"
	}
	return fmt.Sprintf("**missed by %s** (%.0f%% over)", format(value-goal), 100*(value-goal)/goal)
}

type report struct {
	table string // the Markdown table alone
	full  string // BENCHMARKS.md
}

func buildReport(cfg config, r *results) report {
	var t strings.Builder
	row := func(num, measure, result, goal, v string) {
		fmt.Fprintf(&t, "| %s | %s | %s | %s | %s |\n", num, measure, result, goal, v)
	}
	t.WriteString("| # | Measure | Result | Goal | Verdict |\n|---|---|---|---|---|\n")
	n := fmtCount(r.sessions)
	row("1", fmt.Sprintf("Idle session memory, Go heap+stack (%s sessions)", n),
		fmt.Sprintf("%s/session (%s → %s; stack %s, %.1f goroutines/session)", fmtKB(r.heapPer),
			fmtMB(int64(r.heapBefore)), fmtMB(int64(r.heapAfter)), fmtKB(r.stackPer), r.goroutinesPer),
		"≤ 3 KB", verdict(r.heapPer, 3*kb, false, fmtKB))
	row("1", fmt.Sprintf("Idle session memory, RSS (%s sessions)", n),
		fmt.Sprintf("%s/session (%s → %s)", fmtKB(r.rssPer), fmtMB(r.rssBefore), fmtMB(r.rssAfter)),
		"≤ 4.5 KB", verdict(r.rssPer, 4.5*kb, false, fmtKB))
	for _, f := range r.fan {
		w := fmtCount(f.watchers)
		latGoal, latV := "p50 ≤ 100 ms (goal set at 10,000)", "—"
		if f.watchers >= 10_000 {
			latGoal, latV = "p50 ≤ 100 ms", verdict(float64(f.lat.p50), float64(100*time.Millisecond), false, fmtNs)
		}
		res := fmt.Sprintf("p50 %s, p99 %s (%d rounds)", fmtDur(f.lat.p50), fmtDur(f.lat.p99), f.lat.n)
		if f.timeouts > 0 {
			res += fmt.Sprintf("; %d rounds timed out, %d deliveries missing", f.timeouts, f.missing)
			latV = "**missed** (deliveries lost)"
		}
		row("2", fmt.Sprintf("Fan-out to %s watchers: Broadcast → last watcher", w), res, latGoal, latV)
		row("2", fmt.Sprintf("Fan-out to %s: deliveries per second", w),
			fmt.Sprintf("%s/s (at p50; the Broadcast call itself: p50 %s)", fmtCount(int(f.perSec)), fmtDur(f.call.p50)), "—", "info")
		row("2", fmt.Sprintf("Fan-out to %s: server CPU per delivery", w),
			fmt.Sprintf("%.2f µs", f.cpuPer/1e3), "≤ 10 µs", verdict(f.cpuPer/1e3, 10, false, func(v float64) string { return fmt.Sprintf("%.2f µs", v) }))
		if f.writesPer < 0 {
			row("2", fmt.Sprintf("Fan-out to %s: server write syscalls per delivery", w),
				"unavailable (/proc/<pid>/io unreadable)", "≤ 1.05", "not measured")
		} else {
			row("2", fmt.Sprintf("Fan-out to %s: server write syscalls per delivery", w),
				fmt.Sprintf("%.3f", f.writesPer), "≤ 1.05", verdict(f.writesPer, 1.05, false, func(v float64) string { return fmt.Sprintf("%.3f", v) }))
		}
	}
	row("3", "Action round trip, raw TCP echo (floor)", fmt.Sprintf("p50 %s, p99 %s (%s)", fmtDur(r.tcp.p50), fmtDur(r.tcp.p99), fmtCount(r.tcp.n)), "—", "info")
	row("3", "Action round trip, WebSocket", fmt.Sprintf("p50 %s, p99 %s (%s)", fmtDur(r.ws.p50), fmtDur(r.ws.p99), fmtCount(r.ws.n)), "—", "info")
	row("3", "Action round trip, HTTP POST (keep-alive)", fmt.Sprintf("p50 %s, p99 %s (%s)", fmtDur(r.http.p50), fmtDur(r.http.p99), fmtCount(r.http.n)), "—", "info")
	row("3", "Counter render, server side", fmt.Sprintf("Render %s; Refresh (store, render, encode) %s", fmtNs(r.renderNs), fmtNs(r.refreshNs)), "—", "info")
	over := float64(r.ws.p50 - r.tcp.p50)
	row("3", "WS p50 − TCP floor p50", fmtNs(over), fmt.Sprintf("≤ render + 10 µs = %s", fmtNs(r.renderNs+10e3)),
		verdict(over, r.renderNs+10e3, false, fmtNs))
	row("3", "HTTP p50 / WS p50", fmt.Sprintf("%.2f×", float64(r.http.p50)/float64(r.ws.p50)), "—", "info")
	row("3", "Server allocations per action", fmt.Sprintf("WS %.1f, HTTP %.1f", r.wsAllocs, r.httpAllocs), "—", "info")
	if s := r.slow; s != nil {
		w := fmtCount(s.with.watchers)
		ratio := float64(s.with.lat.p99) / float64(s.without.lat.p99)
		res := fmt.Sprintf("p99 %s with vs %s without (%.2f×); p50 %s vs %s", fmtDur(s.with.lat.p99), fmtDur(s.without.lat.p99), ratio,
			fmtDur(s.with.lat.p50), fmtDur(s.without.lat.p50))
		v := verdict(ratio, 1.25, false, func(v float64) string { return fmt.Sprintf("%.2f×", v) })
		if s.with.timeouts > 0 {
			res += fmt.Sprintf("; %d rounds timed out", s.with.timeouts)
			v = "**missed** (deliveries lost)"
		}
		row("4", fmt.Sprintf("Slow consumer among %s: the others' fan-out", w), res, "p99 ≤ 1.25× without", v)
		growth := s.rssAfter - s.rssBefore
		bound := int64(256 * 16 << 10)
		row("4", "Slow consumer: server RSS", fmt.Sprintf("%s before → %s stuffed (%s in its socket) → %s after it was dropped; it was %s",
			fmtMB(s.rssBefore), fmtMB(s.rssFilled), fmtKB(float64(max(0, s.sendQ))+float64(max(0, s.recvQ))), fmtMB(s.rssAfter), s.dropped),
			"growth ≤ one full send queue (256 × 16 KB = 4 MB)", verdict(float64(growth), float64(bound), false, func(v float64) string { return fmtMB(int64(v)) }))
	}
	row("5", fmt.Sprintf("Bytes per update: 1 of %d list rows changed", ListRows),
		fmt.Sprintf("%s B `%s` payload (median of 21, range %s–%s, %d frame(s); the first after joining %s B; the full rendering's %s B)",
			fmtCount(r.updateBytes), r.updateType, fmtCount(r.updateMin), fmtCount(r.updateMax), r.updateFrames,
			fmtCount(r.updateFirst), fmtCount(r.listFull)),
		"≤ 120 B", verdict(float64(r.updateBytes), 120, false, func(v float64) string { return fmtCount(int(v)) + " B" }))
	row("6", "Client runtime, gzip -9", fmt.Sprintf("%s B (%s B raw)", fmtCount(r.runtimeGz), fmtCount(r.runtimeRaw)),
		"≤ 14 KB (14,336 B; `TestRuntimeBundle`)", verdict(float64(r.runtimeGz), 14336, false, func(v float64) string { return fmtCount(int(v)) + " B" }))

	topicRows(row, r.topics)
	table := t.String()
	if cfg.only == "topics" {
		table = "| # | Measure | Result | Goal | Verdict |\n|---|---|---|---|---|\n"
		t.Reset()
		topicRows(row, r.topics)
		table += t.String()
	}
	var d strings.Builder
	m := r.machine
	d.WriteString("# Benchmarks\n\n")
	d.WriteString("Measured by the load program in [bench/](bench/README.md): the server runs in one process, the load\n")
	d.WriteString("generator in another, over loopback (127.0.0.1). Every figure comes from the one run below.\n\n")
	fmt.Fprintf(&d, "- Machine: %s, %d cores, %s RAM (%s)\n", m.cpu, m.cores, m.mem, m.os)
	fmt.Fprintf(&d, "- Go: %s\n", m.goVer)
	fmt.Fprintf(&d, "- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&d, "- Command: `%s`\n", cfg.command)
	fmt.Fprintf(&d, "- Load average at start / end: %s / %s. Both processes share the machine's cores, and the machine may\n  be shared with other work: latencies include that noise.\n\n", r.loadStart, r.loadEnd)
	d.WriteString(table)
	if cfg.only == "topics" {
		d.WriteString("\nKB = 1,024 bytes. Percentiles are nearest-rank.\n\nHow each figure is taken:\n\n" + topicsDoc(r.topics))
	} else {
		d.WriteString(`
KB = 1,024 bytes. Percentiles are nearest-rank: with 20 rounds, p99 is the slowest round.

How each figure is taken:

1. Each of the ` + fmtCount(r.sessions) + ` sessions is one WebSocket connection that sent ` + "`init`" + ` for its own counter. Memory is read after
   ` + "`runtime.GC`" + ` and ` + "`debug.FreeOSMemory`" + ` in the server, before any component is mounted and once every session
   has its first rendering; the difference is divided by the sessions. RSS is VmRSS of /proc/<pid>/status.
   The same measure elsewhere: gorilla's chat example ≈10.7 KB, lxzan/gws ≈7.9 KB, a Go LiveView-style
   library 6.4 KB, Centrifugo ≈30 KB, a Phoenix LiveView process ≈40 KB.
2. The load process asks the server (one control HTTP request) to call ` + "`Broadcast`" + ` with a 230-byte payload, and
   times from sending that request until the last watcher has read the payload (monotonic clock, one
   process). Two warm-up rounds are not counted. CPU is the server's user+system time (getrusage) and writes
   its ` + "`syscw`" + ` (/proc/<pid>/io) over the counted rounds, control responses subtracted, divided by deliveries.
3. ` + fmtCount(r.ws.n) + ` sequential round trips per transport, interleaved in 10 chunks: WebSocket action →
   ` + "`update`" + `; HTTP POST action → rendering; the same action bytes echoed by a raw TCP server in the
   server process. Allocations: ` + "`runtime.MemStats.Mallocs`" + ` around a separate block of actions.
   Render is ` + "`Counter.Render`" + ` alone; Refresh is ` + "`WebSocketHandler.Refresh`" + ` of an unwatched counter.
4. One more watcher of the same component, with a 4 KB receive buffer, never reads. It also watches a second
   component, which first gets 64 × 16 KB (its socket fills, the server's writer blocks; the queue stays under
   256), then the rounds run again, then 300 × 16 KB more overflow its send queue, and the load process polls
   until the server no longer lists it as a watcher. No number was set for the others' p99: 1.25× the run
   without the slow watcher is the threshold this benchmark uses. RSS is read after a GC.
5. A watcher of a 300-row list (≈7 KB of HTML) receives the message an action changing one row causes;
   the figure is its WebSocket payload, whatever its form (full HTML or a diff), over 21 actions after a
   first one that is reported apart.
6. ` + "`gzip -9`" + ` (compress/gzip BestCompression) of ` + "`liveflux.ClientRuntime()`" + `. htmx is ≈14 KB.
` + topicsDoc(r.topics))
	}
	if cfg.ping > 0 {
		fmt.Fprintf(&d, "\nThe server's ping interval is %s for the run, so that no ping lands inside a measurement.\n", cfg.ping)
	}
	return report{table: table, full: d.String()}
}

// p50p90 formats a latency's median and p90.
func p50p90(l latency) string {
	return fmt.Sprintf("p50 %s, p90 %s (%d rounds)", fmtDur(l.p50), fmtDur(l.p90), l.n)
}

func timeoutNote(s topicSide) string {
	if s.timeouts == 0 {
		return ""
	}
	return fmt.Sprintf("; **%d rounds timed out**", s.timeouts)
}

// topicRows adds the rows of phases 7 and 8.
func topicRows(row func(num, measure, result, goal, v string), tr *topicsResults) {
	if tr == nil {
		return
	}
	for _, z := range tr.sizes {
		n := fmtCount(z.subs)
		pub, bc, each := summarize(z.publish.lats), summarize(z.broadcast.lats), summarize(z.each.lats)
		row("7", fmt.Sprintf("Topic, %s subscribers (one watcher each): Publish → last client has the update", n),
			p50p90(pub)+fmt.Sprintf("; the update %.0f B", medianF(z.publish.bytes))+timeoutNote(z.publish), "—", "info")
		row("7", fmt.Sprintf("Same %s clients, same rounds: Broadcast to one component they all watch", n),
			p50p90(bc)+fmt.Sprintf("; payload %d B", z.size)+timeoutNote(z.broadcast), "—", "info")
		row("7", fmt.Sprintf("Same %s clients: Broadcast to each subscriber (%s calls, no rendering)", n, n),
			p50p90(each)+timeoutNote(z.each), "—", "info")
		ratio := float64(pub.p50) / float64(bc.p50)
		goal, v := "≤ 1.5× (goal set at 10,000)", "—"
		if z.subs >= 10_000 {
			goal, v = "≤ 1.5×", verdict(ratio, 1.5, false, func(v float64) string { return fmt.Sprintf("%.2f×", v) })
		}
		if z.publish.timeouts > 0 {
			v = "**missed** (updates lost)"
		}
		row("7", fmt.Sprintf("Publish / Broadcast at %s", n),
			fmt.Sprintf("%.2f× at p50, %.2f× at p90; per round %.2f× median (%.2f–%.2f×); Publish / Broadcast to each %.2f×",
				ratio, float64(pub.p90)/float64(bc.p90), medianF(z.ratios), minF(z.ratios), maxF(z.ratios),
				float64(pub.p50)/float64(each.p50)),
			goal, v)
		row("7", fmt.Sprintf("Server CPU and allocations per delivery at %s", n),
			fmt.Sprintf("Publish %.2f µs, %.1f allocs; Broadcast %.2f µs, %.1f allocs; Broadcast to each %.2f µs, %.1f allocs (medians of rounds)",
				medianF(z.publish.cpu)/1e3, medianF(z.publish.allocs), medianF(z.broadcast.cpu)/1e3, medianF(z.broadcast.allocs),
				medianF(z.each.cpu)/1e3, medianF(z.each.allocs)),
			"—", "info")
	}
	if b := tr.bystander; b != nil {
		n := fmtCount(b.subs)
		var without *topicResult
		for i := range tr.sizes {
			if tr.sizes[i].subs == b.subs {
				without = &tr.sizes[i]
			}
		}
		pubW, bcW := summarize(b.with.publish.lats), summarize(b.with.broadcast.lats)
		res := fmt.Sprintf("Publish p50 %s with them, Broadcast p50 %s: %.2f× (per round %.2f× median)",
			fmtDur(pubW.p50), fmtDur(bcW.p50), float64(pubW.p50)/float64(bcW.p50), medianF(b.with.ratios))
		if without != nil {
			pub0, bc0 := summarize(without.publish.lats), summarize(without.broadcast.lats)
			res += fmt.Sprintf("; without them %s, %s: %.2f× (%.2f×). CPU per delivery %.2f µs with, %.2f µs without",
				fmtDur(pub0.p50), fmtDur(bc0.p50), float64(pub0.p50)/float64(bc0.p50), medianF(without.ratios),
				medianF(b.with.publish.cpu)/1e3, medianF(without.publish.cpu)/1e3)
		}
		res += timeoutNote(b.with.publish)
		row("7", fmt.Sprintf("Publish to %s subscribers with %s more watched instances subscribed to another topic", n, fmtCount(b.others)),
			res, "—", "info")
		want := int64(b.publishes) * int64(b.subs)
		v := "met"
		if b.otherCalls != 0 || b.subCalls != want {
			v = "**missed**"
		}
		row("7", "HandleTopic calls over those rounds",
			fmt.Sprintf("subscribers %s (%d publishes × %s); the %s others %s", fmtCount(int(b.subCalls)), b.publishes, n,
				fmtCount(b.others), fmtCount(int(b.otherCalls))),
			"others 0", v)
	}
	if p := tr.presence; p != nil {
		n, k := fmtCount(p.present), p.subscribers
		for _, x := range []struct {
			what, how string
			s         topicSide
		}{{"join", "counting from the changes", p.incJoin}, {"leave", "counting from the changes", p.incLeave},
			{"join", "counting with Presence", p.join}, {"leave", "counting with Presence", p.leave}} {
			lat := summarize(x.s.lats)
			row("8", fmt.Sprintf("Presence %s among %s present: %d subscribers %s → last of their watchers has the update", x.what, n, k, x.how),
				p50p90(lat)+fmt.Sprintf("; %.0f B update per watcher; server CPU %s per %s", medianF(x.s.bytes),
					fmtNs(medianF(x.s.cpu)*float64(k)), x.what)+timeoutNote(x.s),
				"—", "info")
		}
		row("8", fmt.Sprintf("Presence change a subscriber receives; Presence(topic) with %s entries", fmtCount(p.listed)),
			fmt.Sprintf("%s B of JSON (one entry, whatever the list's size); Presence %s per call", fmtCount(int(p.changeBytes)), fmtNs(p.presenceNs)),
			"—", "info")
	}
	if r := tr.room; r != nil {
		n := fmtCount(r.members)
		row("9", fmt.Sprintf("Room of %s (the chat example's component: every member renders who is online from Presence): all join at once → every member and the observer show %s online", n, fmtCount(r.members+1)),
			stepResult(r.join)+roomWork(r.join, r.members+1), "≤ 2 s", stepVerdict(r.join, 2*time.Second))
		row("9", fmt.Sprintf("Same room: all %s leave at once → the observer shows 1 online", n),
			stepResult(r.leave)+roomWork(r.leave, r.members+1), "—", stepVerdict(r.leave, 0))
	}
	if m := tr.mass; m != nil {
		for _, st := range m.steps {
			how := map[string]string{"join": "join (init)", "leave": "leave (leave)", "close": "leave (their connections close)"}[st.what]
			goal, limit := "—", time.Duration(0)
			if st.what != "join" && st.n >= 10_000 {
				goal, limit = "≤ 1 s", time.Second
			}
			row("9", fmt.Sprintf("Presence: %s members %s at once → every one of %d observers (%d counting from the changes, %d with Presence) shows %s",
				fmtCount(st.n), how, st.observers, m.observers, m.observers, fmtCount(int(st.want))),
				stepResult(st)+fmt.Sprintf("; %s HandleTopic calls of the observers for %s changes", fmtCount(int(st.calls)), fmtCount(st.n*st.observers)),
				goal, stepVerdict(st, limit))
		}
	}
	for _, b := range tr.bursts {
		v := "met"
		if !b.converged || b.count != b.n || b.order != 0 || b.missed != 0 {
			v = "**missed**"
		}
		row("10", fmt.Sprintf("Burst of %s topic messages published on node A → the subscriber's client on node B shows the last", fmtCount(b.n)),
			fmt.Sprintf("%s in %s (the %s Publish calls %s; server CPU %s): %s handled, %d out of order, %d missed",
				map[bool]string{true: "shown", false: "**not shown**"}[b.converged], fmtDur(b.lat), fmtCount(b.n), fmtDur(b.publish), fmtDur(b.cpu),
				fmtCount(b.count), b.order, b.missed),
			"all handled, in order", v)
	}
}

// stepResult formats a phase 9 step.
// roomWork is what the server did in a step of the room: its members'
// HandleTopic runs (each renders the list of who is online again), and the
// WebSocket messages it sent.
func roomWork(st sizeStep, members int) string {
	inits := ""
	if st.initsIn > 0 {
		inits = fmt.Sprintf("; the inits sent in %s, the last handled after %s", fmtDur(st.fired), fmtDur(st.initsIn))
	}
	return fmt.Sprintf("; %s HandleTopic runs (%.1f per member), %s messages sent (%s)%s",
		fmtCount(int(st.runs)), float64(st.runs)/float64(members), fmtCount(int(st.msgsOut)), fmtMB(st.bytesOut), inits)
}

func stepResult(st sizeStep) string {
	if !st.converged {
		return fmt.Sprintf("**%d of %d show it after %s** (server CPU %s)", st.showing, st.observers, fmtDur(st.lat), fmtDur(st.cpu))
	}
	return fmt.Sprintf("%s (server CPU %s)", fmtDur(st.lat), fmtDur(st.cpu))
}

// stepVerdict judges a phase 9 step against limit (0: none).
func stepVerdict(st sizeStep, limit time.Duration) string {
	switch {
	case !st.converged:
		return "**missed** (not settled)"
	case limit == 0:
		return "info"
	}
	return verdict(float64(st.lat), float64(limit), false, func(v float64) string { return fmtDur(time.Duration(v)) })
}

func minF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Min(v)
}

func maxF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

// topicsDoc explains phases 7 and 8.
func topicsDoc(tr *topicsResults) string {
	if tr == nil {
		return ""
	}
	present, subs := "", 0
	if tr.presence != nil {
		present, subs = fmtCount(tr.presence.present), tr.presence.subscribers
	}
	return `7. For each size N the first N sessions each watch their own instance of a component that subscribes,
   in Mount, to one topic and renders ` + "`<p>#SEQ TEXT</p>`" + ` from the last message; all N also watch one more
   component. Each round runs three deliveries to those N clients, in an order that rotates from round to
   round, each timed from sending its control request until the last client has read its message:
   ` + "`Publish`" + ` of ` + "`{\"seq\":S,\"text\":\"update\"}`" + ` (every subscriber runs HandleTopic and is rendered again; its watcher
   gets the update, a diff), ` + "`Broadcast`" + ` to the shared component of a payload as large as the update (measured in
   two warm-up publishes), and ` + "`Broadcast`" + ` to each of the N subscribers (N calls, one watcher each: the delivery
   without the rendering). Two warm-up rounds of each are not counted. CPU and allocations are the server's
   getrusage time and ` + "`Mallocs`" + ` around each round, divided by N. With 15 counted rounds (the default), p90 is
   the second slowest. Then as many more instances of the same kind, subscribed to another topic, are mounted
   and watched by the same sessions, and Publish and Broadcast rounds run again; the component counts its
   HandleTopic calls per topic.
8. ` + present + ` sessions each watch an instance that calls ` + "`Track`" + ` in Mount (all present), then ` + fmt.Sprint(subs) + ` instances
   that subscribe to the topic and render how many are present (` + "`<p>N online</p>`" + `) are each watched by a client of
   their own. A new client starts watching one more tracked instance (join), then closes its connection
   (leave); each is timed from that client's ` + "`init`" + ` (or close) until the last of the ` + fmt.Sprint(subs) + ` watchers has the update.
   Two warm-up joins and leaves are not counted. This runs twice: first with subscribers that keep the count
   from the change's joins and leaves, then (those unsubscribed) with subscribers that count
   ` + "`len(Presence(topic))`" + ` on every change. Server CPU is getrusage around each join or leave. The change's size
   is the JSON of the ` + "`PresenceChange`" + ` a subscriber received.
9. A room of the chat example's own component (` + "`examples/chat/room`" + `): every member subscribes to the room and
   renders who is online, with the names, after every join and leave. One member is watched by an observer
   client; then the first sessions each start watching a member of their own at once (` + "`init`" + `, one after the
   other as fast as the load process writes them): timed from the first ` + "`init`" + ` until every member's client and
   the observer show the full count; then they stop at once (` + "`leave`" + `), timed until the observer shows 1. The
   clients apply every update (diffs included) as the JS client does and read the count from what they show.
   Then the ` + present + ` members of phase 8, with ` + fmt.Sprint(subs) + ` observers counting from the changes and ` + fmt.Sprint(subs) + ` with
   ` + "`Presence`" + `, each watched by a client of its own: all leave at once (` + "`leave`" + `), 1,000 join and leave at once, all
   join at once, and last all their connections close at once; each timed from the first frame (or close)
   until every observer shows the count it leads to. HandleTopic calls are the observers', over the step.
   The server's log handler counts the warnings that a subscriber fell behind instead of printing them.
10. Two more handlers in the server process are two nodes of one application, joined by a backplane in
   memory, over a store of their own. A component subscribed on node B (it counts what it receives, and
   whether in order) is watched by a client of node B; node A publishes 1, 2, … N as fast as ` + "`Publish`" + `
   returns. Timed from the control request until the client shows N; the component's counts are read after.
`
}
