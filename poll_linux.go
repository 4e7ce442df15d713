package liveflux

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

// poller tells when idle connections have bytes to read, through one
// epoll instance per handler: a connection with nothing to read has no
// reader goroutine (read.go); when its socket becomes readable, the poller
// starts one. Sockets are registered level-triggered and one-shot: a
// reader that goes idle arms its socket again, and bytes that came in
// between wake it at once.
//
// The epoll instance is itself waited on through the runtime's poller
// (an epoll descriptor is readable when one of its sockets is), so the
// poller's goroutine holds no thread while it waits.
type poller struct {
	epfd int
	file *os.File // epfd, for the runtime's poller
	raw  syscall.RawConn

	mu    sync.Mutex
	conns map[int32]*wsConn // by file descriptor
	done  sync.WaitGroup
}

// newPoller starts a poller, or returns nil when the system refuses one
// (the connections then keep a reader each).
func newPoller() *poller {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil
	}
	p := &poller{epfd: epfd, file: os.NewFile(uintptr(epfd), "liveflux-epoll"), conns: map[int32]*wsConn{}}
	raw, err := p.file.SyscallConn()
	if err != nil {
		p.file.Close()
		return nil
	}
	p.raw = raw
	p.done.Add(1)
	go p.loop()
	return p
}

// arm has the poller wake c's reader when its socket fd becomes readable
// (or closes).
func (p *poller) arm(c *wsConn, fd int) error {
	p.mu.Lock()
	p.conns[int32(fd)] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
	if err == syscall.ENOENT {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	}
	return err
}

// forget drops c, whose connection ended. (Its socket left the epoll set
// when it was closed.)
func (p *poller) forget(c *wsConn, fd int) {
	p.mu.Lock()
	if p.conns[int32(fd)] == c {
		delete(p.conns, int32(fd))
	}
	p.mu.Unlock()
}

// loop waits for readable sockets and wakes their connections' readers.
// A descriptor reused by a newer connection may wake it for nothing: its
// reader finds nothing to read and goes idle again.
func (p *poller) loop() {
	defer p.done.Done()
	events := make([]syscall.EpollEvent, 128)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(uintptr) bool {
			n, werr = syscall.EpollWait(p.epfd, events, 0)
			return n != 0 || (werr != nil && werr != syscall.EINTR) // nothing ready: park
		})
		if err != nil || werr != nil {
			return // stopped
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				c.wakeReader()
			}
		}
	}
}

// stop ends the loop (every connection is gone) and waits for it.
func (p *poller) stop() {
	p.file.Close()
	p.done.Wait()
}

// rawRead reads what the socket raw has into p: at once (errWouldBlock
// when it has nothing), or, with wait, waiting in the runtime's poller
// until the socket's read deadline (then errWouldBlock). Its state lives
// in r, and the function raw.Read calls is bound once, so a read
// allocates nothing.
func (r *rawRead) read(raw syscall.RawConn, p []byte, wait bool) (int, error) {
	if r.fn == nil {
		r.fn = r.once
	}
	r.p, r.wait, r.n, r.err = p, wait, 0, nil
	err := raw.Read(r.fn)
	n, rerr := r.n, r.err
	r.p, r.err = nil, nil
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), rerr == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, err // closed
	case rerr != nil:
		return 0, rerr
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// once is what raw.Read calls: it reports false (park until readable)
// on EAGAIN when the read waits.
func (r *rawRead) once(fd uintptr) bool {
	for {
		r.n, r.err = syscall.Read(int(fd), r.p)
		if r.err != syscall.EINTR {
			return !r.wait || r.err != syscall.EAGAIN
		}
	}
}
