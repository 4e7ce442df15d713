//go:build !linux

package liveflux

import (
	"errors"
	"syscall"
)

// errNoPoller: this system has no poller.
var errNoPoller = errors.New("liveflux: no poller")

// poller is Linux only: elsewhere every connection keeps a reader
// goroutine (read.go).
type poller struct{}

func newPoller() *poller               { return nil }
func (*poller) arm(*wsConn, int) error { return errNoPoller }
func (*poller) forget(*wsConn, int)    {}
func (*poller) stop()                  {}

// read is never called: without a poller no socket is read raw.
func (*rawRead) read(syscall.RawConn, []byte, bool) (int, error) { return 0, errNoPoller }
