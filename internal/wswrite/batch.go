// Package wswrite writes queued WebSocket frames to many connections from a few
// goroutines.
//
// A connection with frames to send joins a Pool's line; a handful of flush goroutines
// (GOMAXPROCS by default) take connections from the line in turn and write each one's
// whole backlog in a single non-blocking writev. A connection whose socket buffer is
// full is handed to a goroutine of its own that finishes with blocking writes, so one
// slow reader never holds up the others. Because a connection goes back to the end of
// the line when more frames arrived while it was written, the frames of a busy
// connection gather into larger writes the busier the server is, without a timer; a
// delay between rounds, always or only while the pool is busy, gathers them further.
package wswrite

import (
	"net"
	"syscall"
	"time"
)

// RawConn returns nc's socket for TryWrite, or nil when nc exposes none (TLS,
// in-memory connections): those must be written with blocking writes.
func RawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// Batch is the scratch space of one write: the byte slices of a backlog, and after a
// write that could not finish, what is left of them. A Batch belongs to one goroutine
// at a time and allocates nothing once warm.
type Batch struct {
	bufs  [][]byte // everything added since the last Reset
	off   int      // bufs[off:] is still to be written (bufs[off] may be cut at the front)
	iov   []syscall.Iovec
	added int // non-empty slices added over the batch's life (the pool counts frames by it)
}

// Add appends p to the batch.
func (b *Batch) Add(p []byte) {
	if len(p) > 0 {
		b.bufs = append(b.bufs, p)
		b.added++
	}
}

// Len returns the number of bytes still to be written.
func (b *Batch) Len() int {
	n := 0
	for _, p := range b.bufs[b.off:] {
		n += len(p)
	}
	return n
}

// Reset forgets the batch's contents (dropping its references to them).
func (b *Batch) Reset() {
	clear(b.bufs)
	b.bufs = b.bufs[:0]
	b.off = 0
}

// MoveTo hands what is left to dst and resets b.
func (b *Batch) MoveTo(dst *Batch) {
	for _, p := range b.bufs[b.off:] {
		dst.Add(p)
	}
	b.Reset()
}

// consume drops the first n written bytes.
func (b *Batch) consume(n int) {
	for n > 0 && b.off < len(b.bufs) {
		if p := b.bufs[b.off]; n < len(p) {
			b.bufs[b.off] = p[n:]
			return
		} else {
			n -= len(p)
		}
		b.bufs[b.off] = nil
		b.off++
	}
}

// Write writes the rest of the batch to c, blocking, with a write deadline of timeout
// that is cleared again afterwards (a later non-blocking write must not find it
// expired). The batch is empty afterwards, whatever the outcome.
func (b *Batch) Write(c net.Conn, timeout time.Duration) error {
	defer b.Reset()
	if b.off == len(b.bufs) {
		return nil
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	nb := net.Buffers(b.bufs[b.off:])
	if _, err := nb.WriteTo(c); err != nil {
		return err
	}
	return c.SetWriteDeadline(time.Time{})
}

// TryWrite writes as much of the batch to rc as the socket takes without blocking. It
// reports whether everything went out; if not (and err is nil), the batch holds the
// rest, to be finished with Write. A nil rc writes nothing.
func (b *Batch) TryWrite(rc syscall.RawConn) (done bool, err error) {
	if b.off == len(b.bufs) {
		b.Reset()
		return true, nil
	}
	if rc == nil {
		return false, nil
	}
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		done, werr = b.writevNonblock(fd)
		return true // never wait here: a socket that is full goes to its own goroutine
	}); err != nil {
		return false, err
	}
	if done {
		b.Reset()
	}
	return done, werr
}
