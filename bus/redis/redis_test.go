package redis

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/internal/testredis"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newBus(t *testing.T, url string) (*Bus, chan bus.Message) {
	t.Helper()
	got := make(chan bus.Message, 100)
	b, err := New(Config{URL: url}, func(m bus.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, got
}

func recv(t *testing.T, ch chan bus.Message) bus.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	return bus.Message{}
}

func TestPubSub(t *testing.T) {
	srv := testredis.Start(t)
	a, gotA := newBus(t, srv.Addr)
	b, gotB := newBus(t, "redis://"+srv.Addr+"/0")
	ctx := context.Background()
	a.Subscribe("room1", "room2")
	b.Subscribe("room2")
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := a.NumSub(ctx, "room2"); err != nil || n != 2 {
		t.Fatalf("NUMSUB room2 = %d, %v", n, err)
	}
	payload := []byte{0x93, 0x00, 0xff, 'x'} // binary-safe
	if err := b.Publish(ctx, "room1", payload); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, gotA); m.Channel != "room1" || string(m.Payload) != string(payload) {
		t.Fatalf("got %+v", m)
	}
	_ = a.Publish(ctx, "room2", []byte("both"))
	recv(t, gotA)
	recv(t, gotB)
	// After unsubscribing, a only gets the marker on room1.
	a.Unsubscribe("room2")
	_ = a.Sync(ctx)
	_ = b.Publish(ctx, "room2", []byte("not for a"))
	_ = b.Publish(ctx, "room1", []byte("marker"))
	if m := recv(t, gotA); string(m.Payload) != "marker" {
		t.Fatalf("a got %q after unsubscribing", m.Payload)
	}
}

// TestResubscribeAfterKill: a killed subscription connection comes back with its
// channels (rueidis does not restore a dedicated connection's subscriptions itself).
func TestResubscribeAfterKill(t *testing.T) {
	srv := testredis.Start(t)
	a, gotA := newBus(t, srv.Addr)
	ctx := context.Background()
	a.Subscribe("c1")
	_ = a.Sync(ctx)
	if reply, err := srv.Command("CLIENT", "KILL", "TYPE", "pubsub"); err != nil || reply != ":1" {
		t.Fatalf("CLIENT KILL: %q %v", reply, err)
	}
	// Publish until the resubscribed connection receives (messages sent in the gap are lost).
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = a.Publish(ctx, "c1", []byte("after"))
		select {
		case m := <-gotA:
			if string(m.Payload) != "after" {
				t.Fatalf("got %q", m.Payload)
			}
			if a.Reconnects() < 1 {
				t.Fatal("reconnect not counted")
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after the subscription connection was killed")
		}
	}
}

func TestBadConfig(t *testing.T) {
	if _, err := New(Config{}, func(bus.Message) {}); err == nil {
		t.Fatal("empty URL accepted")
	}
	if _, err := New(Config{URL: "redis://:bad:port:/x"}, func(bus.Message) {}); err == nil {
		t.Fatal("bad URL accepted")
	}
}

// blackhole is a TCP proxy whose existing connections can be made to stop forwarding
// without closing, as a failed-over Redis can leave a subscriber: connected, silent.
type blackhole struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	stalled atomic.Bool
}

func newBlackhole(t *testing.T, upstream string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackhole{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			// toBus: the direction Redis → bus, the one a stall swallows.
			pipe := func(dst, src net.Conn, toBus bool) {
				defer wg.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						_ = dst.Close()
						return
					}
					if toBus && p.stalled.Load() {
						continue // swallow: the peer sees nothing, the connection stays up
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
			}
			wg.Add(2)
			go pipe(u, c, false)
			go pipe(c, u, true)
		}
	}()
	return p
}

// TestProbeDetectsSilentConnection: a subscription connection that stays open but no
// longer delivers is found by the probe and replaced, and delivery resumes.
func TestProbeDetectsSilentConnection(t *testing.T) {
	srv := testredis.Start(t)
	proxy := newBlackhole(t, srv.Addr)
	got := make(chan bus.Message, 100)
	b, err := New(Config{URL: proxy.ln.Addr().String(), ProbeInterval: 100 * time.Millisecond}, func(m bus.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub, _ := newBus(t, srv.Addr) // publishes directly, not through the proxy
	ctx := context.Background()
	b.Subscribe("c")
	_ = b.Sync(ctx)
	_ = pub.Publish(ctx, "c", []byte("before"))
	if m := recv(t, got); string(m.Payload) != "before" {
		t.Fatalf("got %q", m.Payload)
	}
	proxy.stalled.Store(true) // every connection open now goes silent toward the bus
	start := time.Now()
	// New connections made by the reconnect must flow: stop stalling them once the
	// bus has given up on the old one.
	testclient.WaitFor(t, func() bool { return b.Reconnects() >= 1 })
	proxy.stalled.Store(false)
	detected := time.Since(start)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = pub.Publish(ctx, "c", []byte("after"))
		select {
		case m := <-got:
			if string(m.Payload) == "after" {
				t.Logf("silent connection replaced after %v", detected)
				return
			}
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery after the silent connection was replaced")
		}
	}
}

func TestPublishBatchKeepsOrder(t *testing.T) {
	srv := testredis.Start(t)
	a, got := newBus(t, srv.Addr)
	ctx := context.Background()
	a.Subscribe("ordered")
	_ = a.Sync(ctx)
	var msgs []bus.Message
	for i := range 50 {
		msgs = append(msgs, bus.Message{Channel: "ordered", Payload: []byte{byte(i)}})
	}
	if err := a.PublishBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if m := recv(t, got); m.Payload[0] != byte(i) {
			t.Fatalf("message %d arrived as %d", m.Payload[0], i)
		}
	}
}
