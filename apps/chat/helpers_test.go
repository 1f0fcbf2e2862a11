package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/apps/chat"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/memory"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/socketio"
)

// demoKey is the key of the tests' demo logins.
var demoKey = chat.DemoKey([]byte("chat tests: not a production secret, 32+ bytes"))

// server is a node with the chat mounted, listening on a loopback port.
type server struct {
	node *herald.Node
	chat *chat.Chat
	addr string // host:port
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// start runs a node with the chat. With login, the node verifies JWTs with demoKey
// and the chat's demo login is on. hub, when not nil, joins the node to an in-process
// cluster.
func start(t *testing.T, cfg herald.Config, ccfg chat.Config, hub *memory.Hub) *server {
	t.Helper()
	if hub != nil {
		cfg.Bus = func(h bus.Handler) (bus.Bus, error) { return hub.NewBus(h), nil }
	}
	node, err := herald.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := chat.Mount(node, ccfg)
	if err != nil {
		_ = node.Shutdown(context.Background())
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Serve(ln) }()
	t.Cleanup(func() {
		// The chat first: its count requests would reach a node whose cluster adapter
		// is closing (cluster.Adapter.Close can race with a request being answered).
		c.Close()
		_ = node.Shutdown(context.Background())
		<-done
	})
	return &server{node: node, chat: c, addr: ln.Addr().String()}
}

// withLogin is the node and chat configuration of a demo login.
func withLogin() (herald.Config, chat.Config) {
	return herald.Config{Auth: auth.Config{JWT: auth.JWTConfig{Secret: demoKey}}}, chat.Config{DemoKey: demoKey}
}

// event is one server→client packet: an event (Name set) or an ack (ID set).
type event struct {
	Name string
	ID   uint64
	Ack  bool
	Args []json.RawMessage
}

// payload is the compact JSON of the first argument.
func (e event) payload() string {
	if len(e.Args) == 0 {
		return ""
	}
	var b bytes.Buffer
	_ = json.Compact(&b, e.Args[0])
	return b.String()
}

// client is a raw Socket.IO client on /chat. Count events (online, roomCount) go to
// their own queue, as they arrive asynchronously between the others.
type client struct {
	t      *testing.T
	c      *testclient.Conn
	id     string
	events []event
	counts []event
}

// dial connects to /chat with the query parameters and CONNECT auth payload (JSON, or
// ""), and waits for the welcome.
func dial(t *testing.T, s *server, query url.Values, authJSON string) *client {
	t.Helper()
	cl := open(t, s, query, authJSON)
	cl.expectName("connect")
	cl.expectName("msgToClient") // its own join notice
	w := cl.expectName("welcome")
	var v struct{ ID string }
	_ = json.Unmarshal(w.Args[0], &v)
	cl.id = v.ID
	return cl
}

// open sends the CONNECT packet and returns before the reply.
func open(t *testing.T, s *server, query url.Values, authJSON string) *client {
	t.Helper()
	q := url.Values{"EIO": {"4"}, "transport": {"websocket"}}
	for k, v := range query {
		q[k] = v
	}
	c := testclient.Dial(t, "ws://"+s.addr+"/socket.io/?"+q.Encode(), testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40/chat,"+authJSON)
	return &client{t: t, c: c}
}

// read decodes the next packet into the events or the counts queue.
func (cl *client) read() {
	cl.t.Helper()
	frame := cl.c.NextText(cl.t)
	if !strings.HasPrefix(frame, "4") {
		cl.t.Fatalf("not a message: %q", frame)
	}
	p, err := socketio.Decode([]byte(frame[1:]), 0)
	if err != nil {
		cl.t.Fatalf("decode %q: %v", frame, err)
	}
	if p.Namespace != chat.Namespace {
		cl.t.Fatalf("packet for %s: %q", p.Namespace, frame)
	}
	var args []json.RawMessage
	if p.Type != socketio.PacketConnect {
		if err := json.Unmarshal(p.Data, &args); err != nil {
			cl.t.Fatalf("packet data %q: %v", frame, err)
		}
	}
	switch p.Type {
	case socketio.PacketConnect:
		// A broadcast may arrive just before the reply (the socket is in its rooms
		// first); socket.io-client buffers it until "connect".
		cl.events = append(cl.events, event{Name: "connect", Args: []json.RawMessage{p.Data}})
		return
	case socketio.PacketAck:
		cl.events = append(cl.events, event{ID: p.ID, Ack: true, Args: args})
	case socketio.PacketEvent:
		var name string
		_ = json.Unmarshal(args[0], &name)
		ev := event{Name: name, Args: args[1:]}
		if name == chat.EventOnline || name == chat.EventRoomCount {
			cl.counts = append(cl.counts, ev)
		} else {
			cl.events = append(cl.events, ev)
		}
	default:
		cl.t.Fatalf("unexpected packet %q", frame)
	}
}

// next returns the next event or ack that is not a count.
func (cl *client) next() event {
	cl.t.Helper()
	for len(cl.events) == 0 {
		cl.read()
	}
	ev := cl.events[0]
	cl.events = cl.events[1:]
	return ev
}

// expectName returns the next event, failing unless it is called name.
func (cl *client) expectName(name string) event {
	cl.t.Helper()
	ev := cl.next()
	if ev.Ack || ev.Name != name {
		cl.t.Fatalf("got %+v (payload %s), want event %q", ev, ev.payload(), name)
	}
	return ev
}

// expect fails unless the next event is name with the payload (compact JSON).
func (cl *client) expect(name, payload string) {
	cl.t.Helper()
	ev := cl.expectName(name)
	if got := ev.payload(); got != payload {
		cl.t.Fatalf("%s: got %s, want %s", name, got, payload)
	}
}

// expectAck fails unless the next event is the ack id with the payload.
func (cl *client) expectAck(id uint64, payload string) {
	cl.t.Helper()
	ev := cl.next()
	if !ev.Ack || ev.ID != id || ev.payload() != payload {
		cl.t.Fatalf("got %+v (payload %s), want ack %d %s", ev, ev.payload(), id, payload)
	}
}

// waitCount reads until a count event name with the payload arrives; earlier counts
// of that name (stale values on the way) are dropped, those of other names kept.
func (cl *client) waitCount(name, payload string) {
	cl.t.Helper()
	for {
		for i := 0; i < len(cl.counts); i++ {
			ev := cl.counts[i]
			if ev.Name != name {
				continue
			}
			cl.counts = append(cl.counts[:i], cl.counts[i+1:]...)
			i--
			if ev.payload() == payload {
				return
			}
		}
		cl.read()
	}
}

// emit sends an event with JSON arguments (a JSON array's elements, e.g.
// `"msgToServer",{"name":"a","text":"b"}`), with an ack id when id > 0.
func (cl *client) emit(id uint64, args string) {
	cl.t.Helper()
	ack := ""
	if id > 0 {
		ack = jsonNumber(id)
	}
	cl.c.SendText(cl.t, "42/chat,"+ack+"["+args+"]")
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// post sends a JSON body with an optional bearer token; it returns the status and
// the body.
func post(t *testing.T, u, body, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// login signs user in through the demo login and returns the token.
func login(t *testing.T, s *server, user string) string {
	t.Helper()
	status, body := post(t, s.url("/demo/login"), `{"user":`+quote(user)+`}`, "")
	var r chat.LoginResponse
	if status != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Token == "" || r.User != user || !r.Demo {
		t.Fatalf("login %s: %d %s", user, status, body)
	}
	return r.Token
}

// authPayload is the CONNECT auth payload carrying token.
func authPayload(token string) string { return `{"token":` + quote(token) + `}` }
