package liveflux

import "sync"

// peer is one client that watches components, whatever carries its
// messages: a WebSocket connection (conn.go) today. The hub and the
// updates reach clients only through this interface, so another transport
// (server-sent events, a test peer) plugs in by implementing it.
type peer interface {
	// send queues f for the client without waiting for it. With kick the
	// peer starts sending; the peer whose message is being handled is
	// sent what it was queued without kick once it is done (so a reply
	// leaves without a hand-off). A peer whose queue is full drops itself:
	// its client catches up when it reconnects.
	send(f frame, kick bool)
	// speaks says which version of updates the client asked for in its
	// handshake: fullUpdates, spanDiffs or edits.
	speaks() updateKind
}

// updateKind is the form of updates a client takes.
type updateKind uint8

const (
	// fullUpdates: every update is the whole rendering (data.html), as
	// the first version of the protocol has it.
	fullUpdates updateKind = iota
	// spanDiffs: diffs of one span (data.diff; SubprotocolDiff).
	spanDiffs
	// edits: diffs of any number of edits (data.edits), and stream frames
	// (SubprotocolV2).
	edits
	updateKinds
)

// frame is one message for one peer or for many.
type frame struct {
	data []byte
	// shared, when set, is what a transport prepares from data once for
	// all the peers it goes to (a WebSocket frame: see write.go).
	shared *sharedFrame
}

type sharedFrame struct {
	once     sync.Once
	prepared any
}

// preparedFrom is the number of peers from which a message is framed once
// for all (which costs a buffer) instead of once per peer.
const preparedFrom = 4

// frameFor makes data ready to be sent to n peers.
func frameFor(data []byte, n int) frame {
	if n >= preparedFrom {
		return frame{data: data, shared: new(sharedFrame)}
	}
	return frame{data: data}
}
