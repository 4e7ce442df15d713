package liveflux

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/gorilla/websocket"
)

// The read side of a WebSocket connection is the handler's own (gorilla
// does the handshake and the writes): a frame reader (RFC 6455, section 5)
// that holds no buffer between messages, so that an idle connection costs
// no goroutine and no buffer (see read.go).

// frameReader turns the bytes a client sends into messages. It is used by
// one goroutine at a time (the connection's reader of the moment).
type frameReader struct {
	mem      []byte // the buffer (from readBufs) while the reader runs; nil when idle
	buf      []byte // the bytes of mem read and not yet consumed
	msg      []byte // the payload of a fragmented message so far
	msgOp    byte   // its opcode (0: none in progress)
	msgFlate bool   // its first frame had RSV1: compressed
	deflate  bool   // the handshake negotiated permessage-deflate
	limit    int64  // the read limit, of what travels and once decompressed
	raw      rawRead
}

// rawRead is a read of the socket without waiting on it (poll_linux.go).
type rawRead struct {
	p    []byte
	n    int
	err  error
	wait bool
	fn   func(fd uintptr) bool // r.once, bound once
}

// frameError is a protocol violation, closed with code.
type frameError struct {
	code int
	why  string
}

func (e *frameError) Error() string { return "websocket: " + e.why }

// errNeedMore: the buffer holds no complete frame yet.
var errNeedMore = errors.New("liveflux: need more bytes")

// readChunk is how many bytes a read asks for at least.
const readChunk = 4 << 10

// control is a control frame the reader met: a ping or pong (answered or
// noted by the caller), or a close.
type control struct {
	op      byte
	payload []byte
}

// next parses the buffered bytes. It returns a complete data message
// (opcode, payload: unmasked, decompressed, the caller's to keep), or a
// control frame, or errNeedMore, or a *frameError.
func (r *frameReader) next() (op byte, data []byte, ctl *control, err error) {
	for {
		fin, rsv, fop, payload, n, err := r.frame()
		if err != nil {
			return 0, nil, nil, err
		}
		if fop >= 8 { // control frames may come between fragments
			if !fin || len(payload) > 125 || rsv != 0 {
				return 0, nil, nil, &frameError{websocket.CloseProtocolError, "bad control frame"}
			}
			switch fop {
			case websocket.CloseMessage, websocket.PingMessage, websocket.PongMessage:
				ctl := &control{fop, append([]byte(nil), payload...)} // the buffer goes back to the pool
				r.consume(n)
				return 0, nil, ctl, nil
			}
			return 0, nil, nil, &frameError{websocket.CloseProtocolError, "unknown control opcode"}
		}
		switch {
		case rsv&0x3 != 0, rsv&0x4 != 0 && (!r.deflate || fop == 0):
			return 0, nil, nil, &frameError{websocket.CloseProtocolError, "unexpected reserved bits"}
		case fop == 0 && r.msgOp == 0:
			return 0, nil, nil, &frameError{websocket.CloseProtocolError, "continuation without a message"}
		case fop != 0 && r.msgOp != 0:
			return 0, nil, nil, &frameError{websocket.CloseProtocolError, "a message inside a message"}
		case fop != 0 && fop != websocket.TextMessage && fop != websocket.BinaryMessage:
			return 0, nil, nil, &frameError{websocket.CloseProtocolError, "unknown data opcode"}
		}
		if fop != 0 {
			r.msgOp, r.msgFlate = fop, rsv&0x4 != 0
		}
		if int64(len(r.msg))+int64(len(payload)) > r.limit {
			return 0, nil, nil, &frameError{websocket.CloseMessageTooBig, "message over the read limit"}
		}
		r.msg = append(r.msg, payload...)
		r.consume(n)
		if !fin {
			continue
		}
		op, data, compressed := r.msgOp, r.msg, r.msgFlate
		r.msg, r.msgOp, r.msgFlate = nil, 0, false
		if compressed {
			if data, err = inflate(data, r.limit); err != nil {
				return 0, nil, nil, err
			}
		}
		return op, data, nil, nil
	}
}

// frame parses the frame at the start of the buffer, unmasking its
// payload in place: its FIN bit, RSV bits (RSV1 = 4), opcode and payload,
// and how many bytes it took.
func (r *frameReader) frame() (fin bool, rsv, op byte, payload []byte, n int, err error) {
	b := r.buf
	if len(b) < 2 {
		return false, 0, 0, nil, 0, errNeedMore
	}
	fin, rsv, op = b[0]&0x80 != 0, b[0]>>4&0x7, b[0]&0xf
	if b[1]&0x80 == 0 {
		return false, 0, 0, nil, 0, &frameError{websocket.CloseProtocolError, "unmasked frame from a client"}
	}
	size, at := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return false, 0, 0, nil, 0, errNeedMore
		}
		size, at = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, 0, nil, 0, errNeedMore
		}
		size, at = binary.BigEndian.Uint64(b[2:]), 10
	}
	if size > uint64(r.limit) {
		return false, 0, 0, nil, 0, &frameError{websocket.CloseMessageTooBig, "frame over the read limit"}
	}
	end := at + 4 + int(size)
	if len(b) < end {
		return false, 0, 0, nil, 0, errNeedMore
	}
	mask, payload := b[at:at+4], b[at+4:end]
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	return fin, rsv, op, payload, end, nil
}

// consume drops the first n buffered bytes. (The buffer stays while
// the reader runs; release lets it go.)
func (r *frameReader) consume(n int) {
	r.buf = r.buf[n:]
	if len(r.buf) == 0 && r.mem != nil {
		r.buf = r.mem[:0] // from its start again
	}
}

// release lets the buffer go: an idle connection holds none, only the
// bytes of a frame not complete yet.
func (r *frameReader) release() {
	if r.mem == nil {
		return
	}
	keep := []byte(nil)
	if len(r.buf) > 0 {
		keep = append(keep, r.buf...)
	}
	if cap(r.mem) <= 2*readChunk {
		b := r.mem[:0]
		readBufs.Put(&b)
	}
	r.mem, r.buf = nil, keep
}

// space returns room for at least readChunk more bytes after the buffered
// ones, which it moves to the buffer's start first.
func (r *frameReader) space() []byte {
	if r.mem == nil {
		if p, ok := readBufs.Get().(*[]byte); ok {
			r.mem = (*p)[:0]
		} else {
			r.mem = make([]byte, 0, readChunk)
		}
		r.buf = append(r.mem, r.buf...) // bytes kept by a reader that went idle mid-frame
	}
	if len(r.buf) > 0 && &r.buf[0] != &r.mem[:1][0] {
		r.buf = append(r.mem[:0], r.buf...) // to the start
	}
	if cap(r.buf)-len(r.buf) < readChunk {
		r.mem = append(r.buf[:len(r.buf):len(r.buf)], make([]byte, readChunk)...)[:0]
		r.buf = r.mem[:len(r.buf)]
	}
	return r.buf[len(r.buf):cap(r.buf)]
}

// grew records that n bytes were read into space.
func (r *frameReader) grew(n int) { r.buf = r.buf[:len(r.buf)+n] }

// readBufs are the frame readers' buffers, shared.
var readBufs sync.Pool

// flateTail ends a compressed message (RFC 7692, section 7.2.2), and a
// final empty block that ends the stream.
const flateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

var inflaters sync.Pool

// inflate decompresses a message compressed without context takeover,
// refusing one that decompresses to more than limit bytes.
func inflate(data []byte, limit int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte(flateTail)))
	fr, _ := inflaters.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, &frameError{websocket.CloseProtocolError, "bad compressed message"}
	}
	defer inflaters.Put(fr)
	out, err := io.ReadAll(io.LimitReader(fr, limit+1))
	switch {
	case err != nil:
		return nil, &frameError{websocket.CloseInvalidFramePayloadData, "bad compressed message"}
	case int64(len(out)) > limit:
		return nil, &frameError{websocket.CloseMessageTooBig, "message over the read limit once decompressed"}
	}
	return out, nil
}
