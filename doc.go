// Package liveflux builds interactive web UIs from server-side Go components.
//
// A component keeps its state on the server and implements Mount, Handle
// and Render. An embedded JavaScript client (served by the handler, loaded
// with Script) mounts components into the page, sends the user's actions to
// the server over HTTP POST or one WebSocket per page, and morphs the HTML
// the server renders into the DOM, keeping focus and typed text.
//
//	type Counter struct {
//		liveflux.Base
//		Count int
//	}
//
//	func (c *Counter) Mount(ctx context.Context, p map[string]string) error { return nil }
//	func (c *Counter) Handle(ctx context.Context, action string, _ url.Values) error {
//		if action == "inc" {
//			c.Count++
//		}
//		return nil
//	}
//	func (c *Counter) Render(ctx context.Context, w io.Writer) error {
//		_, err := fmt.Fprintf(w, `<button data-flux-action="inc">%d</button>`, c.Count)
//		return err
//	}
//
//	liveflux.RegisterByKind("counter", func() liveflux.Component { return &Counter{} })
//	mux.Handle("/liveflux", liveflux.NewHandlerWS(nil))
//
// A page shows a component either rendered in place for the first paint
// (Handler.Mount) or as a placeholder the client mounts after load
// (Placeholder), and includes Script once.
//
// Beyond components, an application: state that lives in the page's URL
// (URLComponent, PatchURL, fields tagged url), pages loaded without a
// reload, client commands and flash messages (Flash) are markup and Go;
// mount parameters only the server may set are sealed (SealedParams).
//
// NewHandler serves HTTP only. NewWebSocketHandler (or NewHandlerWS) serves
// the same endpoint over HTTP and WebSocket and adds server push: Broadcast
// sends a payload to every client watching a component, Refresh sends them
// a fresh rendering. PROTOCOL.md in the repository describes the wire
// protocol.
//
// # Concurrency
//
// Mount, Handle, HandleWS and Render of one component instance never run
// concurrently with each other: every action goes through Store.Update,
// which gives one caller at a time exclusive access to an instance, whether
// the action came over HTTP or WebSocket. Different instances run in
// parallel. A component therefore needs no locking for its own fields, but
// state it shares with other instances (a package variable, a database)
// needs its own synchronization.
//
// A WebSocket connection is read by the handler's own frame reader
// (gorilla does the handshake and the writes), on a goroutine that runs
// only while the client sends: once the socket has had nothing to read
// for a moment, the reader arms the handler's poller (epoll, on Linux)
// and ends, so an idle connection holds no goroutine and no buffer;
// elsewhere, and on TLS sockets the Go server terminates, a reader waits
// in its read as a goroutine per connection. A reader that reads a
// message handles it and hands the reading on to a new goroutine, which
// reads on (so that a connection that closes during a long action ends its
// context) but hands over the next message only once this one is handled:
// messages from one connection are handled in order. At most one goroutine
// writes to a connection at any time: the message handler when it has a
// reply, or a writer started only while messages are queued. Broadcast,
// Refresh and the fan-out after an action only append to the connections'
// bounded queues and never wait for a client; a client whose queue
// overflows is disconnected and catches up when it reconnects. What goes to
// other nodes through a Backplane waits in one outbox and is published in
// order, in batches, by a goroutine that runs while there is something to
// publish, so no request waits for the network. No lock is held across
// network I/O or a component's code.
//
// Topic messages, presence changes and Watching calls reach an instance
// through its mailbox: one delivery at a time per instance, under its lock
// like an action, on a few workers that run while something waits. A
// worker never waits for an instance an action holds; that delivery moves
// to a goroutine of its own. Each topic keeps one log of its messages for
// all its subscribers, each read from where it stands; a subscriber that
// cannot be handed its messages (it fell behind the backlog, the store
// failed, messages were lost between nodes) is told how many it missed
// (TopicMessage.Missed): nothing is dropped silently.
//
// Refresh waits for the instance like an action does. Calling Refresh on a
// component from within an action on that same component deadlocks;
// refreshing other components from within an action should happen in a
// goroutine, so that two actions refreshing each other cannot wait for each
// other.
//
// Handlers, stores and registries are safe for concurrent use.
//
// # Where things are
//
// One concept per file, for readers of the source:
//
//	component.go   Component, Base (kind, ID, revision, redirects)
//	registry.go    kinds → factories; DefaultRegistry, RegisterByKind
//	engine.go      mount, act, render: the transport-neutral core; the
//	               update sink it hands every rendering to
//	scope.go       the context a component's method is given (HandlerOf)
//	handler.go     Handler: the HTTP transport and its options
//	body.go        reading POST bodies: size, read deadline (WithBodyReadTimeout)
//	upload.go      files of multipart actions (FormFiles) and their limits
//	validation.go  Trigger and Touched: which field sent an action
//	session.go     binding instances to the session that mounted them
//	limits.go      per-client limits: quotas, parameter size, HTTP rate
//	size.go        how many bytes an instance holds (for the store's caps)
//	proxy.go       client addresses and sites; WithTrustedProxies
//	ratelimit.go   token buckets per client address
//	render.go      the root element, placeholders, buffers
//	errors.go      Error, sentinel errors, what a client is told
//	protocol.go    the WebSocket envelope and the server's messages
//	protocol_gen.go names shared with the JS client (from protocol.json)
//	peer.go        a client that watches components, whatever its
//	               transport: what the hub and the updates talk to
//	websocket.go   WebSocketHandler: handshake, Broadcast, Refresh, Close
//	options.go     the WebSocketHandler's options and defaults
//	conn.go        one connection (a peer): set-up, init/action/leave
//	read.go        its reader; frame.go its frames; poll_linux.go the
//	               poller of idle connections; write.go its writer
//	liveness.go    pings and the pong wait
//	hub.go         who watches which component
//	updates.go     renderings to watchers: revisions, diff baseline
//	diff.go        the diff of two renderings, in one span
//	edits.go       the diff of two renderings, as edits anywhere
//	stream.go      streams: items a component sends and does not keep
//	metrics.go     Metrics and Measure: what a handler did, for operators
//	topic.go       Subscribe, Publish, HandleTopic, the Watching hook
//	subscriptions.go who subscribes to what: each topic's log of messages
//	mailbox.go     delivering them (and Watching calls) to each instance
//	event.go       Emit: events for the page, and their bounds
//	flash.go       Flash: messages for the page's data-flux-flash regions
//	url.go         URLComponent, PatchURL, url tags: state in the page's URL
//	seal.go        SealedParams, WithParamKey: mount parameters kept out of the page
//	presence.go    Track and Presence: who is here, on every node
//	backplane.go   Backplane, and the outbox to the other nodes
//	batch.go       the numbered, signed batches between nodes
//	store.go       Store; memstore.go MemoryStore; codec.go encodes
//	               instances for stores outside the process
//	script.go      the client runtime bundle (js/) and Script
//
// internal/wire is the protocol as a Go client reads it, for the tests of
// every module, fluxtest and the load program.
package liveflux

//go:generate go run ./internal/protocolgen
