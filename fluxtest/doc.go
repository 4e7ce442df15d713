// Package fluxtest tests Liveflux components the way users use them,
// without a browser.
//
// It serves a real liveflux handler on loopback (Serve) and drives it
// through the real wire protocol with simulated pages (Client): each page
// mounts components, turns clicks, submits and key presses into actions
// with the JS client's own rules, sends them over one WebSocket (or HTTP
// POST, as the client does when its socket is closed or an action carries
// files), and applies every update it receives as the client does: diff
// updates on the rendering they are based on, never an older revision,
// a re-mount when the server lost an instance.
//
//	func TestCounter(t *testing.T) {
//		reg := liveflux.NewRegistry()
//		reg.Register("counter", func() liveflux.Component { return &Counter{} })
//		srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg)))
//
//		v := srv.Client(t).Mount("counter", nil)
//		v.Click("button")
//		v.AssertText("button", "Clicked 1 times")
//	}
//
// # Markup and components must agree
//
// A gesture fails the test when the page would not do what the test
// says: the selector matches no element or several, a Click sends no
// action (no data-flux-action there, a required field left empty), or
// the server answers with an error (the markup names an action the
// component does not handle). The failure shows the rendering around
// where the selector stopped matching. ExpectError says an action must
// fail.
//
// The rules that derive an action and its fields from markup and an event
// are the client's, checked against the cases in the repository's
// testdata/client/actions.json, which the JS client's tests replay too.
// Timers are not simulated: a debounced or throttled trigger sends at
// once, and Trigger runs an "every" or "visible" trigger once.
//
// # What came of a gesture
//
// Each gesture returns an Outcome: the actions sent (name, fields, files,
// transport), the error the server answered with, the redirect, the
// events the component emitted (liveflux.Emit) and HandleWS's replies.
// What a component publishes to a topic shows in the pages watching its
// subscribers; Broadcast payloads and every other frame a page received
// are in Client.Messages.
//
// # The page's URL, commands, errors
//
// A page knows its URL (Client.URL) and the history it made: a click on
// a data-flux-patch link, an action's patch (PatchURL, a field tagged
// url) change it, Client.Back and Client.Forward walk it, and the
// components that live in the URL are told each time, over the socket or
// HTTP, as the JS client does. A link in a data-flux-navigate region
// opens its page (Open). Client commands (data-flux-do) change the page
// as in a browser (transitions are not simulated) and stay through
// updates; a command the client does not know fails the test. An
// action's error shows in the component's data-flux-error regions until
// its next action. Flash messages are events (Outcome.Events).
//
// # Several clients and faults
//
// Several pages (Server.Client, Client.NewTab for a tab of the same
// browser) may watch one instance (Client.Watch): one acts, the others are
// sent the update. Client.Drop cuts a page's socket (its actions then go
// over HTTP) and Client.Reconnect brings it back up to date. Deleting an
// instance from the store makes the next action fail with 404 and the
// page mount the component again. HTTPOnly runs a page without a socket.
// MemoryBackplane connects several handlers sharing a store, as the nodes
// of one application.
//
// # Waiting
//
// Nothing sleeps. Every read and assertion first brings the page up to
// date with everything the server sent it (one round trip on its socket:
// the server answers a connection's messages in order). Updates the
// server pushes on its own (a Refresh from a goroutine, another node)
// are waited for with View.WaitText, View.WaitFor or Client.WaitMessage,
// which wake on every frame received and fail at a deadline
// (DefaultTimeout, WithTimeout).
//
// Pages report to the testing.TB they were made with, so they work in
// parallel tests and subtests; the harness is race-free.
//
// To sync, a page's socket sends init for an ID no instance has
// ("fluxtest.sync.N") and waits for the server's 404: one extra message
// per read, which a message validator or rate limit also sees.
package fluxtest
