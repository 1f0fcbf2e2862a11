package memory

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHub(t *testing.T) {
	hub := NewHub()
	gotA, gotB := make(chan bus.Message, 10), make(chan bus.Message, 10)
	a := hub.NewBus(func(m bus.Message) { gotA <- m })
	b := hub.NewBus(func(m bus.Message) { gotB <- m })
	defer a.Close()
	defer b.Close()
	a.Subscribe("x", "y")
	a.Subscribe("x") // idempotent
	b.Subscribe("y")
	_ = b.Publish(context.Background(), "x", []byte("1"))
	_ = b.Publish(context.Background(), "y", []byte("2"))
	for _, want := range []string{"1", "2"} {
		select {
		case m := <-gotA:
			if string(m.Payload) != want {
				t.Fatalf("a got %q, want %q", m.Payload, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a got nothing")
		}
	}
	if m := <-gotB; string(m.Payload) != "2" || m.Channel != "y" {
		t.Fatalf("b got %+v", m)
	}
	a.Unsubscribe("y")
	_ = b.Publish(context.Background(), "y", []byte("3"))
	_ = b.Publish(context.Background(), "x", []byte("4"))
	if m := <-gotA; string(m.Payload) != "4" {
		t.Fatalf("a got %q after unsubscribing y", m.Payload)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(context.Background(), "x", nil); err != ErrClosed {
		t.Fatalf("publish after close: %v", err)
	}
}

func TestFullQueueDrops(t *testing.T) {
	hub := NewHub()
	block := make(chan struct{})
	a := hub.NewBus(func(bus.Message) { <-block })
	a.Subscribe("x")
	for range QueueSize + 10 {
		_ = a.Publish(context.Background(), "x", nil)
	}
	if a.Dropped() < 9 {
		t.Fatalf("dropped %d, want at least 9", a.Dropped())
	}
	close(block)
	_ = a.Close()
}
