package engineio

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// countHandler counts messages and signals on done when the want-th arrives, or at
// every message when each is set.
type countHandler struct {
	n, want atomic.Int64
	each    bool
	done    chan struct{}
}

func (h *countHandler) OnOpen(*Session) {}

func (h *countHandler) OnMessage(*Session, []byte, bool) {
	if n := h.n.Add(1); n == h.want.Load() || h.each {
		h.done <- struct{}{}
	}
}

func (h *countHandler) OnClose(*Session, Reason) {}

// clientFrame builds a client→server (masked) WebSocket text frame.
func clientFrame(s string) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(s))}
	if len(s) > 125 {
		f = []byte{0x81, 0x80 | 126, byte(len(s) >> 8), byte(len(s))}
	}
	f = append(f, key[:]...)
	for i := 0; i < len(s); i++ {
		f = append(f, s[i]^key[i%4])
	}
	return f
}

// BenchmarkInbound measures the inbound path of one WebSocket over loopback TCP: the
// read, frame and Engine.IO decoding and the hand-off to the Handler (which only
// counts). "flood" sends 64 frames per write and reports the time per message until
// the last one is handled; "one-at-a-time" sends a frame and waits for it to be
// handled before the next (dominated by the loopback round trip).
func BenchmarkInbound(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
		each bool
	}{
		{"flood/payload=8", 8, false},
		{"flood/payload=60", 60, false},
		{"flood/payload=300", 300, false},
		{"one-at-a-time/payload=8", 8, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := &countHandler{each: tc.each, done: make(chan struct{}, 1)}
			srv, err := New(Config{Transports: []string{TransportWebSocket}}, h)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			defer srv.Close()
			nc, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			req, _ := http.NewRequest("GET", ts.URL+"/?EIO=4&transport=websocket", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if err := req.Write(nc); err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReader(nc)
			if resp, err := http.ReadResponse(br, req); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				b.Fatalf("upgrade: %v %v", resp, err)
			}
			go func() { _, _ = br.WriteTo(io.Discard) }() // the open packet and pings
			frame := clientFrame("4" + strings.Repeat("x", tc.size-1))
			batch := bytes.Repeat(frame, 64)
			h.want.Store(int64(b.N))
			b.ReportAllocs()
			b.ResetTimer()
			if tc.each {
				for range b.N {
					if _, err := nc.Write(frame); err != nil {
						b.Fatal(err)
					}
					<-h.done
				}
				return
			}
			for sent := 0; sent < b.N; sent += 64 {
				k := min(64, b.N-sent)
				if _, err := nc.Write(batch[:k*len(frame)]); err != nil {
					b.Fatal(err)
				}
			}
			<-h.done
		})
	}
}
