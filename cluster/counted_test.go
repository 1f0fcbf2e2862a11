package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/memory"
	"github.com/heraldhq/herald/internal/testclient"
)

// TestEmitCounted: a counted broadcast reaches exactly the selected sockets of every
// node as a plain event (no ack id), and each node's count comes back under its id.
func TestEmitCounted(t *testing.T) {
	hub := memory.NewHub()
	n1, n2, n3 := startNode(t, memoryBus(hub)), startNode(t, memoryBus(hub)), startNode(t, memoryBus(hub))
	a := n1.connect(t, "r1")
	b := n2.connect(t, "r1")
	c := n2.connect(t, "r1", "x")
	d := n3.connect(t)
	ctx := context.Background()

	got, err := n1.a.EmitCounted(ctx, "/", []string{"r1"}, []string{"x"}, "order.shipped", map[string]int{"id": 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*testclient.Conn{a, b} {
		x.Expect(t, `42["order.shipped",{"id":7}]`)
	}
	want := map[string]int{n1.a.UID(): 1, n2.a.UID(): 1, n3.a.UID(): 0}
	if got.Sockets != 2 || got.Expected != 3 || !got.Complete() || got.Delivered() != 2 || len(got.Missing) != 0 ||
		got.Nodes[0].ID != n1.a.UID() || len(got.Nodes) != 3 {
		t.Fatalf("delivery %+v", got)
	}
	for _, nd := range got.Nodes {
		if want[nd.ID] != nd.Sockets {
			t.Errorf("node %s reported %d sockets, want %d", nd.ID, nd.Sockets, want[nd.ID])
		}
		delete(want, nd.ID)
	}
	if len(want) != 0 {
		t.Errorf("nodes that did not report: %v", want)
	}
	// c (in x) and d (not in r1) got nothing before the marker.
	_ = n3.io.Of("/").Emit("marker")
	for _, x := range []*testclient.Conn{a, b, c, d} {
		x.Expect(t, `42["marker"]`)
	}

	// Binary arguments travel as attachments; a reserved name is refused before
	// anything is sent.
	if got, err = n2.a.EmitCounted(ctx, "/", []string{"x"}, nil, "bin", []byte{9}); err != nil || got.Sockets != 1 {
		t.Fatalf("binary: %+v, %v", got, err)
	}
	c.Expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != "\x09" {
		t.Fatalf("attachment %+v", m)
	}
	if _, err := n1.a.EmitCounted(ctx, "/", nil, nil, "disconnect"); err == nil {
		t.Fatal("reserved event accepted")
	}
	_ = n1.io.Of("/").Emit("marker2")
	for _, x := range []*testclient.Conn{a, b, c, d} {
		x.Expect(t, `42["marker2"]`)
	}
}

// TestEmitCountedSilentNode: a subscriber of the request channel that never answers
// is waited for until the deadline, then reported: by id when it is a registered
// node, by count otherwise.
func TestEmitCountedSilentNode(t *testing.T) {
	hub := memory.NewHub()
	n1 := startNode(t, memoryBus(hub))
	a := n1.connect(t)
	ctx := context.Background()
	ghost := hub.NewBus(func(bus.Message) {})
	defer ghost.Close()
	ghost.Subscribe("socket.io-request#/#")
	if err := ghost.Register(ctx, "socket.io-nodes", "ghost", []byte(`{"id":"ghost"}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	got, err := n1.a.EmitCounted(tctx, "/", nil, nil, "hello")
	if err != nil {
		t.Fatal(err)
	}
	a.Expect(t, `42["hello"]`)
	if got.Complete() || got.Expected != 2 || got.Sockets != 1 || len(got.Nodes) != 1 || !slices.Equal(got.Missing, []string{"ghost"}) {
		t.Fatalf("delivery %+v", got)
	}
	// The same for presence.
	tctx2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	count, err := n1.a.CountSockets(tctx2, "/", nil, nil)
	if err != nil || count.Sockets != 1 || count.Complete() || !slices.Equal(count.Missing, []string{"ghost"}) {
		t.Fatalf("CountSockets %+v, %v", count, err)
	}
}

// TestCountSockets: each node's sockets are counted under its id.
func TestCountSockets(t *testing.T) {
	hub := memory.NewHub()
	n1, n2 := startNode(t, memoryBus(hub)), startNode(t, memoryBus(hub))
	n1.connect(t, "user:1")
	n2.connect(t, "user:1")
	n2.connect(t, "user:1")
	n2.connect(t, "user:2")
	got, err := n1.a.CountSockets(context.Background(), "/", []string{"user:1"}, nil)
	if err != nil || got.Sockets != 3 || !got.Complete() || len(got.Nodes) != 2 ||
		got.Nodes[0] != (NodeDelivery{n1.a.UID(), 1}) || got.Nodes[1] != (NodeDelivery{n2.a.UID(), 2}) {
		t.Fatalf("CountSockets %+v, %v", got, err)
	}
}
