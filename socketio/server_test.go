package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/internal/testclient"
)

// epollTests makes startServer turn engineio.Config.EpollReads on (TestEpoll).
var epollTests bool

func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Engine.EpollReads = cfg.Engine.EpollReads || epollTests
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return srv, "ws" + strings.TrimPrefix(ts.URL, "http") + "/?EIO=4&transport=websocket"
}

// connect opens a WebSocket session and connects it to nsp; it returns the socket id.
func connect(t *testing.T, url, nsp, auth string, opt testclient.Options) (*testclient.Conn, string) {
	t.Helper()
	c := testclient.Dial(t, url, opt)
	c.Expect(t, "0{*")
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	c.SendText(t, "40"+prefix+auth)
	reply := c.Expect(t, "40"+prefix+`{"sid":"*`)
	var v struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "40"+prefix)), &v); err != nil || len(v.SID) != 20 {
		t.Fatalf("connect reply %q", reply)
	}
	return c, v.SID
}

func TestConnectAndEvents(t *testing.T) {
	srv, url := startServer(t, Config{})
	connected := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { connected <- s })
	srv.Of("/").On("echo", func(s *Socket, ev *Event) {
		_ = s.Emit("echo", ev.Args)
		_ = ev.Ack(ev.Args)
	})
	c, sid := connect(t, url, "/", "", testclient.Options{})
	s := <-connected
	if s.ID() != sid || string(s.Handshake().Auth) != "{}" || s.Transport() != "websocket" {
		t.Fatalf("socket %s auth %s transport %s", s.ID(), s.Handshake().Auth, s.Transport())
	}
	// The protocol text's exact-echo example.
	c.SendText(t, `42456["echo",1,"2",{"3":[false]},"<&>"]`)
	c.Expect(t, `42["echo",1,"2",{"3":[false]},"<&>"]`)
	c.Expect(t, `43456[1,"2",{"3":[false]},"<&>"]`)
	// Server → client emit with ack.
	go func() {
		m := c.NextText(t)
		if m != `420["question",{"q":1}]` {
			t.Errorf("question packet %q", m)
		}
		c.SendText(t, `430["answer",42]`)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ans, err := s.EmitWithAck(ctx, "question", map[string]int{"q": 1})
	if err != nil || ans.Len() != 2 || string(ans.Raw[1]) != "42" {
		t.Fatalf("ack %+v %v", ans, err)
	}
	// Reserved names are refused.
	if err := s.Emit("connect"); !errors.Is(err, ErrReservedEvent) {
		t.Fatalf("reserved: %v", err)
	}
}

func TestEmitWithAckTimeoutAndDisconnect(t *testing.T) {
	srv, url := startServer(t, Config{})
	connected := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { connected <- s })
	c, _ := connect(t, url, "/", "", testclient.Options{})
	s := <-connected
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "never-answered"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	c.Expect(t, `420["never-answered"]`)
	done := make(chan error, 1)
	go func() {
		_, err := s.EmitWithAck(context.Background(), "pending")
		done <- err
	}()
	c.Expect(t, `421["pending"]`)
	c.SendText(t, "41") // the client leaves the namespace
	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending ack after disconnect: %v", err)
	}
}

func TestBinary(t *testing.T) {
	srv, url := startServer(t, Config{})
	got := make(chan *Event, 1)
	srv.Of("/").On("bin", func(s *Socket, ev *Event) {
		got <- ev
		_ = s.Emit("bin-back", ev.Args)
		_ = ev.Ack([]byte{9, 9}, "x")
	})
	c, _ := connect(t, url, "/", "", testclient.Options{})
	c.SendText(t, `452-7["bin",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]`)
	c.SendBinary(t, []byte{1, 2, 3})
	c.SendBinary(t, []byte{4, 5})
	ev := <-got
	if b, ok := ev.Bytes(0); !ok || string(b) != "\x01\x02\x03" || len(ev.Attachments) != 2 {
		t.Fatalf("event %+v", ev)
	}
	c.Expect(t, `452-["bin-back",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]`)
	for _, want := range []string{"\x01\x02\x03", "\x04\x05"} {
		if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != want {
			t.Fatalf("attachment %+v, want %x", m, want)
		}
	}
	c.Expect(t, `461-7[{"_placeholder":true,"num":0},"x"]`)
	if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != "\x09\x09" {
		t.Fatalf("ack attachment %+v", m)
	}
	// A text packet while attachments are pending is a protocol error.
	c.SendText(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	c.SendText(t, `42["oops"]`)
	c.Closed(t, 5*time.Second)
}

func TestNamespacesAndMiddleware(t *testing.T) {
	srv, url := startServer(t, Config{})
	admin := srv.Of("admin")
	admin.Use(func(s *Socket) error {
		var a struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &a)
		if a.Token != "secret" {
			return &ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		}
		s.SetData("admin")
		return nil
	})
	admin.Use(func(s *Socket) error {
		if s.Data() != "admin" {
			return errors.New("middlewares out of order")
		}
		return nil
	})
	c, sid := connect(t, url, "/", "", testclient.Options{})
	c.SendText(t, `40/admin,{"token":"wrong"}`)
	c.Expect(t, `44/admin,{"message":"unauthorized","data":{"code":401}}`)
	c.SendText(t, `40/nope,`)
	c.Expect(t, `44/nope,{"message":"Invalid namespace"}`)
	c.SendText(t, `40/admin,{"token":"secret"}`)
	reply := c.Expect(t, `40/admin,{"sid":"*`)
	if strings.Contains(reply, sid) {
		t.Fatal("namespace socket id must differ from the main one")
	}
	if admin.Count() != 1 || srv.Of("/").Count() != 1 {
		t.Fatalf("counts %d %d", admin.Count(), srv.Of("/").Count())
	}
	// Leaving one namespace keeps the connection and the other namespace.
	c.SendText(t, "41/admin,")
	testclient.WaitFor(t, func() bool { return admin.Count() == 0 })
	if srv.Of("/").Count() != 1 {
		t.Fatal("main namespace lost its socket")
	}
	// A second CONNECT to a joined namespace is a protocol error that closes everything.
	c.SendText(t, "40")
	c.Closed(t, 5*time.Second)
	testclient.WaitFor(t, func() bool { return srv.Of("/").Count() == 0 })
}

func TestRoomsAndBroadcast(t *testing.T) {
	srv, url := startServer(t, Config{})
	nsp := srv.Of("/")
	sockets := make(chan *Socket, 3)
	nsp.OnConnection(func(s *Socket) { sockets <- s })
	a, _ := connect(t, url, "/", "", testclient.Options{})
	b, _ := connect(t, url, "/", "", testclient.Options{})
	c, _ := connect(t, url, "/", "", testclient.Options{})
	sa, sb, sc := <-sockets, <-sockets, <-sockets
	sa.Join("r1", "r2")
	sb.Join("r1")
	if nsp.RoomSize("r1") != 2 || !sa.In("r2") || sc.In("r1") {
		t.Fatal("room membership")
	}
	if n, _ := nsp.To("r1").EmitCount("m", 1); n != 2 {
		t.Fatalf("To(r1) reached %d", n)
	}
	a.Expect(t, `42["m",1]`)
	b.Expect(t, `42["m",1]`)
	// Multi-room targets are deduplicated; Except removes members; socket ids are rooms.
	if n, _ := nsp.To("r1", "r2").Except(sb.ID()).EmitCount("m", 2); n != 1 {
		t.Fatalf("To(r1,r2).Except(b) reached %d", n)
	}
	a.Expect(t, `42["m",2]`)
	if n, _ := sa.To("r1").EmitCount("m", 3); n != 1 { // excludes the sender
		t.Fatalf("socket.To reached %d", n)
	}
	b.Expect(t, `42["m",3]`)
	_ = nsp.To(sc.ID()).Emit("m", 4)
	c.Expect(t, `42["m",4]`)
	_ = sc.Broadcast().Emit("m", 5)
	a.Expect(t, `42["m",5]`)
	b.Expect(t, `42["m",5]`)
	sb.Leave("r1")
	_ = nsp.Emit("m", 6)
	for _, x := range []*testclient.Conn{a, b, c} {
		x.Expect(t, `42["m",6]`)
	}
	if ids := nsp.To("r1").SocketIDs(); len(ids) != 1 || ids[0] != sa.ID() {
		t.Fatalf("r1 after leave: %v", ids)
	}
	// C saw nothing but its own messages: its next message is the marker.
	_ = nsp.To(sc.ID()).Emit("marker")
	c.Expect(t, `42["marker"]`)
	// Disconnect removes the socket from its rooms.
	a.SendText(t, "41")
	testclient.WaitFor(t, func() bool { return nsp.RoomSize("r1") == 0 })
	if len(nsp.Rooms()) != 0 {
		t.Fatalf("rooms left: %v", nsp.Rooms())
	}
}

func TestServerDisconnect(t *testing.T) {
	srv, url := startServer(t, Config{})
	reasons := make(chan string, 2)
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(_ *Socket, r string) { reasons <- r })
		s.On("bye", func(s *Socket, ev *Event) {
			var closeConn bool
			_ = ev.Decode(0, &closeConn)
			s.Disconnect(closeConn)
		})
	})
	c, _ := connect(t, url, "/", "", testclient.Options{})
	c.SendText(t, `42["bye",false]`)
	c.Expect(t, "41")
	if r := <-reasons; r != ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	// The Engine.IO session stays up: the client can connect again.
	c.SendText(t, "40")
	c.Expect(t, `40{"sid":"*`)
	c.SendText(t, `42["bye",true]`)
	c.Expect(t, "41")
	if r := <-reasons; r != ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	c.Closed(t, 5*time.Second)
}

func TestConnectTimeout(t *testing.T) {
	_, url := startServer(t, Config{ConnectTimeout: 50 * time.Millisecond})
	c := testclient.Dial(t, url, testclient.Options{})
	c.Expect(t, "0{*")
	c.Closed(t, 5*time.Second)
}

func TestBadPacketCloses(t *testing.T) {
	srv, url := startServer(t, Config{})
	reasons := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *Socket) { s.OnDisconnect(func(_ *Socket, r string) { reasons <- r }) })
	c, _ := connect(t, url, "/", "", testclient.Options{})
	c.SendText(t, `42{"not":"an array"}`)
	if code, _, _ := testclient.CloseCode(c.Closed(t, 5*time.Second)); code != 1002 {
		t.Fatalf("close code %d", code)
	}
	if r := <-reasons; r != "parse error" {
		t.Fatalf("reason %q", r)
	}
}

// TestSlowReaderDoesNotDelayOthers: one client that never reads must not hold up
// broadcasts to 100 others, and is disconnected once its queue overflows.
func TestSlowReaderDoesNotDelayOthers(t *testing.T) {
	srv, url := startServer(t, Config{Engine: engineio.Config{WriteQueueBytes: 128 << 10}})
	nsp := srv.Of("/")
	reasons := make(chan string, 1)
	nsp.OnConnection(func(s *Socket) {
		s.OnDisconnect(func(s *Socket, r string) {
			select {
			case reasons <- r: // the first disconnect; the rest come at cleanup
			default:
			}
		})
	})
	// The slow client connects to "/" and then never reads again.
	slow := testclient.Dial(t, url, testclient.Options{Paused: true, RecvBuffer: 4096})
	slow.SendText(t, "40")
	testclient.WaitFor(t, func() bool { return nsp.Count() == 1 })
	fast := make([]*testclient.Conn, 100)
	for i := range fast {
		fast[i], _ = connect(t, url, "/", "", testclient.Options{})
	}
	payload := strings.Repeat("x", 16<<10)
	// Each round must reach all 100 readers while the slow one's queue fills up. The
	// kernel buffers a few MB first, so this takes a few hundred rounds.
	for round := 0; ; round++ {
		if round == 2000 {
			t.Fatal("slow reader never disconnected")
		}
		if n, err := nsp.To().EmitCount("tick", round, payload); err != nil || n < 100 {
			t.Fatalf("round %d reached %d sockets: %v", round, n, err)
		}
		want := fmt.Sprintf(`42["tick",%d,"%s"]`, round, payload)
		for _, f := range fast {
			f.Expect(t, want)
		}
		select {
		case r := <-reasons:
			if r != "slow consumer" {
				t.Fatalf("disconnect reason %q", r)
			}
			if nsp.Count() != 100 {
				t.Fatalf("%d sockets left, want the 100 readers", nsp.Count())
			}
			t.Logf("slow reader disconnected after %d rounds", round+1)
			return
		default:
		}
	}
}

func TestOnAny(t *testing.T) {
	srv, url := startServer(t, Config{})
	nsp := srv.Of("/")
	nsp.On("named", func(s *Socket, ev *Event) { _ = ev.Ack("named") })
	nsp.OnAny(func(s *Socket, ev *Event) { _ = ev.Ack("any", ev.Name) })
	c, _ := connect(t, url, "/", "", testclient.Options{})
	c.SendText(t, `421["named"]`)
	c.Expect(t, `431["named"]`)
	c.SendText(t, `422["other",1]`)
	c.Expect(t, `432["any","other"]`)
}

func TestJoinInMiddleware(t *testing.T) {
	srv, url := startServer(t, Config{})
	nsp := srv.Of("/")
	nsp.Use(func(s *Socket) error {
		s.Join("user:42", "authenticated")
		return nil
	})
	c, _ := connect(t, url, "/", "", testclient.Options{})
	if n, _ := nsp.To("user:42").EmitCount("hello"); n != 1 {
		t.Fatalf("user room reached %d", n)
	}
	c.Expect(t, `42["hello"]`)
	if nsp.RoomSize("authenticated") != 1 {
		t.Fatal("authenticated room")
	}
}

func TestServerMiddlewareRunsFirst(t *testing.T) {
	srv, url := startServer(t, Config{})
	var mu sync.Mutex // the middlewares run on the connection's goroutine
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	srv.Use(func(s *Socket) error { record("server"); return nil })
	srv.Of("/x").Use(func(s *Socket) error { record("nsp"); return errors.New("no") })
	c, _ := connect(t, url, "/", "", testclient.Options{})
	c.SendText(t, "40/x,")
	c.Expect(t, `44/x,{"message":"no"}`)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "server,server,nsp" { // "/" then "/x"
		t.Fatalf("order %v", order)
	}
}

// TestEpoll runs the Socket.IO tests again over engineio's epoll reader.
func TestEpoll(t *testing.T) {
	epollTests = true
	t.Cleanup(func() { epollTests = false })
	for name, test := range map[string]func(*testing.T){
		"ConnectAndEvents":                TestConnectAndEvents,
		"EmitWithAckTimeoutAndDisconnect": TestEmitWithAckTimeoutAndDisconnect,
		"Binary":                          TestBinary,
		"NamespacesAndMiddleware":         TestNamespacesAndMiddleware,
		"RoomsAndBroadcast":               TestRoomsAndBroadcast,
		"ServerDisconnect":                TestServerDisconnect,
		"BadPacketCloses":                 TestBadPacketCloses,
		"SlowReaderDoesNotDelayOthers":    TestSlowReaderDoesNotDelayOthers,
	} {
		t.Run(name, test)
	}
}
