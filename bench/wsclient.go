package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/go-liveflux/liveflux"
)

// wsClient is a minimal WebSocket client (RFC 6455, text frames, no
// extensions). The load generator uses it instead of a full library so
// that the measuring side costs as little CPU as possible and allocates
// nothing per message: the figures are then about the server.
type wsClient struct {
	conn net.Conn
	br   *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte
	mask uint32

	hdr    [8]byte
	msg    []byte // the last message read; reused
	frames int    // frames the last message arrived in
}

// errClosed is returned by ReadMessage when the server sent a close
// frame; closeCode holds its status code.
type errClosed struct{ code int }

func (e errClosed) Error() string { return fmt.Sprintf("websocket closed by server with %d", e.code) }

// dialWS opens a WebSocket to http://addr+path. rcvbuf > 0 sets the
// socket's receive buffer (SO_RCVBUF) before connecting.
func dialWS(ctx context.Context, addr, path string, rcvbuf int) (*wsClient, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, br: bufio.NewReaderSize(conn, 1024)}
	if err := c.handshake(addr, path); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func (c *wsClient) handshake(host, path string) error {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	sum := sha1.Sum([]byte(key + wsGUID))
	accept := base64.StdEncoding.EncodeToString(sum[:])
	c.mask = binary.LittleEndian.Uint32(nonce[:4]) | 1

	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetDeadline(time.Time{})
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Protocol: " + liveflux.SubprotocolDiff +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	status, err := c.br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if !bytes.HasPrefix([]byte(status), []byte("HTTP/1.1 101")) {
		return fmt.Errorf("handshake refused: %q", bytes.TrimSpace([]byte(status)))
	}
	gotAccept := false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			gotAccept = string(bytes.TrimSpace(value)) == accept
		}
	}
	if !gotAccept {
		return errors.New("handshake: bad Sec-WebSocket-Accept")
	}
	return nil
}

// WriteText sends one masked text frame.
func (c *wsClient) WriteText(p []byte) error { return c.writeFrame(0x1, p) }

func (c *wsClient) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	c.mask = c.mask*1664525 + 1013904223 // a new key per frame
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], c.mask)
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range p {
		b[start+i] ^= key[i&3]
	}
	c.wbuf = b
	_, err := c.conn.Write(b)
	return err
}

// ReadMessage returns the next text or binary message, reassembled from
// its frames. The slice is valid until the next call. Pings are answered;
// a close frame ends with errClosed.
func (c *wsClient) ReadMessage() ([]byte, error) {
	c.msg = c.msg[:0]
	c.frames = 0
	for {
		if _, err := io.ReadFull(c.br, c.hdr[:2]); err != nil {
			return nil, err
		}
		fin, op := c.hdr[0]&0x80 != 0, c.hdr[0]&0x0f
		masked := c.hdr[1]&0x80 != 0
		n := uint64(c.hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, c.hdr[:2]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(c.hdr[:2]))
		case 127:
			if _, err := io.ReadFull(c.br, c.hdr[:8]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(c.hdr[:8])
		}
		if n > 64<<20 {
			return nil, errors.New("frame too large")
		}
		var key [4]byte
		if masked {
			if _, err := io.ReadFull(c.br, c.hdr[:4]); err != nil {
				return nil, err
			}
			copy(key[:], c.hdr[:4])
		}
		if op >= 0x8 { // control frame: read it aside
			start := len(c.msg)
			c.msg = append(c.msg, make([]byte, n)...)
			payload := c.msg[start:]
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return nil, err
			}
			if masked {
				for i := range payload {
					payload[i] ^= key[i&3]
				}
			}
			c.msg = c.msg[:start]
			switch op {
			case 0x8:
				code := 1005
				if len(payload) >= 2 {
					code = int(binary.BigEndian.Uint16(payload))
				}
				return nil, errClosed{code}
			case 0x9:
				if err := c.writeFrame(0xA, append([]byte(nil), payload...)); err != nil {
					return nil, err
				}
			}
			continue
		}
		start := len(c.msg)
		if cap(c.msg)-start < int(n) {
			grown := make([]byte, start, start+int(n)+512)
			copy(grown, c.msg)
			c.msg = grown
		}
		c.msg = c.msg[:start+int(n)]
		if _, err := io.ReadFull(c.br, c.msg[start:]); err != nil {
			return nil, err
		}
		if masked {
			for i := range c.msg[start:] {
				c.msg[start+i] ^= key[i&3]
			}
		}
		c.frames++
		if fin {
			return c.msg, nil
		}
	}
}

// Close drops the connection without a close handshake.
func (c *wsClient) Close() error { return c.conn.Close() }

// localPort is the client side's TCP port.
func (c *wsClient) localPort() int { return c.conn.LocalAddr().(*net.TCPAddr).Port }
