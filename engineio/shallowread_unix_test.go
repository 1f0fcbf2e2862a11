//go:build unix

package engineio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, the accepted one
// wrapped by shallowRead.
func tcpPair(t *testing.T) (shallow net.Conn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	shallow = shallowRead(accepted)
	if _, ok := shallow.(*shallowConn); !ok {
		t.Fatalf("a TCP connection was not wrapped: %T", shallow)
	}
	t.Cleanup(func() {
		_ = shallow.Close()
		_ = peer.Close()
	})
	return shallow, peer
}

// TestShallowConnRead: shallowConn.Read behaves like net.Conn.Read for data, EOF,
// deadlines and a closed connection.
func TestShallowConnRead(t *testing.T) {
	c, peer := tcpPair(t)
	want := bytes.Repeat([]byte("0123456789"), 10000)
	go func() {
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 777)
			if _, err := peer.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		_ = peer.(*net.TCPConn).CloseWrite()
	}()
	var got []byte
	buf := make([]byte, 300)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d (or different content)", len(got), len(want))
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}

	// Writes go to the socket itself (one writev for a backlog).
	if _, ok := netConn(c).(*net.TCPConn); !ok {
		t.Fatalf("netConn: %T", netConn(c))
	}
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(peer, buf[:4]); err != nil || string(buf[:4]) != "pong" {
		t.Fatalf("peer read %q, %v", buf[:4], err)
	}
}

func TestShallowConnDeadlineAndClose(t *testing.T) {
	c, _ := tcpPair(t)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 16))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 16))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the read park
	_ = c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed connection: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a parked Read")
	}
}

func TestShallowReadLeavesOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if shallowRead(a) != a || netConn(a) != a {
		t.Fatal("a connection without a socket must be left alone")
	}
}
