//go:build linux

package main

// Dialing for the epoll path: TCP, then the HTTP/1.1 WebSocket upgrade done here
// (RFC 6455 section 4.1), so that the connection is a plain *net.TCPConn whose
// descriptor a poller can read, and so that the bytes the server sent right behind
// its 101 response (Herald's Engine.IO open packet) are not lost in a buffer.

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/wsframe"
)

// websocketGUID is RFC 6455's fixed part of Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// responseBufferSize is the buffer the upgrade response is read with: a 101 and
// the frames sent with it fit; more stays in the socket for the poller.
const responseBufferSize = 4096

// dialEpoll opens c's WebSocket and registers it with a poller. What came with the
// upgrade response is handled first, here, before the poller can see the socket.
func (d *Dialer) dialEpoll(ctx context.Context, wsURL string, c *Client) error {
	u, err := url.Parse(wsURL)
	if err != nil {
		return err
	}
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	nc := conn.(*net.TCPConn)
	br := d.ep.responseReader(nc)
	defer d.ep.putResponseReader(br)
	if err := upgrade(ctx, nc, u, br); err != nil {
		_ = nc.Close()
		return err
	}
	ec := &epollConn{c: c, nc: nc, parser: wsframe.Parser{FromServer: true, MaxPayload: maxMessage}}
	rc, err := nc.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { ec.fd = int(fd) })
	}
	if err != nil {
		_ = nc.Close()
		return err
	}
	c.conn = ec
	c.onOpen()
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if ec.feed(b) {
			// The close frame is sent and the reading side shut: the poller finds the
			// socket readable at once and ends it with ec.endErr.
			c.settle(ec.endErr)
		}
	}
	if err := d.register(ec); err != nil {
		_ = nc.Close()
		return err
	}
	return nil
}

// responseReader returns a pooled reader of r.
func (g *epollGroup) responseReader(r io.Reader) *bufio.Reader {
	if br, ok := g.responses.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, responseBufferSize)
}

func (g *epollGroup) putResponseReader(br *bufio.Reader) {
	br.Reset(nil) // drop the connection
	g.responses.Put(br)
}

// upgrade sends the WebSocket upgrade request and reads the response through br,
// which keeps whatever followed it. ctx bounds it (with HandshakeTimeout, as gws's
// handshake is): its end interrupts a read or write in flight, through a deadline in
// the past, so that the error says the context ended rather than "i/o timeout".
func upgrade(ctx context.Context, nc net.Conn, u *url.URL, br *bufio.Reader) error {
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err := handshake(nc, u, br)
	if !stop() { // ctx ended first: that is the reason, whatever the read said
		return fmt.Errorf("handshake: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}

func handshake(nc net.Conn, u *url.URL, br *bufio.Reader) error {
	var raw [16]byte
	_, _ = crand.Read(raw[:]) // never fails (crypto/rand)
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return err
	}
	// A 101 has no body: ReadResponse reads the status line and the headers only.
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("HTTP %s, want 101", resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !hasToken(resp.Header.Values("Connection"), "upgrade") {
		return errors.New("101 response without Upgrade: websocket and Connection: upgrade")
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return fmt.Errorf("Sec-WebSocket-Accept %q does not match the key", got)
	}
	return nil
}

// acceptKey is the Sec-WebSocket-Accept a server must answer key with.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// hasToken reports whether a comma-separated header's values hold token (any case).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
