package fluxredis_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
	fluxredis "github.com/go-liveflux/liveflux/redis"
)

// tally subscribes to topic "tally" and keeps a running total of the
// numbers published there. Told it missed messages, it reloads the total
// from the source of truth (ledger), as a component reloads from its
// database. Order counts the messages that came out of order.
type tally struct {
	liveflux.Base
	Total, Count, Last, Order, Missed, Notices int
	ledger                                     *atomic.Int64
}

func (t *tally) Mount(ctx context.Context, _ map[string]string) error {
	return liveflux.Subscribe(ctx, "tally")
}
func (t *tally) Handle(context.Context, string, url.Values) error { return nil }
func (t *tally) HandleTopic(_ context.Context, msg *liveflux.TopicMessage) error {
	if msg.Missed > 0 {
		t.Missed += msg.Missed
		t.Notices++
		t.Total = int(t.ledger.Load())
		return nil
	}
	var n int
	if err := msg.Decode(&n); err != nil {
		return err
	}
	if n != t.Last+1 && t.Notices == 0 {
		t.Order++
	}
	t.Count++
	t.Last = n
	if t.Notices == 0 {
		t.Total += n
	} else {
		t.Total = int(t.ledger.Load())
	}
	return nil
}
func (t *tally) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "total=%d count=%d last=%d", t.Total, t.Count, t.Last)
	return err
}

// tallyRegistry is newRegistry with kind "tally"; ledger is what the test
// published in all.
func tallyRegistry(t testing.TB) (*liveflux.Registry, *atomic.Int64) {
	t.Helper()
	r := newRegistry(t, nil)
	ledger := new(atomic.Int64)
	if err := r.Register("tally", func() liveflux.Component { return &tally{ledger: ledger} }); err != nil {
		t.Fatal(err)
	}
	return r, ledger
}

// mountTally mounts a tally on n (it subscribes there) and returns its ID.
func (n *node) mountTally() string {
	n.t.Helper()
	status, body := n.post(url.Values{liveflux.FieldKind: {"tally"}})
	if status != http.StatusOK {
		n.t.Fatalf("mount: %d %s", status, body)
	}
	return idRE.FindStringSubmatch(body)[1]
}

// tallyOf reads the stored tally id.
func (n *node) tallyOf(id string) *tally {
	n.t.Helper()
	c, err := n.store.Get(context.Background(), id)
	if err != nil {
		n.t.Fatalf("get %s: %v", id, err)
	}
	return c.(*tally)
}

// publish publishes the numbers from … to to topic "tally" on n,
// recording each in ledger first.
func (n *node) publish(ledger *atomic.Int64, from, to int) {
	n.t.Helper()
	for i := from; i <= to; i++ {
		ledger.Add(int64(i))
		if err := n.h.Publish(context.Background(), "tally", i); err != nil {
			n.t.Fatal(err)
		}
	}
}

// Guards against: topic messages to other nodes shared one outbox of 64,
// emptied when it overflowed: of 1,000 messages published in a burst on
// node A, the subscriber on node B handled 40 (of 10,000, 80). Now every
// one is handled, in order.
func TestTopicBurstAcrossNodes(t *testing.T) {
	for _, n := range []int{1000, 10_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv := startRedis(t)
			reg, ledger := tallyRegistry(t)
			a, b := newNode(t, srv.Addr, reg), newNode(t, srv.Addr, reg)
			waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
			id := b.mountTally()
			start := time.Now()
			a.publish(ledger, 1, n)
			waitFor(t, "every message handled on node B", time.Minute, func() bool { return b.tallyOf(id).Last == n })
			t.Logf("%d messages published on A, handled on B in %v", n, time.Since(start).Round(time.Millisecond))
			got := b.tallyOf(id)
			if got.Count != n || got.Order != 0 || got.Missed != 0 || got.Total != n*(n+1)/2 {
				t.Fatalf("handled %d of %d, %d out of order, %d missed, total %d", got.Count, n, got.Order, got.Missed, got.Total)
			}
		})
	}
}

// Redis stops in the middle of a burst and comes back: what it could not
// carry (or the store could not hold meanwhile) is not lost silently. The
// subscriber on node B either handled every message or was told it missed
// some, and ends on the truth.
func TestRedisRestartMidBurst(t *testing.T) {
	srv := startRedis(t)
	reg, ledger := tallyRegistry(t)
	a, b := newNode(t, srv.Addr, reg), newNode(t, srv.Addr, reg)
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	id := b.mountTally()
	a.publish(ledger, 1, 3000)
	srv.Stop()
	a.publish(ledger, 3001, 6000)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both backplanes to subscribe again", 20*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	a.publish(ledger, 6001, 9000)
	waitFor(t, "the last message handled on node B", time.Minute, func() bool { return b.tallyOf(id).Last == 9000 })
	got := b.tallyOf(id)
	t.Logf("handled %d of 9,000; told of %d missed in %d notices", got.Count, got.Missed, got.Notices)
	if got.Count < 9000 && got.Notices == 0 {
		t.Fatalf("handled %d of 9,000 without being told of the rest", got.Count)
	}
	if want := int(ledger.Load()); got.Total != want {
		t.Fatalf("total %d, want %d", got.Total, want)
	}
}

// Guards against: anything that could PUBLISH on the Redis channel pushed
// raw frames to browsers, and an update with a huge revision froze the
// component on that node. A forger publishing on the channel: without a
// key, its messages of the old form are ignored and its impossible
// revision refused (a plausible one only a key stops); with
// WithBackplaneKey, nothing it sends is taken.
func TestForgedEnvelopes(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("key=%v", keyed), func(t *testing.T) {
			srv := startRedis(t)
			reg := newRegistry(t, nil)
			var opts []liveflux.WebSocketOption
			if keyed {
				opts = append(opts, liveflux.WithBackplaneKey([]byte("a shared key of the application's nodes")))
			}
			a, b := newNode(t, srv.Addr, reg, opts...), newNode(t, srv.Addr, reg, opts...)
			forger := fluxredis.NewBackplane(newClient(t, srv.Addr))
			waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
			id := a.mount()
			c := dial(t, b)
			c.send(liveflux.MessageInit, id, "")
			shown := c.expectCount(id, 0)
			var rev int
			fmt.Sscanf(shown.HTML[strings.Index(shown.HTML, `data-flux-rev="`)+len(`data-flux-rev="`):], "%d", &rev)
			forged := func(rev int) string {
				return fmt.Sprintf(`{"type":"update","componentID":%q,"data":{"html":"<div data-flux-component-kind=\"counter\" data-flux-component-id=\"%s\" data-flux-rev=\"%d\"><span class=\"count\">666</span> FORGED</div>"}}`, id, id, rev)
			}
			ctx := context.Background()
			publish := func(channel string, msg []byte) {
				t.Helper()
				if err := forger.Publish(ctx, channel, msg); err != nil {
					t.Fatal(err)
				}
			}
			publish(id, []byte(forged(1e12)))                                    // the old form
			publish("\x00nodes", wire.Batch("forger", 0, nil, id, forged(1e12))) // an impossible revision
			if keyed {
				publish("\x00nodes", wire.Batch("forger2", 0, nil, id, forged(rev+1)))             // plausible, unsigned
				publish("\x00nodes", wire.Batch("forger3", 0, []byte("guess"), id, forged(rev+1))) // signed with a guess
			}
			if status, body := a.act(id, "inc"); status != http.StatusOK {
				t.Fatalf("act: %d %s", status, body)
			}
			// Node B handles what Redis delivers in order: once the real
			// update shows, every forged message was handled.
			c.expect("the real update", 10*time.Second, func(m serverMsg) bool {
				if strings.Contains(string(m.raw), "FORGED") || strings.Contains(m.HTML, "FORGED") {
					t.Fatalf("a forged message reached the client: %s", m.raw)
				}
				return m.ComponentID == id && m.count() == 1
			})
		})
	}
}
