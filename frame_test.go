package liveflux_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// rawFrame encodes a client frame: fin, rsv bits (4: RSV1), opcode and
// payload, masked unless unmasked.
func rawFrame(fin bool, rsv, op byte, payload []byte, unmasked bool) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	mask := byte(0x80)
	if unmasked {
		mask = 0
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mask|byte(n))
	case n < 1<<16:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if unmasked {
		return append(out, payload...)
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// dialRawFrames opens a socket to f (offering compression when deflate)
// whose frames the test writes itself, and reads with gorilla.
func dialRawFrames(t *testing.T, f *fixture, deflate bool) *websocket.Conn {
	t.Helper()
	d := f.dialer
	d.EnableCompression = deflate
	ws, _, err := d.Dial(f.wsURL, nil)
	assertNoError(t, err)
	t.Cleanup(func() { ws.Close() })
	return ws
}

func writeRaw(t *testing.T, ws *websocket.Conn, frames ...[]byte) {
	t.Helper()
	_, err := ws.NetConn().Write(bytes.Join(frames, nil))
	assertNoError(t, err)
}

// readUntilClose reads messages until the server closes, and returns the
// messages and the close error.
func readUntilClose(t *testing.T, ws *websocket.Conn) ([]string, error) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	var got []string
	for {
		_, m, err := ws.ReadMessage()
		if err != nil {
			return got, err
		}
		got = append(got, string(m))
	}
}

func deflated(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, 1)
	w.Write([]byte(s))
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// The server reads frames as RFC 6455 has them: a message in fragments
// with control frames between them, compressed messages (one frame or
// several), pings answered; and it closes on what breaks the protocol.
func TestFrames(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t)
	init := []byte(`{"type":"init","componentID":"` + id + `"}`)
	inc := []byte(`{"type":"action","componentID":"` + id + `","action":"inc"}`)

	t.Run("fragments and a ping between them", func(t *testing.T) {
		ws := dialRawFrames(t, f, false)
		pong := make(chan string, 1)
		ws.SetPongHandler(func(s string) error { pong <- s; return nil })
		writeRaw(t, ws,
			rawFrame(false, 0, websocket.TextMessage, init[:5], false),
			rawFrame(true, 0, websocket.PingMessage, []byte("hi"), false),
			rawFrame(false, 0, 0, init[5:20], false),
			rawFrame(true, 0, 0, init[20:], false),
		)
		ws.SetReadDeadline(time.Now().Add(waitTimeout))
		_, m, err := ws.ReadMessage() // reads the pong on the way
		assertNoError(t, err)
		if !strings.Contains(string(m), `"type":"update"`) {
			t.Fatalf("got %s, want the rendering", m)
		}
		select {
		case p := <-pong:
			assertEqual(t, p, "hi", "pong")
		default:
			t.Fatal("the ping was not answered before the rendering")
		}
	})

	t.Run("compressed, in one frame and in three", func(t *testing.T) {
		ws := dialRawFrames(t, f, true)
		z := deflated(t, string(init))
		writeRaw(t, ws, rawFrame(true, 4, websocket.TextMessage, z, false))
		ws.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, m, err := ws.ReadMessage(); err != nil || !strings.Contains(string(m), "count=") {
			t.Fatalf("compressed init: %s, %v", m, err)
		}
		z = deflated(t, string(inc))
		writeRaw(t, ws,
			rawFrame(false, 4, websocket.TextMessage, z[:3], false),
			rawFrame(false, 0, 0, z[3:7], false),
			rawFrame(true, 0, 0, z[7:], false),
		)
		if _, m, err := ws.ReadMessage(); err != nil || !strings.Contains(string(m), `"type":"update"`) {
			t.Fatalf("compressed action in fragments: %s, %v", m, err)
		}
	})

	for _, tc := range []struct {
		name    string
		frames  [][]byte
		deflate bool
		code    int
	}{
		{"unmasked", [][]byte{rawFrame(true, 0, websocket.TextMessage, init, true)}, false, websocket.CloseProtocolError},
		{"reserved bits", [][]byte{rawFrame(true, 2, websocket.TextMessage, init, false)}, false, websocket.CloseProtocolError},
		{"compressed without negotiating it", [][]byte{rawFrame(true, 4, websocket.TextMessage, deflated(t, string(init)), false)}, false, websocket.CloseProtocolError},
		{"continuation without a message", [][]byte{rawFrame(true, 0, 0, init, false)}, false, websocket.CloseProtocolError},
		{"a message inside a message", [][]byte{rawFrame(false, 0, websocket.TextMessage, init[:3], false), rawFrame(true, 0, websocket.TextMessage, init, false)}, false, websocket.CloseProtocolError},
		{"a long control frame", [][]byte{rawFrame(true, 0, websocket.PingMessage, make([]byte, 126), false)}, false, websocket.CloseProtocolError},
		{"a fragmented control frame", [][]byte{rawFrame(false, 0, websocket.PingMessage, nil, false)}, false, websocket.CloseProtocolError},
		{"an unknown opcode", [][]byte{rawFrame(true, 0, 3, init, false)}, false, websocket.CloseProtocolError},
		{"over the read limit in fragments", [][]byte{rawFrame(false, 0, websocket.TextMessage, make([]byte, 40<<10), false), rawFrame(true, 0, 0, make([]byte, 40<<10), false)}, false, websocket.CloseMessageTooBig},
		{"one frame over the read limit", [][]byte{rawFrame(true, 0, websocket.TextMessage, make([]byte, 65<<10), false)}, false, websocket.CloseMessageTooBig},
		{"a bomb: 1 MiB compressed to 1 KiB", [][]byte{rawFrame(true, 4, websocket.TextMessage, deflated(t, strings.Repeat("a", 1<<20)), false)}, true, websocket.CloseMessageTooBig},
		{"invalid UTF-8", [][]byte{rawFrame(true, 0, websocket.TextMessage, []byte{0xff, 0xfe}, false)}, false, websocket.CloseInvalidFramePayloadData},
		{"binary", [][]byte{rawFrame(true, 0, websocket.BinaryMessage, init, false)}, false, websocket.CloseUnsupportedData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialRawFrames(t, f, tc.deflate)
			writeRaw(t, ws, tc.frames...)
			if _, err := readUntilClose(t, ws); !websocket.IsCloseError(err, tc.code) {
				t.Fatalf("got %v, want close %d", err, tc.code)
			}
		})
	}

	t.Run("a close with a code no client may send is answered with 1002", func(t *testing.T) {
		ws := dialRawFrames(t, f, false)
		writeRaw(t, ws, rawFrame(true, 0, websocket.CloseMessage, []byte{0, 0}, false))
		if _, err := readUntilClose(t, ws); !websocket.IsCloseError(err, websocket.CloseProtocolError) {
			t.Fatalf("got %v, want close 1002", err)
		}
	})

	t.Run("a close without a code is answered without one", func(t *testing.T) {
		ws := dialRawFrames(t, f, false)
		writeRaw(t, ws, rawFrame(true, 0, websocket.CloseMessage, nil, false))
		if _, err := readUntilClose(t, ws); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
			t.Fatalf("got %v, want a close frame without a code", err)
		}
	})

	t.Run("a close is answered with its code", func(t *testing.T) {
		ws := dialRawFrames(t, f, false)
		writeRaw(t, ws, rawFrame(true, 0, websocket.CloseMessage, websocket.FormatCloseMessage(4321, "bye"), false))
		if _, err := readUntilClose(t, ws); !websocket.IsCloseError(err, 4321) {
			t.Fatalf("got %v, want the close echoed with 4321", err)
		}
	})
}

// An idle connection holds no goroutine on Linux: 300 connections that
// each watch a component and then say nothing leave the process with a
// handful of goroutines more than before (the reader of each went away
// once its socket had nothing more to read; the poller wakes one when
// bytes arrive), and each still answers at once.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux only; elsewhere a connection keeps a reader goroutine")
	}
	f, id := counterFixture(t)
	before := runtime.NumGoroutine()
	var conns []*websocket.Conn
	for range 300 {
		ws, _, err := f.dialer.Dial(f.wsURL, nil)
		assertNoError(t, err)
		defer ws.Close()
		assertNoError(t, ws.WriteJSON(map[string]string{"type": "init", "componentID": id}))
		ws.SetReadDeadline(time.Now().Add(waitTimeout))
		_, _, err = ws.ReadMessage()
		assertNoError(t, err)
		conns = append(conns, ws)
	}
	var now int
	waitFor(t, "the readers to go idle", func() bool { now = runtime.NumGoroutine(); return now-before < 20 })
	for i, ws := range conns[:10] {
		assertNoError(t, ws.WriteJSON(actionMsg(id, "inc", nil)))
		ws.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, m, err := ws.ReadMessage(); err != nil || !strings.Contains(string(m), "count=") {
			t.Fatalf("connection %d after idling: %s, %v", i, m, err)
		}
	}
	t.Logf("300 idle connections: %d goroutines more", now-before)
	_ = liveflux.DefaultReadLimit
}

// readServerOps reads the server's frames from ws's socket until it
// closes, and returns their opcodes in order.
func readServerOps(ws *websocket.Conn) []byte {
	ws.NetConn().SetReadDeadline(time.Now().Add(waitTimeout))
	r := bufio.NewReader(ws.NetConn())
	var ops []byte
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:2]); err != nil {
			return ops
		}
		size := uint64(head[1] & 0x7f)
		switch size {
		case 126:
			if _, err := io.ReadFull(r, head[:2]); err != nil {
				return ops
			}
			size = uint64(binary.BigEndian.Uint16(head[:2]))
		case 127:
			if _, err := io.ReadFull(r, head[:8]); err != nil {
				return ops
			}
			size = binary.BigEndian.Uint64(head[:8])
		}
		if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return ops
		}
		ops = append(ops, head[0]&0xf)
	}
}

// A client that closes while broadcasts stream to it gets the close frame
// that answers its own last: no message follows it (RFC 6455, 5.5.1),
// though messages for many clients go straight to the socket.
func TestNothingFollowsTheCloseFrame(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	init := []byte(`{"type":"init","componentID":"` + id + `"}`)
	for range 4 { // watchers enough that a broadcast is framed once for all
		ws := dialRawFrames(t, f, false)
		writeRaw(t, ws, rawFrame(true, 0, websocket.TextMessage, init, false))
		go io.Copy(io.Discard, ws.NetConn())
	}
	stop := make(chan struct{})
	var broadcasting sync.WaitGroup
	broadcasting.Add(1)
	go func() {
		defer broadcasting.Done()
		for {
			select {
			case <-stop:
				return
			default:
				f.h.Broadcast(id, map[string]any{"type": "tick", "pad": strings.Repeat("x", 200)})
			}
		}
	}()
	defer func() {
		close(stop)
		broadcasting.Wait()
	}()
	for i := range 40 {
		ws := dialRawFrames(t, f, false)
		writeRaw(t, ws, rawFrame(true, 0, websocket.TextMessage, init, false))
		ops := make(chan []byte, 1)
		go func() { ops <- readServerOps(ws) }()
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		writeRaw(t, ws, rawFrame(true, 0, websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), false))
		got := <-ops
		at := bytes.IndexByte(got, websocket.CloseMessage)
		if at < 0 {
			t.Fatalf("connection %d: no close frame in %d frames", i, len(got))
		}
		if after := len(got) - at - 1; after > 0 {
			t.Fatalf("connection %d: %d frames after the close frame (the first opcodes %v)", i, after, got[at+1:at+1+min(after, 8)])
		}
		ws.Close()
	}
}
