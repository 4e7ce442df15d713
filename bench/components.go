package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/examples/chat/room"
)

// Counter is the README's counter: one button showing a number.
type Counter struct {
	liveflux.Base
	Count int
}

func (c *Counter) Mount(context.Context, map[string]string) error { return nil }

func (c *Counter) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "inc" {
		c.Count++
	}
	return nil
}

func (c *Counter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<button data-flux-action="inc">Clicked %d times</button>`, c.Count)
	return err
}

// ListRows is how many rows List renders.
const ListRows = 300

// List renders ListRows rows of about 23 bytes each (≈7 KB). Action "set"
// with fields row and value changes the value shown in one row.
type List struct {
	liveflux.Base
	Values []int
}

func (l *List) Mount(context.Context, map[string]string) error {
	l.Values = make([]int, ListRows)
	for i := range l.Values {
		l.Values[i] = 10000 + i
	}
	return nil
}

func (l *List) Handle(_ context.Context, action string, data url.Values) error {
	if action != "set" {
		return nil
	}
	row, err := strconv.Atoi(data.Get("row"))
	if err != nil || row < 0 || row >= len(l.Values) {
		return liveflux.NewError(400, "bad row")
	}
	v, err := strconv.Atoi(data.Get("value"))
	if err != nil {
		return liveflux.NewError(400, "bad value")
	}
	// A new slice: the store's rollback copy is shallow.
	vals := append([]int(nil), l.Values...)
	vals[row] = v
	l.Values = vals
	return nil
}

func (l *List) Render(_ context.Context, w io.Writer) error {
	buf := make([]byte, 0, 24*len(l.Values)+16)
	buf = append(buf, "<ul>"...)
	for i, v := range l.Values {
		buf = append(buf, `<li>row `...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ": "...)
		buf = strconv.AppendInt(buf, int64(v), 10)
		buf = append(buf, "</li>"...)
	}
	buf = append(buf, "</ul>"...)
	_, err := w.Write(buf)
	return err
}

// TopicFeed subscribes, in Mount, to the topic its "topic" parameter
// names, and shows the last message published there: its sequence number
// and text. Every message changes its rendering.
type TopicFeed struct {
	liveflux.Base
	Seq  int
	Text string
}

// topicMessage is what the benchmark publishes.
type topicMessage struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

func (f *TopicFeed) Mount(ctx context.Context, params map[string]string) error {
	return liveflux.Subscribe(ctx, params["topic"])
}

func (f *TopicFeed) Handle(context.Context, string, url.Values) error { return nil }

func (f *TopicFeed) HandleTopic(_ context.Context, msg *liveflux.TopicMessage) error {
	topicCalls(msg.Topic).Add(1)
	var m topicMessage
	if err := msg.Decode(&m); err != nil {
		return err
	}
	f.Seq, f.Text = m.Seq, m.Text
	return nil
}

func (f *TopicFeed) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p>#%d %s</p>`, f.Seq, f.Text)
	return err
}

// handled counts HandleTopic calls per topic: topic → *atomic.Int64.
var handled sync.Map

func topicCalls(topic string) *atomic.Int64 {
	if n, ok := handled.Load(topic); ok {
		return n.(*atomic.Int64)
	}
	n, _ := handled.LoadOrStore(topic, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// PresenceTopic is the topic Member instances are tracked in.
const PresenceTopic = "room"

// members numbers Member instances.
var members atomic.Int64

// Member is tracked in PresenceTopic while a client watches it: a user on
// a page.
type Member struct {
	liveflux.Base
	Name string
}

func (m *Member) Mount(ctx context.Context, _ map[string]string) error {
	m.Name = "user-" + strconv.FormatInt(members.Add(1), 10)
	return liveflux.Track(ctx, PresenceTopic, map[string]string{"name": m.Name})
}

func (m *Member) Handle(context.Context, string, url.Values) error { return nil }

func (m *Member) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<span>%s</span>`, m.Name)
	return err
}

// Online subscribes to PresenceTopic and shows how many are present:
// counted from Presence on every change, or, with the parameter
// "count" = "inc", kept up to date from the joins and leaves.
type Online struct {
	liveflux.Base
	Inc   bool
	Count int
}

// lastChange is the JSON size of the last presence change an Online
// instance received.
var lastChange atomic.Int64

func (o *Online) Mount(ctx context.Context, params map[string]string) error {
	o.Inc = params["topic"] == "inc"
	o.Count = len(liveflux.HandlerOf(ctx).Presence(PresenceTopic))
	return liveflux.Subscribe(ctx, PresenceTopic)
}

func (o *Online) Handle(context.Context, string, url.Values) error { return nil }

func (o *Online) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	topicCalls(msg.Topic).Add(1)
	if msg.Presence == nil {
		// The load process publishes a message when it is done with
		// these subscribers: later joins and leaves are not theirs.
		return liveflux.Unsubscribe(ctx)
	}
	if b, err := json.Marshal(msg.Presence); err == nil {
		lastChange.Store(int64(len(b)))
	}
	if o.Inc {
		o.Count += len(msg.Presence.Joins) - len(msg.Presence.Leaves)
	} else {
		o.Count = len(liveflux.HandlerOf(ctx).Presence(msg.Topic))
	}
	return nil
}

// onlineCounts holds what each Online instance last rendered: instance
// ID → [0 counting from the changes, 1 with Presence; the count].
var onlineCounts sync.Map

func (o *Online) Render(_ context.Context, w io.Writer) error {
	mode := 1
	if o.Inc {
		mode = 0
	}
	onlineCounts.Store(o.GetID(), [2]int{mode, o.Count})
	_, err := fmt.Fprintf(w, `<p>%d online</p>`, o.Count)
	return err
}

// BurstTally subscribes to BurstTopic on the node that mounts it and
// keeps what it received: how many messages, the last, how many came out
// of order, and how many it was told it missed.
type BurstTally struct {
	liveflux.Base
	Count, Last, Order, Missed int
}

// BurstTopic is the topic of phase 10.
const BurstTopic = "burst"

func (b *BurstTally) Mount(ctx context.Context, _ map[string]string) error {
	return liveflux.Subscribe(ctx, BurstTopic)
}

func (b *BurstTally) Handle(context.Context, string, url.Values) error { return nil }

func (b *BurstTally) HandleTopic(_ context.Context, msg *liveflux.TopicMessage) error {
	if n := missedOf(msg); n > 0 {
		b.Missed += n
		return nil
	}
	var n int
	if err := msg.Decode(&n); err != nil {
		return err
	}
	if n != b.Last+1 && b.Missed == 0 {
		b.Order++
	}
	b.Count++
	b.Last = n
	return nil
}

func (b *BurstTally) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p>count=%d last=%d missed=%d</p>`, b.Count, b.Last, b.Missed)
	return err
}

// newRegistry returns a registry holding the benchmark's components, the
// chat example's among them.
func newRegistry() *liveflux.Registry {
	r := liveflux.NewRegistry()
	room.Register(r)
	r.Register("bursttally", func() liveflux.Component { return &BurstTally{} })
	r.Register("counter", func() liveflux.Component { return &Counter{} })
	r.Register("list", func() liveflux.Component { return &List{} })
	r.Register("feed", func() liveflux.Component { return &Counter{} })
	r.Register("topicfeed", func() liveflux.Component { return &TopicFeed{} })
	r.Register("member", func() liveflux.Component { return &Member{} })
	r.Register("online", func() liveflux.Component { return &Online{} })
	return r
}

// idOf extracts the component ID from a rendering.
func idOf(html string) string {
	const attr = liveflux.AttrID + `="`
	for i := 0; i+len(attr) <= len(html); i++ {
		if html[i:i+len(attr)] == attr {
			rest := html[i+len(attr):]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '"' {
					return rest[:j]
				}
			}
		}
	}
	return ""
}
