package cluster

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/memory"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/socketio"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is one Herald node of a test cluster.
type node struct {
	io  *socketio.Server
	a   *Adapter
	url string
}

func startNode(t *testing.T, newBus NewBus) *node {
	t.Helper()
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	io.Of("/").On("join", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Join(room)
		_ = ev.Ack(room)
	})
	a, err := New(io, newBus, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(io)
	t.Cleanup(func() {
		_ = io.Close()
		ts.Close()
		_ = a.Close()
	})
	return &node{io: io, a: a, url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/?EIO=4&transport=websocket"}
}

func (n *node) connect(t *testing.T, rooms ...string) *testclient.Conn {
	t.Helper()
	c := testclient.Dial(t, n.url, testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40")
	c.Expect(t, `40{"sid":*`)
	for i, r := range rooms {
		c.SendText(t, `42`+itoa(i)+`["join","`+r+`"]`)
		c.Expect(t, `43`+itoa(i)+`["`+r+`"]`)
	}
	if err := n.a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

func itoa(i int) string { return string(rune('0' + i)) }

func memoryBus(hub *memory.Hub) NewBus {
	return func(h bus.Handler) (bus.Bus, error) { return hub.NewBus(h), nil }
}

func TestBroadcastAcrossNodes(t *testing.T) {
	hub := memory.NewHub()
	n1, n2 := startNode(t, memoryBus(hub)), startNode(t, memoryBus(hub))
	a := n1.connect(t, "r1")
	b := n2.connect(t, "r1")
	c := n2.connect(t)
	nsp1 := n1.io.Of("/")
	_ = nsp1.Emit("all", 1)
	for _, x := range []*testclient.Conn{a, b, c} {
		x.Expect(t, `42["all",1]`)
	}
	_ = nsp1.To("r1").Emit("room", "x", []byte{1, 2})
	for _, x := range []*testclient.Conn{a, b} {
		x.Expect(t, `451-["room","x",{"_placeholder":true,"num":0}]`)
		if m := x.Next(t, 5*time.Second); !m.Binary || string(m.Data) != "\x01\x02" {
			t.Fatalf("attachment %+v", m)
		}
	}
	_ = n2.io.Of("/").Except("r1").Emit("not-r1")
	c.Expect(t, `42["not-r1"]`)
	_ = n2.io.Of("/").Emit("marker")
	for _, x := range []*testclient.Conn{a, b, c} {
		x.Expect(t, `42["marker"]`) // a and b saw nothing before it
	}
	// A node counts a delivery once Deliver has queued it, which can be after the
	// write pool has already written it to the client: wait for the counters.
	testclient.WaitFor(t, func() bool { return n1.a.Stats().Delivered >= 2 && n2.a.Stats().Delivered >= 2 })
}

// TestInterestRouting: a node subscribes to a room's channel only while it holds a
// member, so a broadcast to a room it does not hold never reaches it.
func TestInterestRouting(t *testing.T) {
	hub := memory.NewHub()
	n1, n2 := startNode(t, memoryBus(hub)), startNode(t, memoryBus(hub))
	a := n1.connect(t, "only-on-1")
	n2.connect(t)
	before := n2.a.Stats().Received
	for range 10 {
		_ = n1.io.Of("/").To("only-on-1").Emit("x")
	}
	for range 10 {
		a.Expect(t, `42["x"]`)
	}
	_ = n1.io.Of("/").Emit("marker") // namespace-wide: reaches n2
	deadline := time.Now().Add(5 * time.Second)
	for n2.a.Stats().Received == before {
		if time.Now().After(deadline) {
			t.Fatal("n2 never received the namespace-wide marker")
		}
		time.Sleep(time.Millisecond)
	}
	if got := n2.a.Stats().Received - before; got != 1 {
		t.Fatalf("n2 received %d messages, want only the marker", got)
	}
}

func TestClusterOperations(t *testing.T) {
	hub := memory.NewHub()
	n1, n2 := startNode(t, memoryBus(hub)), startNode(t, memoryBus(hub))
	a := n1.connect(t, "r1")
	b := n2.connect(t, "r1", "r2")
	ctx := context.Background()

	socks, err := n1.a.FetchSockets(ctx, "/", []string{"r1"}, nil)
	if err != nil || len(socks) != 2 || socks[0].ID == socks[1].ID {
		t.Fatalf("FetchSockets: %+v, %v", socks, err)
	}
	if !containsAll(socks[1].Rooms, "r1", "r2") || string(socks[1].Handshake.Auth) != "{}" {
		t.Fatalf("remote socket %+v", socks[1])
	}
	rooms, err := n2.a.AllRooms(ctx, "/")
	if err != nil || !containsAll(rooms, "r1", "r2") || len(rooms) != 4 { // r1, r2 and two socket ids
		t.Fatalf("AllRooms: %v, %v", rooms, err)
	}
	// Join on every node, then a room broadcast reaches both.
	if err := n1.a.SocketsJoin(ctx, "/", []string{"r1"}, nil, []string{"joined"}); err != nil {
		t.Fatal(err)
	}
	testclient.WaitFor(t, func() bool {
		return n1.io.Of("/").RoomSize("joined") == 1 && n2.io.Of("/").RoomSize("joined") == 1
	})
	_ = n1.a.Sync(ctx)
	_ = n2.a.Sync(ctx)
	_ = n2.io.Of("/").To("joined").Emit("j")
	a.Expect(t, `42["j"]`)
	b.Expect(t, `42["j"]`)

	// Server-side emit with acks.
	n2.a.OnServerSideEmit("ping", func(nsp string, args []json.RawMessage, ack func(any)) {
		ack(map[string]any{"pong": string(args[0])})
	})
	acks, err := n1.a.ServerSideEmit(ctx, "/", "ping", true, "x")
	if err != nil || len(acks) != 1 || string(acks[0]) != `{"pong":"\"x\""}` {
		t.Fatalf("ServerSideEmit: %s, %v", acks, err)
	}

	// Broadcast with acks: both clients answer.
	go func() {
		m := a.NextText(t)
		id := strings.TrimPrefix(strings.SplitN(m, "[", 2)[0], "42")
		a.SendText(t, "43"+id+`["from-a"]`)
	}()
	go func() {
		m := b.NextText(t)
		id := strings.TrimPrefix(strings.SplitN(m, "[", 2)[0], "42")
		b.SendText(t, "43"+id+`["from-b"]`)
	}()
	got, n, err := n1.a.BroadcastWithAck(ctx, "/", []string{"r1"}, nil, 3*time.Second, "ask", 1)
	if err != nil || n != 2 || len(got) != 2 {
		t.Fatalf("BroadcastWithAck: %v acks of %d, %v", got, n, err)
	}

	// Disconnect on every node.
	if err := n2.a.DisconnectSockets(ctx, "/", []string{"r1"}, nil, false); err != nil {
		t.Fatal(err)
	}
	a.Expect(t, "41")
	b.Expect(t, "41")
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMembership(t *testing.T) {
	hub := memory.NewHub()
	io1, _ := socketio.New(socketio.Config{})
	io2, _ := socketio.New(socketio.Config{})
	defer io1.Close()
	defer io2.Close()
	cfg := Config{HeartbeatInterval: 20 * time.Millisecond, HeartbeatTTL: 60 * time.Millisecond}
	cfg.UID, cfg.Address = "node-a", "10.0.0.1:3000"
	a, err := New(io1, memoryBus(hub), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cfg.UID, cfg.Address = "node-b", "10.0.0.2:3000"
	b, err := New(io2, memoryBus(hub), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testclient.WaitFor(t, func() bool {
		nodes, _ := a.Nodes(ctx)
		return len(nodes) == 2
	})
	nodes, _ := a.Nodes(ctx)
	if nodes[1].ID != "node-b" || nodes[1].Address != "10.0.0.2:3000" || nodes[1].Started.IsZero() {
		t.Fatalf("nodes %+v", nodes)
	}
	// A node that leaves cleanly is gone at once.
	_ = b.Close()
	if nodes, _ := a.Nodes(ctx); len(nodes) != 1 || nodes[0].ID != "node-a" {
		t.Fatalf("after close: %+v", nodes)
	}
	if _, err := New(io2, memoryBus(hub), Config{HeartbeatInterval: time.Second, HeartbeatTTL: time.Second}); err == nil {
		t.Fatal("TTL not longer than the interval was accepted")
	}
}

// TestGarbageIsDropped: malformed bytes on any channel a node listens to are counted
// and dropped; the node keeps working.
func TestGarbageIsDropped(t *testing.T) {
	hub := memory.NewHub()
	n1 := startNode(t, memoryBus(hub))
	a := n1.connect(t, "r1")
	raw := hub.NewBus(func(bus.Message) {})
	defer raw.Close()
	ctx := context.Background()
	garbage := [][]byte{nil, {}, []byte("{"), []byte("\xc1\xff\x00"), []byte(`{"type":99}`), []byte(`{"type":5,"requestId":1}`),
		{0x93, 0xa1, 'x', 0x80}, {0xdd, 0xff, 0xff, 0xff, 0xff}, []byte(`{"requestId":"nope","rooms":[]}`)}
	channels := []string{"socket.io#/#", "socket.io#/#r1#", "socket.io-request#/#", "socket.io-response#/#", "socket.io-response#/#" + n1.a.UID() + "#"}
	for _, ch := range channels {
		for _, g := range garbage {
			_ = raw.Publish(ctx, ch, g)
		}
	}
	// A valid broadcast after the garbage still arrives.
	n2 := startNode(t, memoryBus(hub))
	_ = n2.io.Of("/").To("r1").Emit("still-works")
	a.Expect(t, `42["still-works"]`)
	if s := n1.a.Stats(); s.DecodeErrors < int64(len(garbage)) {
		t.Fatalf("decode errors %d, want at least %d: %+v", s.DecodeErrors, len(garbage), s)
	}
}

// TestCloseWhilePublishing: broadcasts that race with Close are dropped, never sent
// on a closed queue (which panics).
func TestCloseWhilePublishing(t *testing.T) {
	hub := memory.NewHub()
	for range 50 {
		io, err := socketio.New(socketio.Config{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(io, memoryBus(hub), Config{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; !a.closed.Load(); i++ {
					_ = io.Of("/").To("r"+itoa(g)).Emit("x", i) // Publish → enqueue
				}
				_ = io.Of("/").Emit("after") // once more, after Close began
			}()
		}
		close(start)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		_ = io.Close()
	}
}
