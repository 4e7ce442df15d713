package fluxredis_test

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// twoNodes starts Redis and two nodes on it, and waits until both
// backplanes are subscribed.
func twoNodes(t *testing.T) (*redisServer, *node, *node) {
	t.Helper()
	return twoNodesCounting(t, nil)
}

// twoNodesCounting is twoNodes whose counters count their Handle calls.
func twoNodesCounting(t *testing.T, runs *atomic.Int64) (*redisServer, *node, *node) {
	t.Helper()
	srv := startRedis(t)
	reg := newRegistry(t, runs)
	a, b := newNode(t, srv.Addr, reg), newNode(t, srv.Addr, reg)
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	return srv, a, b
}

func TestActionOnOneNodeUpdatesClientsOfTheOther(t *testing.T) {
	_, a, b := twoNodes(t)
	id := a.mount()

	cb := dial(t, b)
	cb.send(liveflux.MessageInit, id, "")
	cb.expectCount(id, 0)

	ca := dial(t, a)
	ca.send(liveflux.MessageInit, id, "")
	ca.expectCount(id, 0)
	ca.send(liveflux.MessageAction, id, "inc")
	ca.expectCount(id, 1)
	cb.expectCount(id, 1)

	// An HTTP action on B reaches the WebSocket client on A.
	if status, body := b.act(id, "inc"); status != http.StatusOK || !strings.Contains(body, `<span class="count">2</span>`) {
		t.Fatalf("HTTP action on B: %d %s", status, body)
	}
	ca.expectCount(id, 2)
	cb.expectCount(id, 2)

	// A failed action is an error frame for the one who acted, and changes
	// nothing anywhere.
	ca.send(liveflux.MessageAction, id, "fail")
	if m := ca.expectError(id, 5*time.Second); m.Code != http.StatusInternalServerError {
		t.Fatalf("failed action: %+v", m)
	}
	if got := b.count(id); got != 2 {
		t.Fatalf("Count = %d after a failed action, want 2", got)
	}
	cb.quietFor(200*time.Millisecond, func(m serverMsg) bool { return m.ComponentID == id })

	// An unknown ID is a 404 on both transports.
	ca.send(liveflux.MessageInit, "UNKNOWNUNKNOWNUNKNOWNUNKNO", "")
	if m := ca.expectError("UNKNOWNUNKNOWNUNKNOWNUNKNO", 5*time.Second); m.Code != http.StatusNotFound {
		t.Fatalf("unknown ID over WebSocket: %+v", m)
	}
	if status, _ := b.act("UNKNOWNUNKNOWNUNKNOWNUNKNO", "inc"); status != http.StatusNotFound {
		t.Fatalf("unknown ID over HTTP: %d", status)
	}
}

func TestBroadcastReachesEveryNodeOnce(t *testing.T) {
	_, a, b := twoNodes(t)
	id := a.mount()
	ca, cb := dial(t, a), dial(t, b)
	for _, c := range []*wsClient{ca, cb} {
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
	}
	if err := a.h.Broadcast(id, map[string]string{"type": "notice", "componentID": id, "text": "hello"}); err != nil {
		t.Fatal(err)
	}
	isNotice := func(m serverMsg) bool { return m.Type == "notice" && m.Text == "hello" }
	cb.expect("the broadcast on B", 5*time.Second, isNotice)
	ca.expect("the broadcast on A", 5*time.Second, isNotice)
	// A node ignores its own messages: nobody gets the broadcast twice.
	ca.quietFor(300*time.Millisecond, isNotice)
	cb.quietFor(0, isNotice)

	// Refresh on B re-renders for the clients of both.
	if err := b.h.Refresh(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	ca.expectCount(id, 0)
	cb.expectCount(id, 0)
}

func TestStateSurvivesNodeRestart(t *testing.T) {
	srv, a, b := twoNodes(t)
	reg := newRegistry(t, nil)
	id := a.mount()
	ca := dial(t, a)
	ca.send(liveflux.MessageInit, id, "")
	for i := 1; i <= 3; i++ {
		ca.send(liveflux.MessageAction, id, "inc")
		ca.expectCount(id, i)
	}
	ca.Close()
	a.Close()

	// A new process on the same Redis carries on where A left off.
	a2 := newNode(t, srv.Addr, reg)
	waitFor(t, "the new node to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	c2, cb := dial(t, a2), dial(t, b)
	c2.send(liveflux.MessageInit, id, "")
	c2.expectCount(id, 3)
	cb.send(liveflux.MessageInit, id, "")
	cb.expectCount(id, 3)
	c2.send(liveflux.MessageAction, id, "inc")
	c2.expectCount(id, 4)
	cb.expectCount(id, 4)
}

// 2 nodes × 10 clients × 50 increments of one instance, all at once.
func TestConcurrentIncrementsOnTwoNodes(t *testing.T) {
	var runs atomic.Int64
	_, a, b := twoNodesCounting(t, &runs)
	id := a.mount()
	const perNode, each = 10, 50
	const total = 2 * perNode * each

	type result struct {
		errors []serverMsg
		max    int
		ended  error // why the connection ended, if it did
	}
	var clients []*wsClient
	for _, n := range []*node{a, b} {
		for i := 0; i < perNode; i++ {
			c := dial(t, n)
			c.send(liveflux.MessageInit, id, "")
			c.expectCount(id, 0)
			clients = append(clients, c)
		}
	}
	results := make([]result, len(clients))
	var readers sync.WaitGroup
	for i, c := range clients {
		readers.Add(1)
		go func() {
			defer readers.Done()
			timeout := time.After(30 * time.Second)
			for results[i].max < total {
				select {
				case m, ok := <-c.msgs:
					if !ok {
						results[i].ended = c.err
						return
					}
					if m.Type == liveflux.MessageError {
						results[i].errors = append(results[i].errors, m)
					}
					results[i].max = max(results[i].max, m.count())
				case <-timeout:
					return
				}
			}
		}()
	}
	start := time.Now()
	var senders sync.WaitGroup
	for _, c := range clients {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for j := 0; j < each; j++ {
				if err := c.write(map[string]any{"type": "action", "componentID": id, "action": "inc", "data": map[string]string{}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	senders.Wait()
	readers.Wait()
	elapsed := time.Since(start)
	var full, diffs, stale, resyncs int64
	for _, c := range clients {
		full, diffs, stale, resyncs = full+c.stats.full.Load(), diffs+c.stats.diffs.Load(), stale+c.stats.stale.Load(), resyncs+c.stats.resyncs.Load()
	}
	t.Logf("updates received by the %d clients: %d full, %d diffs applied, %d stale ignored, %d resyncs", len(clients), full, diffs, stale, resyncs)
	for i, r := range results {
		if len(r.errors) > 0 {
			t.Errorf("client %d got errors: %+v", i, r.errors)
		}
		if r.max != total {
			t.Errorf("client %d saw at most %d, want %d", i, r.max, total)
		}
		if r.ended != nil {
			t.Errorf("client %d: connection ended: %v", i, r.ended)
		}
	}
	if got := b.count(id); got != total {
		t.Fatalf("stored Count = %d, want %d", got, total)
	}
	t.Logf("%d increments from 2 nodes × %d clients in %v (%.0f/s); Handle ran %d times (%d reruns after conflicts)",
		total, perNode, elapsed, total/elapsed.Seconds(), runs.Load(), runs.Load()-total)
}

func TestRedisOutageAndRecovery(t *testing.T) {
	srv, a, b := twoNodes(t)
	id := a.mount()
	ca, cb := dial(t, a), dial(t, b)
	for _, c := range []*wsClient{ca, cb} {
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
	}
	ca.send(liveflux.MessageAction, id, "inc")
	ca.expectCount(id, 1)
	cb.expectCount(id, 1)

	// A hung Redis: actions fail within the client's timeouts.
	srv.Pause()
	start := time.Now()
	ca.send(liveflux.MessageAction, id, "inc")
	if m := ca.expectError(id, 10*time.Second); m.Code != http.StatusInternalServerError {
		t.Fatalf("action with Redis hung: %+v", m)
	}
	t.Logf("WebSocket action with Redis hung: error after %v", time.Since(start))
	start = time.Now()
	if status, _ := b.act(id, "inc"); status != http.StatusInternalServerError {
		t.Fatalf("HTTP action with Redis hung: %d", status)
	}
	t.Logf("HTTP action with Redis hung: 500 after %v", time.Since(start))
	srv.Resume()
	waitFor(t, "actions to work after the hang", 10*time.Second, func() bool {
		status, _ := b.post(map[string][]string{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}})
		return status == http.StatusOK
	})
	if got := a.count(id); got != 1 {
		t.Fatalf("Count = %d after the hang, want 1", got)
	}

	// Redis down (shut down with a snapshot, restarted on the same port).
	srv.Stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		ca.send(liveflux.MessageAction, id, "inc")
		if m := ca.expectError(id, 10*time.Second); m.Code != http.StatusInternalServerError {
			t.Fatalf("action with Redis down: %+v", m)
		}
		t.Logf("WebSocket action with Redis down: error after %v", time.Since(start))
		start = time.Now()
		if status, _ := b.act(id, "inc"); status != http.StatusInternalServerError {
			t.Fatalf("HTTP action with Redis down: %d", status)
		}
		t.Logf("HTTP action with Redis down: 500 after %v", time.Since(start))
	}
	if status, _ := a.post(map[string][]string{liveflux.FieldKind: {"counter"}}); status != http.StatusInternalServerError {
		t.Fatalf("mount with Redis down: %d", status)
	}
	// Broadcast still reaches this node's clients; what fails to reach the
	// other nodes is logged (it is published on a goroutine of its own).
	if err := a.h.Broadcast(id, map[string]string{"type": "notice"}); err != nil {
		t.Fatalf("Broadcast with Redis down: %v", err)
	}
	ca.expect("the broadcast on node A", 10*time.Second, func(m serverMsg) bool { return m.Type == "notice" })
	// The WebSocket clients stay connected through the outage.
	ca.send(liveflux.MessageInit, id, "")
	ca.expectError(id, 10*time.Second)

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, "the store to work again", 15*time.Second, func() bool {
		_, err := a.store.Get(context.Background(), id)
		return err == nil
	})
	waitFor(t, "both backplanes to subscribe again", 15*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	t.Logf("recovered %v after Redis came back", time.Since(start))

	// Nothing that failed was applied, nothing that succeeded was lost.
	if got := b.count(id); got != 1 {
		t.Fatalf("Count = %d after the outage, want 1", got)
	}
	ca.send(liveflux.MessageInit, id, "")
	ca.expectCount(id, 1)
	ca.send(liveflux.MessageAction, id, "inc")
	ca.expectCount(id, 2)
	cb.expectCount(id, 2)
	cb.send(liveflux.MessageAction, id, "inc")
	cb.expectCount(id, 3)
	ca.expectCount(id, 3)
	id2 := b.mount()
	if status, _ := a.act(id2, "inc"); status != http.StatusOK {
		t.Fatalf("action on a new instance: %d", status)
	}
}

func TestRedisLosesItsData(t *testing.T) {
	srv, a, b := twoNodes(t)
	id := a.mount()
	ca := dial(t, a)
	ca.send(liveflux.MessageInit, id, "")
	ca.expectCount(id, 0)

	srv.Kill() // no snapshot: the instances are gone
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the nodes to reach Redis again", 15*time.Second, func() bool {
		status, _ := b.act(id, "inc")
		return status == http.StatusNotFound
	})
	ca.send(liveflux.MessageAction, id, "inc")
	if m := ca.expectError(id, 5*time.Second); m.Code != http.StatusNotFound {
		t.Fatalf("action on a forgotten instance: %+v", m)
	}
	// What a client does then: mount again, and carry on.
	id2 := b.mount()
	ca.send(liveflux.MessageInit, id2, "")
	ca.expectCount(id2, 0)
	ca.send(liveflux.MessageAction, id2, "inc")
	ca.expectCount(id2, 1)
}

func TestGoroutinesEndAfterClose(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	// Warm up what starts once per process (HTTP transports, timers).
	warm := newNode(t, srv.Addr, reg)
	warm.act(warm.mount(), "inc")
	dial(t, warm).Close()
	warm.Close()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	a, b := newNode(t, srv.Addr, reg), newNode(t, srv.Addr, reg)
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	id := a.mount()
	var clients []*wsClient
	for _, n := range []*node{a, b, a, b} {
		c := dial(t, n)
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
		clients = append(clients, c)
	}
	clients[0].send(liveflux.MessageAction, id, "inc")
	for _, c := range clients {
		c.expectCount(id, 1)
	}
	if err := b.h.Broadcast(id, map[string]string{"type": "notice", "text": "bye"}); err != nil {
		t.Fatal(err)
	}
	a.act(id, "inc")

	a.Close()
	b.Close()
	for _, c := range clients {
		c.Close()
	}
	var after int
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = runtime.NumGoroutine()
		if after <= baseline || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after > baseline {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after Close, %d before:\n%s", after, baseline, filterStacks(buf))
	}
	if n := subscribers(t, srv.Addr); n != 0 {
		t.Fatalf("%d subscriptions left after Close", n)
	}
}

// filterStacks drops the stacks of the testing framework.
func filterStacks(all []byte) string {
	var out []string
	for _, g := range bytes.Split(all, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("testing.(*T).Run")) && !bytes.Contains(g, []byte("testing.tRunner")) {
			out = append(out, string(g))
		}
	}
	return strings.Join(out, "\n\n")
}

// Instances bound to a session (liveflux.WithSessionKey) stay bound on
// every node: the binding is part of what the store keeps.
func TestSessionBindingHoldsAcrossNodes(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	session := liveflux.WithSessionKey(func(r *http.Request) string {
		if c, err := r.Cookie("sid"); err == nil {
			return c.Value
		}
		return ""
	})
	a, b := newNode(t, srv.Addr, reg, session), newNode(t, srv.Addr, reg, session)
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	alice := http.Header{"Cookie": {"sid=alice-secret"}}
	bob := http.Header{"Cookie": {"sid=bob-secret"}}

	status, body := a.postWith(alice, map[string][]string{liveflux.FieldKind: {"counter"}})
	if status != http.StatusOK {
		t.Fatalf("mount: %d %s", status, body)
	}
	id := idRE.FindStringSubmatch(body)[1]

	if raw := a.client.HGet(context.Background(), a.store.Key(id), "d").Val(); strings.Contains(raw, "alice-secret") {
		t.Fatalf("the store keeps the session key itself: %s", raw)
	}
	act := map[string][]string{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}}
	if status, _ := b.postWith(bob, act); status != http.StatusNotFound {
		t.Fatalf("another session's action on B: %d, want 404", status)
	}
	if status, _ := b.postWith(alice, act); status != http.StatusOK {
		t.Fatalf("the owner's action on B: %d", status)
	}
	cb := dialWith(t, b, bob)
	cb.send(liveflux.MessageInit, id, "")
	if m := cb.expectError(id, 5*time.Second); m.Code != http.StatusNotFound {
		t.Fatalf("another session's init on B: %+v", m)
	}
	ca := dialWith(t, b, alice)
	ca.send(liveflux.MessageInit, id, "")
	ca.expectCount(id, 1)
	ca.send(liveflux.MessageAction, id, "inc")
	ca.expectCount(id, 2)
	if got := a.count(id); got != 2 {
		t.Fatalf("Count = %d, want 2 (another session's action must not count)", got)
	}
}
