package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/memory"
	"github.com/heraldhq/herald/cluster"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/internal/testredis"
	"github.com/heraldhq/herald/socketio"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef-api-test")

const key = "test-key-1"

func token(t *testing.T, user string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// memBus joins a node to hub.
func memBus(hub *memory.Hub) cluster.NewBus {
	return func(h bus.Handler) (bus.Bus, error) { return hub.NewBus(h), nil }
}

// startNode starts a node with JWT auth (clustered when cfg sets Bus or RedisURL); it
// returns the node and its host:port.
func startNode(t *testing.T, cfg herald.Config) (*herald.Node, string) {
	t.Helper()
	cfg.Auth = auth.Config{JWT: auth.JWTConfig{Secret: secret}}
	node, err := herald.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// "join" makes the socket join the room it names (acknowledged for Socket.IO).
	node.IO().Of("/").On("join", func(s *socketio.Socket, ev *socketio.Event) {
		var room string
		if len(ev.Args.Raw) > 0 && json.Unmarshal(ev.Args.Raw[0], &room) == nil {
			s.Join(room)
		}
		_ = ev.Ack()
	})
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

// client is a test socket: Socket.IO or plain WebSocket.
type client struct {
	name  string
	conn  *testclient.Conn
	plain bool
	sid   string
}

func sioClient(t *testing.T, name, addr, tok string) *client {
	t.Helper()
	c := testclient.Dial(t, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	if tok == "" {
		c.SendText(t, "40")
	} else {
		c.SendText(t, `40{"token":"`+tok+`"}`)
	}
	got := c.Expect(t, `40{"sid":*`)
	var hello struct{ SID string }
	if err := json.Unmarshal([]byte(got[2:]), &hello); err != nil {
		t.Fatal(err)
	}
	return &client{name: name, conn: c, sid: hello.SID}
}

func plainClient(t *testing.T, name, addr, tok string) *client {
	t.Helper()
	url := "ws://" + addr + "/ws"
	if tok != "" {
		url += "?token=" + tok
	}
	return &client{name: name, conn: testclient.Dial(t, url, testclient.Options{}), plain: true}
}

// join makes c join room and waits for the ack.
func (c *client) join(t *testing.T, room string) {
	t.Helper()
	if c.plain {
		c.conn.SendText(t, `{"event":"join","data":"`+room+`"}`)
		c.conn.Expect(t, `{"event":"join"}`) // a plain socket's ack is a reply envelope
		return
	}
	c.conn.SendText(t, `421["join","`+room+`"]`)
	c.conn.Expect(t, "431[]")
}

// event returns the event name and raw text of a received message.
func (c *client) event(t *testing.T, msg string) string {
	t.Helper()
	if c.plain {
		var env struct{ Event string }
		if err := json.Unmarshal([]byte(msg), &env); err != nil {
			t.Fatalf("%s: not an envelope: %q", c.name, msg)
		}
		return env.Event
	}
	var arr []json.RawMessage
	if !strings.HasPrefix(msg, "42") || json.Unmarshal([]byte(msg[2:]), &arr) != nil || len(arr) == 0 {
		t.Fatalf("%s: not an event: %q", c.name, msg)
	}
	var name string
	_ = json.Unmarshal(arr[0], &name)
	return name
}

// expect reads c's messages until marker arrives and, when want, until event did too.
// Anything else (including event when !want) fails: a marker emitted after event
// proves its absence, and an event late on another channel shows up in a later check.
func (c *client) expect(t *testing.T, event, marker string, want bool) {
	t.Helper()
	sawEvent, sawMarker := false, false
	for !sawMarker || (want && !sawEvent) {
		msg := c.conn.NextText(t)
		switch c.event(t, msg) {
		case event:
			if !want {
				t.Fatalf("%s received %q, which was not for it", c.name, msg)
			}
			if sawEvent {
				t.Fatalf("%s received %q twice", c.name, event)
			}
			sawEvent = true
		case marker:
			sawMarker = true
		default:
			t.Fatalf("%s: unexpected %q while waiting for %s/%s", c.name, msg, event, marker)
		}
	}
}

// call sends a request to the API and decodes the JSON answer.
func call(t *testing.T, method, url, key, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %q", method, url, b)
	}
	return resp.StatusCode, out, resp.Header
}

// TestEmitAcrossNodes emits through node 1's API to each audience, with and without
// except, and checks exactly which sockets of both nodes receive: nodes on the
// in-process bus, then on Redis.
func TestEmitAcrossNodes(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		testEmitAcrossNodes(t, herald.Config{Bus: memBus(memory.NewHub())})
	})
	t.Run("redis", func(t *testing.T) {
		testEmitAcrossNodes(t, herald.Config{RedisURL: testredis.Start(t).Addr})
	})
}

func testEmitAcrossNodes(t *testing.T, cfg herald.Config) {
	cfg1 := cfg
	cfg1.APIKeys = []string{"old-key", key}
	n1, addr1 := startNode(t, cfg1)
	n2, addr2 := startNode(t, cfg)
	base := "http://" + addr1 + "/api/v1/"
	id1, id2 := n1.Cluster().UID(), n2.Cluster().UID()

	a1 := sioClient(t, "a1", addr1, token(t, "A"))
	b1 := sioClient(t, "b1", addr1, token(t, "B"))
	anon1 := sioClient(t, "anon1", addr1, "")
	a2 := plainClient(t, "a2", addr2, token(t, "A"))
	c2 := sioClient(t, "c2", addr2, token(t, "C"))
	anon2 := plainClient(t, "anon2", addr2, "")
	all := []*client{a1, b1, anon1, a2, c2, anon2}
	a1.join(t, "vip")
	c2.join(t, "vip")
	anon2.join(t, "vip")
	testclient.WaitFor(t, func() bool {
		return n2.IO().Of("/").RoomSize("vip") == 2 && n2.IO().Of("/").RoomSize("user:A") == 1
	})
	// Node 2's room subscriptions are on the bus before anything is sent to them.
	if err := n2.Cluster().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The data is sent as given, compacted (the bus drops the spacing on its way to node 2).
	st, out, _ := call(t, "POST", base+"emit", key, `{"event":"hello","data":{"n": 1, "s": "a b"},"to":{"users":["A"]}}`)
	if st != http.StatusAccepted || len(out["id"].(string)) != 32 {
		t.Fatalf("emit: %d %v", st, out)
	}
	a1.conn.Expect(t, `42["hello",{"n":1,"s":"a b"}]`)
	a2.conn.Expect(t, `{"event":"hello","data":{"n":1,"s":"a b"}}`)

	onNode1 := []*client{a1, b1, anon1}
	markers := 0
	// check emits body (its "EV" replaced by a fresh event name) and a marker, and
	// checks that exactly want received the event; then the same with "wait", whose
	// counts must match the sockets that received, node by node.
	check := func(body string, want ...*client) {
		t.Helper()
		for _, wait := range []bool{false, true} {
			markers++
			event := "ev" + strings.Repeat("x", markers)
			marker := "marker" + strings.Repeat("x", markers)
			b := strings.Replace(body, "EV", event, 1)
			if wait {
				b = strings.Replace(b, "{", `{"wait":true,`, 1)
			}
			st, out, _ := call(t, "POST", base+"emit", key, b)
			switch {
			case !wait && st != http.StatusAccepted, wait && st != http.StatusOK:
				t.Fatalf("%s: %d %v", b, st, out)
			}
			if st, out, _ := call(t, "POST", base+"emit", key, `{"event":"`+marker+`","to":{"all":true}}`); st != http.StatusAccepted {
				t.Fatalf("marker: %d %v", st, out)
			}
			on1 := 0
			for _, c := range all {
				c.expect(t, event, marker, slices.Contains(want, c))
				if slices.Contains(want, c) && slices.Contains(onNode1, c) {
					on1++
				}
			}
			if !wait {
				continue
			}
			nodes := 0
			for _, n := range []int{on1, len(want) - on1} {
				if n > 0 {
					nodes++
				}
			}
			perNode := []any{map[string]any{"node": id1, "sockets": float64(on1)}, map[string]any{"node": id2, "sockets": float64(len(want) - on1)}}
			if out["sockets"] != float64(len(want)) || out["nodes"] != float64(nodes) || out["answered"] != 2.0 || out["expected"] != 2.0 ||
				out["complete"] != true || !jsonEqual(out["perNode"], perNode) || !jsonEqual(out["missing"], []any{}) || len(out["id"].(string)) != 32 {
				t.Fatalf("%s: delivery %v; want %d sockets, %d on node 1 (%s), %d on node 2 (%s)", b, out, len(want), on1, id1, len(want)-on1, id2)
			}
		}
	}
	check(`{"event":"EV","to":{"all":true}}`, all...)
	check(`{"event":"EV","to":{"all":true},"except":{"users":["A"]}}`, b1, anon1, c2, anon2)
	check(`{"event":"EV","to":{"authenticated":true}}`, a1, b1, a2, c2)
	check(`{"event":"EV","to":{"authenticated":true},"except":{"sockets":["`+b1.sid+`"]}}`, a1, a2, c2)
	check(`{"event":"EV","data":[1,2],"to":{"users":["A","C"]}}`, a1, a2, c2)
	check(`{"event":"EV","to":{"users":["A"]},"except":{"rooms":["vip"]}}`, a2)
	check(`{"event":"EV","namespace":"/","to":{"rooms":["vip"]}}`, a1, c2, anon2)
	check(`{"event":"EV","to":{"rooms":["vip"]},"except":{"users":["C"]}}`, a1, anon2)
	check(`{"event":"EV","to":{"rooms":["vip","nobody"]},"except":{"rooms":["user:A"],"sockets":["`+c2.sid+`"]}}`, anon2)
	check(`{"event":"EV","to":{"sockets":["`+a1.sid+`","`+c2.sid+`"]}}`, a1, c2)
	check(`{"event":"EV","to":{"sockets":["` + c2.sid + `"]},"except":{"users":["C"]}}`)

	// A wrong key is refused and emits nothing: the next marker is all anyone sees.
	for _, k := range []string{"", "wrong", key + "x", "old-ke"} {
		st, out, _ := call(t, "POST", base+"emit", k, `{"event":"EV","to":{"all":true}}`)
		if st != http.StatusUnauthorized || out["error"] != "missing or wrong API key (Authorization: Bearer <key>)" {
			t.Fatalf("key %q: %d %v", k, st, out)
		}
	}
	check(`{"event":"EV","to":{"users":["nobody"]}}`)
	// The older key of a rotation still works.
	if st, _, _ := call(t, "POST", base+"emit", "old-key", `{"event":"rotated","to":{"users":["B"]}}`); st != http.StatusAccepted {
		t.Fatalf("old key: %d", st)
	}
	b1.conn.Expect(t, `42["rotated"]`)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestPresenceAndDisconnect: presence counts follow connects and disconnects on both
// nodes, and a disconnect through node 1 reaches node 2.
func TestPresenceAndDisconnect(t *testing.T) {
	hub := memory.NewHub()
	n1, addr1 := startNode(t, herald.Config{Bus: memBus(hub), APIKeys: []string{key}})
	n2, addr2 := startNode(t, herald.Config{Bus: memBus(hub)})
	base := "http://" + addr1 + "/api/v1/"

	user := func(id string) (bool, float64) {
		t.Helper()
		st, out, _ := call(t, "GET", base+"users/"+id, key, "")
		if st != http.StatusOK || out["user"] != id {
			t.Fatalf("users/%s: %d %v", id, st, out)
		}
		return out["online"].(bool), out["sockets"].(float64)
	}
	waitUser := func(id string, online bool, sockets float64) {
		t.Helper()
		testclient.WaitFor(t, func() bool { o, n := user(id); return o == online && n == sockets })
	}
	count := func(room, nsp string) float64 {
		t.Helper()
		st, out, _ := call(t, "GET", base+"rooms/"+room+"/count?namespace="+nsp, key, "")
		if st != http.StatusOK {
			t.Fatalf("rooms/%s/count: %d %v", room, st, out)
		}
		return out["count"].(float64)
	}
	if o, n := user("A"); o || n != 0 {
		t.Fatalf("A before connecting: %v %v", o, n)
	}
	a1 := sioClient(t, "a1", addr1, token(t, "A"))
	a2 := plainClient(t, "a2", addr2, token(t, "A"))
	a3 := sioClient(t, "a3", addr2, token(t, "A"))
	b2 := sioClient(t, "b2", addr2, token(t, "B"))
	anon := sioClient(t, "anon", addr2, "")
	waitUser("A", true, 3)
	waitUser("B", true, 1)
	if n := count("authenticated", "/"); n != 4 {
		t.Fatalf("authenticated count %v, want 4", n)
	}
	if n := count("user%3AA", "/"); n != 3 {
		t.Fatalf("user:A count (escaped) %v, want 3", n)
	}
	if n := count("authenticated", "/other"); n != 0 {
		t.Fatalf("count in an unused namespace: %v", n)
	}
	a3.conn.Close()
	waitUser("A", true, 2)

	// Nodes: both, with their socket counts (node 2's as of its last heartbeat).
	testclient.WaitFor(t, func() bool {
		st, out, _ := call(t, "GET", base+"nodes", key, "")
		if st != http.StatusOK {
			t.Fatalf("nodes: %d %v", st, out)
		}
		nodes := out["nodes"].([]any)
		got := map[string]float64{}
		for _, n := range nodes {
			m := n.(map[string]any)
			got[m["id"].(string)] = m["sockets"].(float64)
		}
		return len(nodes) == 2 && got[n1.Cluster().UID()] == 1 && got[n2.Cluster().UID()] == 3
	})

	// Disconnect user A everywhere except the Socket.IO socket on node 1... then A.
	st, out, _ := call(t, "POST", base+"disconnect", key, `{"to":{"users":["A"]},"except":{"sockets":["`+a1.sid+`"]}}`)
	if st != http.StatusAccepted || out["id"] == nil {
		t.Fatalf("disconnect: %d %v", st, out)
	}
	a2.conn.Closed(t, 5*time.Second)
	waitUser("A", true, 1)
	st, _, _ = call(t, "POST", base+"disconnect", key, `{"to":{"users":["A","B"]},"reason":"kicked"}`)
	if st != http.StatusAccepted {
		t.Fatalf("disconnect: %d", st)
	}
	a1.conn.Expect(t, "41")
	b2.conn.Expect(t, "41")
	waitUser("A", false, 0)
	waitUser("B", false, 0)
	// The anonymous socket is untouched.
	if st, _, _ := call(t, "POST", base+"emit", key, `{"event":"still","to":{"all":true}}`); st != http.StatusAccepted {
		t.Fatal(st)
	}
	anon.conn.Expect(t, `42["still"]`)
}
