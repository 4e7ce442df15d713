// Command bench measures a Liveflux server from another process: idle
// memory per WebSocket session, Broadcast fan-out, action round trips, a
// slow consumer, bytes per update and the client runtime's size. It prints
// one Markdown table and writes it, with the machine it ran on, to
// ../BENCHMARKS.md. See README.md.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	sessions   int
	watchers   []int
	rounds     int
	rtt        int
	ping       time.Duration
	cpuprofile string
	memprofile string
	out        string
	timeout    time.Duration
	quick      bool
	command    string

	only           string // "topics": phase 7 and 8 alone
	topicSubs      []int
	topicRounds    int
	present        int
	presenceSubs   int
	presenceRounds int
	massWait       time.Duration
	room           int   // members of the chat room (phase 9)
	bursts         []int // sizes of the bursts across nodes (phase 10)
}

func main() {
	role := flag.String("role", "load", "load (default: runs everything) or server (started by load)")
	sessions := flag.Int("sessions", 10_000, "idle WebSocket sessions, each with its own counter")
	watchers := flag.String("watchers", "1000,10000", "fan-out sizes: watchers of one component, comma separated")
	rounds := flag.Int("rounds", 20, "measured Broadcast rounds per fan-out size")
	rtt := flag.Int("rtt", 2000, "sequential round trips per transport")
	quick := flag.Bool("quick", false, "1,000 sessions and 1,000 watchers (unless set explicitly); prints only, unless -out is given")
	ping := flag.Duration("ping", 30*time.Minute, "server WebSocket ping interval (long, so that no ping lands inside a measurement)")
	cpuprofile := flag.String("cpuprofile", "", "server CPU profile per measured phase: writes PREFIX-<phase>.prof")
	memprofile := flag.String("memprofile", "", "server heap profile after the idle phase: writes PREFIX-idle.prof")
	out := flag.String("out", "../BENCHMARKS.md", "where to write the results (empty: nowhere; with -quick or -only, nowhere unless given)")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up (and stop the server) after this long")
	nofile := flag.Uint64("nofile", 0, "server role: RLIMIT_NOFILE wanted")
	only := flag.String("only", "", `"topics": run only the topics and presence scenario (phases 7 and 8)`)
	topicSubs := flag.String("topic-subs", "1000,10000", "topic sizes: subscribed instances, each watched by one client, comma separated")
	topicRounds := flag.Int("topic-rounds", 15, "measured rounds of each delivery per topic size")
	present := flag.Int("present", 10_000, "instances present in the presence topic")
	presenceSubs := flag.Int("presence-subs", 10, "instances subscribed to the presence topic, each watched by one client")
	presenceRounds := flag.Int("presence-rounds", 10, "measured joins (and leaves)")
	massWait := flag.Duration("mass-wait", 30*time.Second, "how long to wait for every client to show the right count after members join or leave at once")
	room := flag.Int("room", 1000, "members of the chat room, each rendering who is online (phase 9)")
	bursts := flag.String("bursts", "1000,10000", "sizes of the bursts of topic messages from one node to another (phase 10), comma separated")
	flag.Parse()

	if *role == "server" {
		if err := runServer(*ping, *cpuprofile, *memprofile, *nofile); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		return
	}
	if *role != "load" {
		fmt.Fprintln(os.Stderr, "unknown -role", *role)
		os.Exit(2)
	}

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := config{
		sessions: *sessions, rounds: *rounds, rtt: *rtt, ping: *ping,
		cpuprofile: *cpuprofile, memprofile: *memprofile, out: *out,
		timeout: *timeout, quick: *quick,
		only: *only, topicRounds: *topicRounds, present: *present,
		presenceSubs: *presenceSubs, presenceRounds: *presenceRounds, massWait: *massWait,
		room: *room,
	}
	if *only != "" && !set["out"] {
		cfg.out = ""
	}
	if *quick {
		if !set["sessions"] {
			cfg.sessions = 1000
		}
		if !set["watchers"] {
			*watchers = "1000"
		}
		if !set["topic-subs"] {
			*topicSubs = "1000"
		}
		if !set["present"] {
			cfg.present = 1000
		}
		if !set["out"] {
			cfg.out = ""
		}
		if !set["bursts"] {
			*bursts = "1000"
		}
	}
	cfg.watchers = sizes("watchers", *watchers)
	cfg.topicSubs = sizes("topic-subs", *topicSubs)
	cfg.bursts = sizes("bursts", *bursts)
	if cfg.only != "" && cfg.only != "topics" {
		fmt.Fprintln(os.Stderr, `-only takes "topics"`)
		os.Exit(2)
	}
	if cfg.topicRounds <= 0 || cfg.present <= 0 || cfg.presenceSubs <= 0 || cfg.presenceRounds <= 0 || cfg.room <= 0 {
		fmt.Fprintln(os.Stderr, "-topic-rounds, -present, -presence-subs, -presence-rounds and -room must be positive")
		os.Exit(2)
	}
	if cfg.sessions <= 0 || cfg.rounds <= 0 || cfg.rtt < 10 {
		fmt.Fprintln(os.Stderr, "-sessions and -rounds must be positive, -rtt at least 10")
		os.Exit(2)
	}
	cfg.command = strings.TrimSpace("cd bench && go run . " + strings.Join(os.Args[1:], " "))
	if err := runLoad(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serverProc is the server process the load role started.
type serverProc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	pid      int
	addr     string // HTTP and WebSocket
	echoAddr string // raw TCP echo
	once     sync.Once
	done     chan struct{}
}

// startServer re-executes this program with -role server.
func startServer(cfg config, nofile uint64) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-role", "server", "-ping", cfg.ping.String(), "-nofile", strconv.FormatUint(nofile, 10)}
	if cfg.cpuprofile != "" {
		args = append(args, "-cpuprofile", cfg.cpuprofile)
	}
	if cfg.memprofile != "" {
		args = append(args, "-memprofile", cfg.memprofile)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closed when this process ends: the server then exits
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	ready := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		ready <- line
		io.Copy(os.Stderr, br)
	}()
	select {
	case line := <-ready:
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "READY" {
			p.stop()
			return nil, fmt.Errorf("server did not start: %q", line)
		}
		p.addr, p.echoAddr = f[1], f[2]
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("server did not start within 30s")
	}
	return p, nil
}

// stop asks the server to quit, and kills it if it has not within 5 s.
func (p *serverProc) stop() {
	p.once.Do(func() {
		if p.addr != "" {
			c := http.Client{Timeout: 2 * time.Second}
			if resp, err := c.Post("http://"+p.addr+"/ctl/quit", "text/plain", nil); err == nil {
				resp.Body.Close()
			}
		}
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func runLoad(cfg config) error {
	maxW := 0
	for _, w := range cfg.watchers {
		maxW = max(maxW, w)
	}
	for _, n := range cfg.topicSubs {
		maxW = max(maxW, n)
	}
	maxW = max(maxW, cfg.present)
	need := uint64(max(cfg.sessions, maxW) + 256 + cfg.presenceSubs)
	if cfg.only != "" {
		need = uint64(maxW + 256 + cfg.presenceSubs)
	}
	if got := raiseFileLimit(need); got < need {
		return fmt.Errorf("RLIMIT_NOFILE is %d, %d needed: lower -sessions/-watchers or raise the hard limit", got, need)
	}
	srv, err := startServer(cfg, need)
	if err != nil {
		return err
	}
	defer srv.stop()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintln(os.Stderr, "bench: got", s, "- stopping the server")
			srv.stop()
			os.Exit(130)
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				fmt.Fprintln(os.Stderr, "bench: -timeout reached - stopping the server")
				srv.stop()
				os.Exit(2)
			}
		}
	}()

	l := newLoad(cfg, srv)
	res, err := l.run(ctx)
	l.closeAll()
	srv.stop()
	if err != nil {
		return err
	}
	doc := buildReport(cfg, res)
	fmt.Print(doc.table)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(doc.full), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "bench: wrote", cfg.out)
	}
	return nil
}

// sizes parses the comma-separated positive numbers of flag name, or exits.
func sizes(name, v string) []int {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bad -%s: %s\n", name, v)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}
