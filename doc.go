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
// Each WebSocket connection has one goroutine that reads. Each message it
// reads is handled on a short-lived goroutine while the reader waits, so
// messages from one connection are handled in order and an idle
// connection keeps only a small stack. At most one goroutine writes to a
// connection at any time: the message handler when it has a reply, or a
// writer started only while messages are queued. Broadcast, Refresh and the fan-out after an action
// only append to the connections' bounded queues and never wait for a
// client; a client whose queue overflows is disconnected and catches up
// when it reconnects. No lock is held across network I/O or a component's
// code.
//
// Refresh waits for the instance like an action does. Calling Refresh on a
// component from within an action on that same component deadlocks;
// refreshing other components from within an action should happen in a
// goroutine, so that two actions refreshing each other cannot wait for each
// other.
//
// Handlers, stores and registries are safe for concurrent use.
package liveflux

//go:generate go run ./internal/protocolgen
