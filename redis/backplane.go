package fluxredis

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/redis/go-redis/v9"
)

// Defaults of Backplane.
const (
	// DefaultChannel is the Redis pub/sub channel the nodes share.
	DefaultChannel = "liveflux"
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait before
	// subscribing again after Redis failed; it doubles from one to the
	// other while Redis keeps failing, with jitter.
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// DefaultHealthCheck is how long the subscription may stay silent
	// before the backplane pings Redis; no answer within as long again
	// counts as a failed connection.
	DefaultHealthCheck = 30 * time.Second
)

// Backplane is a liveflux.Backplane over Redis pub/sub: every node
// publishes what its WebSocketHandler sends to watchers on one channel and
// delivers what the other nodes publish to its own clients.
//
// Each message carries the ID of the node that sent it, and a node ignores
// its own (its handler has already delivered them locally). The envelope is
// binary and small: a format byte, the node ID and the component ID, each
// preceded by its length as a uvarint, then the message as the handler
// encoded it.
//
// Subscribe survives Redis failures: it subscribes again, with capped
// exponential backoff, until its context is done. Redis pub/sub delivers at
// most once, so a message published while a node was not subscribed does
// not reach that node's clients; they see the instance's next update, and
// any client that reconnects gets a fresh rendering.
//
// All nodes publish on one channel (WithChannel), and every node receives
// every message; a node drops those for components none of its clients
// watch. Publish costs one Redis round trip.
type Backplane struct {
	client      redis.UniversalClient
	channel     string
	nodeID      string
	minBackoff  time.Duration
	maxBackoff  time.Duration
	healthCheck time.Duration
	logger      *slog.Logger
}

var _ liveflux.Backplane = (*Backplane)(nil)

// BackplaneOption configures a Backplane.
type BackplaneOption func(*Backplane)

// WithChannel sets the pub/sub channel. Defaults to DefaultChannel. Nodes
// of one application use the same channel; separate applications sharing a
// Redis use separate channels.
func WithChannel(name string) BackplaneOption {
	return func(b *Backplane) {
		if name != "" {
			b.channel = name
		}
	}
}

// WithNodeID names this node. Defaults to a random ID, different for each
// Backplane. Two backplanes must never share an ID: each ignores what the
// other publishes.
func WithNodeID(id string) BackplaneOption {
	return func(b *Backplane) {
		if id != "" {
			b.nodeID = id
		}
	}
}

// WithBackoff sets the least and the most time Subscribe waits before
// subscribing again after a failure. Defaults to DefaultMinBackoff and
// DefaultMaxBackoff; values <= 0 keep the defaults.
func WithBackoff(min, max time.Duration) BackplaneOption {
	return func(b *Backplane) {
		if min > 0 {
			b.minBackoff = min
		}
		if max > 0 {
			b.maxBackoff = max
		}
	}
}

// WithHealthCheck sets how long the subscription may stay silent before
// Redis is pinged to check it. Defaults to DefaultHealthCheck; a value <= 0
// keeps the default.
func WithHealthCheck(d time.Duration) BackplaneOption {
	return func(b *Backplane) {
		if d > 0 {
			b.healthCheck = d
		}
	}
}

// WithBackplaneLogger sets where Subscribe reports losing and regaining
// its subscription and malformed messages. Defaults to slog.Default().
func WithBackplaneLogger(l *slog.Logger) BackplaneOption {
	return func(b *Backplane) {
		if l != nil {
			b.logger = l
		}
	}
}

// NewBackplane returns a backplane that publishes and subscribes through
// client. The backplane does not close the client; Subscribe holds one
// connection of its own while it runs.
func NewBackplane(client redis.UniversalClient, opts ...BackplaneOption) *Backplane {
	b := &Backplane{
		client:      client,
		channel:     DefaultChannel,
		nodeID:      rand.Text(),
		minBackoff:  DefaultMinBackoff,
		maxBackoff:  DefaultMaxBackoff,
		healthCheck: DefaultHealthCheck,
		logger:      slog.Default(),
	}
	for _, o := range opts {
		o(b)
	}
	b.maxBackoff = max(b.maxBackoff, b.minBackoff)
	return b
}

// NodeID returns the ID this node's messages carry.
func (b *Backplane) NodeID() string { return b.nodeID }

// Publish implements liveflux.Backplane.
func (b *Backplane) Publish(ctx context.Context, componentID string, msg []byte) error {
	return b.client.Publish(ctx, b.channel, encodeEnvelope(b.nodeID, componentID, msg)).Err()
}

// Subscribe implements liveflux.Backplane. It returns nil once ctx is
// done, however Redis fares; it returns no other error.
func (b *Backplane) Subscribe(ctx context.Context, deliver func(componentID string, msg []byte)) error {
	backoff := b.minBackoff
	failed := false
	for {
		subscribed, err := b.receive(ctx, deliver, failed)
		if ctx.Err() != nil {
			return nil
		}
		if subscribed {
			backoff = b.minBackoff
		}
		wait := backoff/2 + mrand.N(backoff/2+1)
		if !failed || subscribed {
			b.logger.Warn("fluxredis: backplane subscription lost; subscribing again",
				"channel", b.channel, "err", err, "retry_in", wait)
		}
		failed = true
		if sleep(ctx, wait) != nil {
			return nil
		}
		backoff = min(2*backoff, b.maxBackoff)
	}
}

// receive subscribes once and delivers messages until the connection fails
// or ctx is done. It reports whether the subscription was confirmed.
func (b *Backplane) receive(ctx context.Context, deliver func(string, []byte), recovering bool) (subscribed bool, err error) {
	ps := b.client.Subscribe(ctx)
	defer ps.Close()
	// A read blocked on the connection does not watch ctx; closing the
	// PubSub ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()

	if err := ps.Subscribe(ctx, b.channel); err != nil {
		return false, err
	}
	pinged := false
	for {
		m, err := ps.ReceiveTimeout(ctx, b.healthCheck)
		if err != nil {
			if isTimeout(err) && !pinged && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return subscribed, err
				}
				pinged = true
				continue
			}
			return subscribed, err
		}
		pinged = false
		switch m := m.(type) {
		case *redis.Message:
			b.dispatch(m.Payload, deliver)
		case *redis.Subscription:
			if m.Kind == "subscribe" && !subscribed {
				subscribed = true
				if recovering {
					b.logger.Info("fluxredis: backplane subscribed again", "channel", b.channel)
				}
			}
		}
	}
}

// dispatch decodes one envelope and delivers it unless this node sent it.
func (b *Backplane) dispatch(payload string, deliver func(string, []byte)) {
	node, id, msg, ok := decodeEnvelope(payload)
	if !ok {
		b.logger.Warn("fluxredis: malformed backplane message ignored", "channel", b.channel, "bytes", len(payload))
		return
	}
	if node == b.nodeID {
		return
	}
	deliver(id, []byte(msg))
}

// envelopeFormat is the first byte of every envelope.
const envelopeFormat = 1

func encodeEnvelope(node, id string, msg []byte) []byte {
	buf := make([]byte, 0, 1+2*binary.MaxVarintLen16+len(node)+len(id)+len(msg))
	buf = append(buf, envelopeFormat)
	buf = binary.AppendUvarint(buf, uint64(len(node)))
	buf = append(buf, node...)
	buf = binary.AppendUvarint(buf, uint64(len(id)))
	buf = append(buf, id...)
	return append(buf, msg...)
}

func decodeEnvelope(p string) (node, id, msg string, ok bool) {
	if len(p) == 0 || p[0] != envelopeFormat {
		return "", "", "", false
	}
	rest := p[1:]
	if node, rest, ok = cutField(rest); !ok {
		return "", "", "", false
	}
	if id, rest, ok = cutField(rest); !ok {
		return "", "", "", false
	}
	return node, id, rest, true
}

// cutField splits a uvarint-length-prefixed field off the front of s.
func cutField(s string) (field, rest string, ok bool) {
	var n uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if n > uint64(len(s)-i-1) {
				return "", "", false
			}
			return s[i+1 : i+1+int(n)], s[i+1+int(n):], true
		}
		shift += 7
	}
	return "", "", false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
