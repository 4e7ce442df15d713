package fluxredis_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of one test, on a loopback port of
// its own, without persistence unless a test asks for a snapshot.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	Addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    lockedBuffer
}

var quietGoRedis sync.Once

// startRedis starts a redis-server for t and stops it when t ends. Without
// redis-server it skips t, or fails it when CI=true.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	quietGoRedis.Do(func() { redis.SetLogger(discardLogger{}) })
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found (install the Debian package redis-server): %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	s := &redisServer{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", s.out.String())
		}
	})
	var lastErr error
	for try := 0; try < 5; try++ {
		s.port = freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if lastErr = s.Start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v\n%s", lastErr, s.out.String())
	return nil
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts the server on its port (again, after Stop or Kill) and waits
// until it answers PING. A snapshot left by Stop in its directory is loaded.
func (s *redisServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("already running")
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	cmd.Stdout = &s.out
	cmd.Stderr = &s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server exited at start")
		default:
		}
		if reply, err := s.command("PING"); err == nil && reply == "+PONG" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.killLocked()
	return fmt.Errorf("redis-server did not answer PING on %s", s.Addr)
}

// Stop shuts the server down after it saves a snapshot of its data, which
// the next Start loads: a Redis restart that keeps the data.
func (s *redisServer) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if reply, err := s.command("SHUTDOWN", "SAVE"); err == nil && reply != "" {
		s.t.Errorf("SHUTDOWN SAVE answered %q", reply)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redis-server did not shut down")
		s.killLocked()
	}
	s.cmd = nil
}

// Kill ends the server at once; its data is lost (and any snapshot a
// previous Stop left is removed, so the next Start begins empty).
func (s *redisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	os.Remove(s.dir + "/dump.rdb")
}

func (s *redisServer) killLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, as with a hung server or a network partition.
func (s *redisServer) Pause() { s.signal(syscall.SIGSTOP) }

// Resume ends a Pause.
func (s *redisServer) Resume() { s.signal(syscall.SIGCONT) }

func (s *redisServer) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// command sends one inline command over a fresh connection and returns the
// first line of the reply ("" when the server closed the connection
// without one, as SHUTDOWN does).
func (s *redisServer) command(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, strings.Join(args, " ")+"\r\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == io.EOF && line == "" {
		return "", nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

// newClient returns a go-redis client for the server with the short
// timeouts the package documentation recommends, closed when t ends.
func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(clientOptions(addr))
	t.Cleanup(func() { c.Close() })
	return c
}

func clientOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		DialTimeout:           500 * time.Millisecond,
		ReadTimeout:           500 * time.Millisecond,
		WriteTimeout:          500 * time.Millisecond,
		PoolTimeout:           time.Second,
		MaxRetries:            1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}
