// Copied from ../shared/bench/perf/wire.go (the neutral load generator): write each publish in one
// syscall. Added here: with batchBytes > 0, complete publishes are also held (up to batchBytes, at
// most batchDelay) so that a pipelined publisher writes many per syscall; any other frame flushes.
package main

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// batchBytes > 0: hold complete publishes until this many bytes are buffered or batchDelay passed.
var (
	batchBytes = 0
	batchDelay = 500 * time.Microsecond
)

// coalescingConn wraps the TCP connection handed to amqp091-go.
//
// amqp091-go 1.5 (Debian's) flushes after every frame, so one basic.publish
// costs three write syscalls and three loopback TCP segments (method, content
// header, body). Newer clients (Java, amqp091-go >= 1.7) write a publish in
// one go. This wrapper follows the frame stream and holds the frames of a
// publish until its body is complete, then writes them at once. Every other
// frame (acks, heartbeats, channel methods) is written immediately, so no
// latency is added. Reads get a 64 KiB buffer to cut read syscalls.
type coalescingConn struct {
	net.Conn
	r     *bufio.Reader
	mu    sync.Mutex // Write (under amqp091-go's send lock) against the batch timer
	out   []byte
	sc    frameScanner
	timer *time.Timer
	armed bool
	err   error // a failed timer flush, reported by the next Write
}

func dialCoalescing(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	// Same handshake deadline as amqp091-go's DefaultDial; cleared after open.
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	return &coalescingConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), sc: frameScanner{skip: 8}}, nil
}

func (c *coalescingConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write is called by amqp091-go under its connection send lock, so it is never concurrent with
// itself (only with the batch timer's flush).
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.out = append(c.out, p...)
	complete := c.sc.feed(p)
	if complete && batchBytes > 0 && c.sc.publishDone && len(c.out) < batchBytes {
		if !c.armed {
			c.armed = true
			if c.timer == nil {
				c.timer = time.AfterFunc(batchDelay, c.timedFlush)
			} else {
				c.timer.Reset(batchDelay)
			}
		}
		return len(p), nil
	}
	if complete || len(c.out) >= 256<<10 {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *coalescingConn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	return err
}

func (c *coalescingConn) timedFlush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	// Only between frames: a publish in progress is flushed by its own last Write.
	if c.sc.skip == 0 && c.sc.hn == 0 && !c.sc.hold {
		if err := c.flush(); err != nil && c.err == nil {
			c.err = err
		}
	}
}

// frameScanner tracks AMQP frame boundaries in the outgoing byte stream.
type frameScanner struct {
	skip int     // bytes of the 8-byte protocol header still to pass
	hdr  [7]byte // frame header: type, channel, payload size
	hn   int
	left int      // payload + frame-end bytes left in the current frame
	peek [12]byte // first payload bytes: class/method ids, or header body size
	pn   int
	body uint64 // content body bytes still expected after a content header
	hold bool   // the last complete frame starts or continues a publish
	// publishDone: the last complete frame ended a publish (its last body frame, or a header
	// with an empty body)
	publishDone bool
}

// feed scans p and reports whether everything buffered should be written now.
func (s *frameScanner) feed(p []byte) bool {
	for len(p) > 0 {
		switch {
		case s.skip > 0:
			n := min(s.skip, len(p))
			s.skip -= n
			p = p[n:]
			s.hold = false
		case s.hn < 7:
			n := copy(s.hdr[s.hn:], p)
			s.hn += n
			p = p[n:]
			if s.hn == 7 {
				s.left = int(binary.BigEndian.Uint32(s.hdr[3:7])) + 1
				s.pn = 0
			}
		default:
			n := min(s.left, len(p))
			if s.pn < len(s.peek) {
				s.pn += copy(s.peek[s.pn:], p[:n])
			}
			s.left -= n
			p = p[n:]
			if s.left == 0 {
				s.frameDone()
				s.hn = 0
			}
		}
	}
	// Flush only between frames, and not in the middle of a publish.
	return s.skip == 0 && s.hn == 0 && !s.hold
}

func (s *frameScanner) frameDone() {
	size := uint64(binary.BigEndian.Uint32(s.hdr[3:7]))
	s.publishDone = false
	switch s.hdr[0] {
	case 1: // method frame: hold after basic.publish (class 60, method 40)
		s.hold = size >= 4 && binary.BigEndian.Uint16(s.peek[0:2]) == 60 && binary.BigEndian.Uint16(s.peek[2:4]) == 40
	case 2: // content header: hold until the body is complete
		s.body = 0
		if size >= 12 {
			s.body = binary.BigEndian.Uint64(s.peek[4:12])
		}
		s.hold = s.body > 0
		s.publishDone = !s.hold
	case 3: // content body
		if size >= s.body {
			s.body = 0
		} else {
			s.body -= size
		}
		s.hold = s.body > 0
		s.publishDone = !s.hold
	default: // heartbeat or anything else
		s.hold = false
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
