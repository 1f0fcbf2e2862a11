package herald_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/memory"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/socketio"
)

var secret = []byte("0123456789abcdef0123456789abcdef-herald")

func token(t *testing.T, user string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authNode(t *testing.T, hub *memory.Hub, require bool) (*herald.Node, string) {
	t.Helper()
	node, err := herald.New(herald.Config{
		Auth:        auth.Config{JWT: auth.JWTConfig{Secret: secret}},
		RequireAuth: require,
		Bus:         func(h bus.Handler) (bus.Bus, error) { return hub.NewBus(h), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	nsp := node.IO().Of("/")
	nsp.On("reply", node.Auth().PropagateReplies(func(s *socketio.Socket, ev *socketio.Event) { _ = ev.Ack(ev.Args) }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Serve(ln) }()
	t.Cleanup(func() {
		_ = node.Shutdown(context.Background())
		<-done
	})
	return node, ln.Addr().String()
}

func sioConnect(t *testing.T, addr, tok string) *testclient.Conn {
	t.Helper()
	c := testclient.Dial(t, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	if tok == "" {
		c.SendText(t, "40")
	} else {
		c.SendText(t, `40{"token":"`+tok+`"}`)
	}
	c.Expect(t, `40{"sid":*`)
	return c
}

// TestAudiences: user A on two nodes (Socket.IO and plain WebSocket), user B, and an
// anonymous socket; each audience reaches exactly its sockets.
func TestAudiences(t *testing.T) {
	hub := memory.NewHub()
	n1, addr1 := authNode(t, hub, false)
	_, addr2 := authNode(t, hub, false)
	a1 := sioConnect(t, addr1, token(t, "A"))
	a2 := testclient.Dial(t, "ws://"+addr2+"/ws?token="+token(t, "A"), testclient.Options{})
	b := sioConnect(t, addr2, token(t, "B"))
	anon := sioConnect(t, addr1, "")
	testclient.WaitFor(t, func() bool { return n1.IO().Of("/").RoomSize("user:A") == 1 })
	nsp := n1.IO().Of("/")
	a := n1.Auth()
	_ = a.ToUsers(nsp, "A").Emit("to-a", 1)
	a1.Expect(t, `42["to-a",1]`)
	a2.Expect(t, `{"event":"to-a","data":1}`)
	_ = a.ToAuthenticated(nsp).Emit("to-auth")
	a1.Expect(t, `42["to-auth"]`)
	a2.Expect(t, `{"event":"to-auth"}`)
	b.Expect(t, `42["to-auth"]`)
	// The reply to A's Socket.IO request goes to the caller as its ack and to A's other
	// tab as an event; nobody else.
	a1.SendText(t, `427["reply",{"x":1}]`)
	a1.Expect(t, `437[{"x":1}]`)
	a2.Expect(t, `{"event":"reply","data":{"x":1}}`)
	// A cluster-wide fetch tells who is connected where.
	socks, err := n1.Cluster().FetchSockets(context.Background(), "/", []string{"user:A"}, nil)
	if err != nil || len(socks) != 2 || string(socks[0].Data) != `{"user":"A"}` || string(socks[1].Data) != `{"user":"A"}` {
		t.Fatalf("FetchSockets(user:A): %+v, %v", socks, err)
	}
	_ = nsp.Emit("marker")
	for _, c := range []*testclient.Conn{a1, b, anon} {
		c.Expect(t, `42["marker"]`) // b and anon saw nothing of A's before it
	}
	a2.Expect(t, `{"event":"marker"}`)
}

func TestRequireAuthRefuses(t *testing.T) {
	_, addr := authNode(t, memory.NewHub(), true)
	c := testclient.Dial(t, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40")
	c.Expect(t, `44{"message":"unauthorized","data":{"reason":"no credentials"}}`)
	c.SendText(t, `40{"token":"not-a-jwt"}`)
	c.Expect(t, `44{"message":"unauthorized","data":{"reason":"invalid credentials"}}`)
	p := testclient.Dial(t, "ws://"+addr+"/ws", testclient.Options{})
	code, reason, err := testclient.CloseCode(p.Closed(t, 5*time.Second))
	if err != nil || code != 4403 || reason != auth.PlainRefusal {
		t.Fatalf("plain WS refusal: %d %q %v", code, reason, err)
	}
}

func TestDisconnectOnExpiry(t *testing.T) {
	node, err := herald.New(herald.Config{Auth: auth.Config{JWT: auth.JWTConfig{Secret: secret}, DisconnectOnExpiry: true}})
	if err != nil {
		t.Fatal(err)
	}
	reasons := make(chan string, 1)
	node.IO().Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(_ *socketio.Socket, r string) { reasons <- r })
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- node.Serve(ln) }()
	defer func() { _ = node.Shutdown(context.Background()); <-done }()
	// exp has whole-second resolution: a token valid for about one more second.
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "A", "exp": time.Now().Add(1500 * time.Millisecond).Unix()}).SignedString(secret)
	c := sioConnect(t, ln.Addr().String(), tok)
	c.Expect(t, "41")
	if r := <-reasons; r != auth.ReasonTokenExpired {
		t.Fatalf("reason %q", r)
	}
}
