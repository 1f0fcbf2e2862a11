package chat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/apps/chat"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/bus/memory"
	"github.com/heraldhq/herald/internal/testclient"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func errorJSON(event, msg string) string {
	b, _ := json.Marshal(map[string]string{"event": event, "error": msg})
	return string(b)
}

func ackError(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

// The seed's contract: a join notice to everyone on connection, and msgToServer
// {name, text} broadcast to every socket of the namespace as msgToClient.
func TestSeedContract(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{}, nil)
	a := open(t, s, nil, "")
	a.expectName("connect")
	a.expect("msgToClient", `{"name":"admin","text":"join chat."}`)
	a.expectName("welcome")
	b := dial(t, s, url.Values{"username": {"bob"}}, "")
	a.expect("msgToClient", `{"name":"admin","text":"bob join chat."}`)

	a.emit(0, `"msgToServer",{"name":"a","text":"hello"}`)
	a.expect("msgToClient", `{"name":"a","text":"hello"}`)
	b.expect("msgToClient", `{"name":"a","text":"hello"}`)
	// Unknown fields are not forwarded; an ack, when asked for, says ok.
	b.emit(5, `"msgToServer",{"text":"hi <all> & \"you\"","name":"b","extra":{"x":1}}`)
	want := `{"name":"b","text":"hi <all> & \"you\""}`
	a.expect("msgToClient", want)
	b.expect("msgToClient", want)
	b.expectAck(5, `{"ok":true}`)
	// A message at the limits is accepted: 64 characters of name, 2000 of text
	// (characters, not bytes).
	name, text := strings.Repeat("n", chat.MaxName), strings.Repeat("é", chat.DefaultMaxText)
	a.emit(0, `"msgToServer",{"name":`+quote(name)+`,"text":`+quote(text)+`}`)
	a.expect("msgToClient", `{"name":`+quote(name)+`,"text":`+quote(text)+`}`)
	b.expect("msgToClient", `{"name":`+quote(name)+`,"text":`+quote(text)+`}`)
}

// Each bad msgToServer gets an error naming the field, as the ack when one was asked
// for and as chatError otherwise, and nothing is broadcast.
func TestValidation(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{}, nil)
	a := dial(t, s, nil, "")
	b := dial(t, s, nil, "")
	a.expect("msgToClient", `{"name":"admin","text":"join chat."}`)
	cases := []struct{ args, err string }{
		{`"msgToServer"`, "payload: missing (want an object {name, text})"},
		{`"msgToServer","hi"`, "payload: want an object {name, text}, got a string"},
		{`"msgToServer",["a","b"]`, "payload: want an object {name, text}, got an array"},
		{`"msgToServer",null`, "payload: want an object {name, text}, got null"},
		{`"msgToServer",42`, "payload: want an object {name, text}, got a number"},
		{`"msgToServer",true`, "payload: want an object {name, text}, got a boolean"},
		{`"msgToServer",{}`, "name: missing"},
		{`"msgToServer",{"text":"x"}`, "name: missing"},
		{`"msgToServer",{"name":1,"text":"x"}`, "name: want a string, got a number"},
		{`"msgToServer",{"name":["a"],"text":"x"}`, "name: want a string, got an array"},
		{`"msgToServer",{"name":"a"}`, "text: missing"},
		{`"msgToServer",{"name":"a","text":null}`, "text: want a string, got null"},
		{`"msgToServer",{"name":"a","text":{"t":"x"}}`, "text: want a string, got an object"},
		{`"msgToServer",{"name":"","text":"x"}`, "name: empty"},
		{`"msgToServer",{"name":"a","text":" \n\t "}`, "text: empty"},
		{`"msgToServer",{"name":` + quote(strings.Repeat("n", 65)) + `,"text":"x"}`, "name: longer than 64 characters"},
		{`"msgToServer",{"name":"Admin","text":"x"}`, `name: "Admin" is the server's name`},
		{`"msgToServer",{"name":"a","text":` + quote(strings.Repeat("x", 2001)) + `}`, "text: longer than 2000 characters"},
		{`"msgToServer",{"name":"a","text":` + quote(strings.Repeat("日", 2001)) + `}`, "text: longer than 2000 characters"},
		{`"msgToServer",{"name":"a","text":"x","room":5}`, "room: want a string, got a number"},
		{`"msgToServer",{"name":"a","text":"x","room":"a b"}`, `room: "a b" has ' ': use letters, digits, - or _`},
		{`"msgToServer",{"name":"a","text":"x","room":"general"}`, `room: not joined "general" (join it first)`},
	}
	for i, tc := range cases {
		id := uint64(100 + i)
		a.emit(id, tc.args)
		a.expectAck(id, ackError(tc.err))
		a.emit(0, tc.args)
		a.expect("chatError", errorJSON("msgToServer", tc.err))
	}
	// Nothing was broadcast: the first message b sees is the good one sent last.
	a.emit(0, `"msgToServer",{"name":"a","text":"good"}`)
	b.expect("msgToClient", `{"name":"a","text":"good"}`)
	a.expect("msgToClient", `{"name":"a","text":"good"}`)
}

func TestMaxText(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{MaxText: 5}, nil)
	a := open(t, s, nil, "")
	a.expectName("connect")
	a.expectName("msgToClient")
	if w := a.expectName("welcome").payload(); !strings.Contains(w, `"maxText":5`) || !strings.Contains(w, `"login":false`) {
		t.Fatalf("welcome %s", w)
	}
	a.emit(1, `"msgToServer",{"name":"a","text":"123456"}`)
	a.expectAck(1, ackError("text: longer than 5 characters"))
	a.emit(2, `"msgToServer",{"name":"a","text":"12345"}`)
	a.expect("msgToClient", `{"name":"a","text":"12345"}`)
	a.expectAck(2, `{"ok":true}`)
}

// A bad handshake name refuses the connection with a message naming it.
func TestBadUsername(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{}, nil)
	for _, tc := range []struct{ name, err string }{
		{strings.Repeat("u", 65), "username: longer than 64 characters"},
		{"  ", "username: empty"},
		{"admin", `username: \"admin\" is the server's name`},
	} {
		c := open(t, s, url.Values{"username": {tc.name}}, "")
		c.c.Expect(t, `44/chat,{"message":"`+tc.err+`"}`)
	}
}

func TestRooms(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{}, nil)
	a := dial(t, s, url.Values{"username": {"alice"}}, "")
	b := dial(t, s, url.Values{"username": {"bob"}}, "")
	c := dial(t, s, nil, "") // never in the room
	a.expect("msgToClient", `{"name":"admin","text":"bob join chat."}`)
	a.expect("msgToClient", `{"name":"admin","text":"join chat."}`)
	b.expect("msgToClient", `{"name":"admin","text":"join chat."}`)

	a.emit(1, `"join",{"room":"general"}`)
	a.expect("msgToClient", `{"name":"admin","text":"alice joined #general.","room":"general"}`)
	a.expectAck(1, `{"room":"general"}`)
	a.waitCount("roomCount", `{"count":1,"room":"general"}`)
	b.emit(2, `"join",{"room":"general"}`)
	b.expect("msgToClient", `{"name":"admin","text":"bob joined #general.","room":"general"}`)
	b.expectAck(2, `{"room":"general"}`)
	a.expect("msgToClient", `{"name":"admin","text":"bob joined #general.","room":"general"}`)
	a.waitCount("roomCount", `{"count":2,"room":"general"}`)
	b.waitCount("roomCount", `{"count":2,"room":"general"}`)
	// Joining again is acked, with no notice.
	b.emit(3, `"join",{"room":"general"}`)
	b.expectAck(3, `{"room":"general"}`)

	// A message to the room reaches its members only.
	a.emit(4, `"msgToServer",{"name":"alice","text":"in the room","room":"general"}`)
	a.expect("msgToClient", `{"name":"alice","text":"in the room","room":"general"}`)
	a.expectAck(4, `{"ok":true}`)
	b.expect("msgToClient", `{"name":"alice","text":"in the room","room":"general"}`)
	a.emit(0, `"msgToServer",{"name":"alice","text":"to all"}`)
	c.expect("msgToClient", `{"name":"alice","text":"to all"}`) // and not the room's message before it
	a.expect("msgToClient", `{"name":"alice","text":"to all"}`)
	b.expect("msgToClient", `{"name":"alice","text":"to all"}`)
	// c is not a member: its room message is refused.
	c.emit(5, `"msgToServer",{"name":"c","text":"x","room":"general"}`)
	c.expectAck(5, ackError(`room: not joined "general" (join it first)`))

	// Leave: a notice and a new count for those who stay; leaving again is an error.
	b.emit(6, `"leave",{"room":"general"}`)
	b.expectAck(6, `{"room":"general"}`)
	a.expect("msgToClient", `{"name":"admin","text":"bob left #general.","room":"general"}`)
	a.waitCount("roomCount", `{"count":1,"room":"general"}`)
	b.emit(7, `"leave",{"room":"general"}`)
	b.expectAck(7, ackError(`room: not joined "general"`))

	// A disconnect is a leave notice in each of the socket's rooms, then in the chat.
	b.emit(8, `"join",{"room":"general"}`)
	b.expect("msgToClient", `{"name":"admin","text":"bob joined #general.","room":"general"}`)
	b.expectAck(8, `{"room":"general"}`)
	a.expect("msgToClient", `{"name":"admin","text":"bob joined #general.","room":"general"}`)
	a.c.Close()
	b.expect("msgToClient", `{"name":"admin","text":"alice left #general.","room":"general"}`)
	b.expect("msgToClient", `{"name":"admin","text":"alice left chat."}`)
	c.expect("msgToClient", `{"name":"admin","text":"alice left chat."}`) // not in the room
	b.waitCount("roomCount", `{"count":1,"room":"general"}`)
	b.waitCount("online", `{"count":2}`)
}

// Bad join and leave payloads, and room names that would reach audience rooms or
// sockets: chat rooms live apart from them.
func TestRoomNames(t *testing.T) {
	cfg, ccfg := withLogin()
	s := start(t, cfg, ccfg, nil)
	a := dial(t, s, nil, "")
	bob := dial(t, s, nil, authPayload(login(t, s, "bob")))
	a.expect("msgToClient", `{"name":"admin","text":"bob join chat."}`)
	for i, tc := range []struct{ args, err string }{
		{`"join"`, "payload: missing (want an object {room})"},
		{`"join","general"`, "payload: want an object {room}, got a string"},
		{`"join",{}`, "room: missing"},
		{`"join",{"room":7}`, "room: want a string, got a number"},
		{`"join",{"room":""}`, "room: empty"},
		{`"join",{"room":"user:bob"}`, `room: "user:bob" has ':': use letters, digits, - or _`},
		{`"join",{"room":"général"}`, `room: "général" has 'é': use letters, digits, - or _`},
		{`"join",{"room":` + quote(strings.Repeat("r", 33)) + `}`, "room: longer than 32 characters"},
		{`"leave",{"room":"#x"}`, `room: "#x" has '#': use letters, digits, - or _`},
	} {
		id := uint64(10 + i)
		a.emit(id, tc.args)
		a.expectAck(id, ackError(tc.err))
		a.emit(0, tc.args)
		a.expect("chatError", errorJSON(strings.Trim(strings.SplitN(tc.args, ",", 2)[0], `"`), tc.err))
	}
	// A room named like bob's socket id, or "authenticated", is a chat room of its own.
	a.emit(1, `"join",{"room":`+quote(bob.id)+`}`)
	a.expectName("msgToClient")
	a.expectAck(1, `{"room":`+quote(bob.id)+`}`)
	a.emit(2, `"join",{"room":"authenticated"}`)
	a.expectName("msgToClient")
	a.expectAck(2, `{"room":"authenticated"}`)
	a.emit(0, `"msgToServer",{"name":"a","text":"private?","room":`+quote(bob.id)+`}`)
	a.emit(0, `"msgToServer",{"name":"a","text":"private?","room":"authenticated"}`)
	a.emit(0, `"msgToServer",{"name":"a","text":"marker"}`)
	bob.expect("msgToClient", `{"name":"a","text":"marker"}`)

	// At most MaxRooms rooms at once.
	for i := 2; i < chat.MaxRooms; i++ {
		a.emit(0, `"join",{"room":"r`+jsonNumber(uint64(i))+`"}`)
	}
	a.emit(99, `"join",{"room":"one-too-many"}`)
	for {
		ev := a.next()
		if ev.Ack && ev.ID == 99 {
			if want := ackError("room: in 20 rooms already: leave one first"); ev.payload() != want {
				t.Fatalf("ack %s, want %s", ev.payload(), want)
			}
			break
		}
	}
}

func TestOnlineCount(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{}, nil)
	a := dial(t, s, nil, "")
	a.waitCount("online", `{"count":1}`)
	b := dial(t, s, nil, "")
	a.waitCount("online", `{"count":2}`)
	b.waitCount("online", `{"count":2}`)
	b.c.Close()
	a.waitCount("online", `{"count":1}`)
}

// Two nodes in one cluster: notices, messages, counts and notifications reach every
// node's sockets.
func TestCluster(t *testing.T) {
	hub := memory.NewHub()
	cfg, ccfg := withLogin()
	n1 := start(t, cfg, ccfg, hub)
	n2 := start(t, cfg, ccfg, hub)
	alice := login(t, n1, "alice")
	a := dial(t, n1, url.Values{"username": {"alice"}}, authPayload(alice))
	b := dial(t, n2, url.Values{"username": {"alice"}}, authPayload(alice)) // her other tab
	a.expect("msgToClient", `{"name":"admin","text":"alice join chat."}`)
	c := dial(t, n2, nil, "")
	a.expect("msgToClient", `{"name":"admin","text":"join chat."}`)
	b.expect("msgToClient", `{"name":"admin","text":"join chat."}`)
	a.waitCount("online", `{"count":3}`)
	c.waitCount("online", `{"count":3}`)

	a.emit(0, `"msgToServer",{"name":"alice","text":"across nodes"}`)
	for _, cl := range []*client{a, b, c} {
		cl.expect("msgToClient", `{"name":"alice","text":"across nodes"}`)
	}

	a.emit(1, `"join",{"room":"general"}`)
	a.expectName("msgToClient")
	a.expectAck(1, `{"room":"general"}`)
	b.emit(2, `"join",{"room":"general"}`)
	b.expectName("msgToClient")
	b.expectAck(2, `{"room":"general"}`)
	a.expectName("msgToClient") // b's join notice
	a.waitCount("roomCount", `{"count":2,"room":"general"}`)
	b.waitCount("roomCount", `{"count":2,"room":"general"}`)

	// A notification sent on node 1 reaches alice's two tabs, not the anonymous c.
	status, body := post(t, n1.url("/demo/notify"), `{"to":"alice","text":"your order shipped"}`, login(t, n1, "bob"))
	if status != http.StatusAccepted || body != `{"to":"alice"}`+"\n" {
		t.Fatalf("notify: %d %s", status, body)
	}
	for _, cl := range []*client{a, b} {
		var n chat.Notification
		if err := json.Unmarshal(cl.expectName("notification").Args[0], &n); err != nil || n.From != "bob" ||
			n.Text != "your order shipped" || time.Since(n.At) > time.Minute {
			t.Fatalf("notification %+v %v", n, err)
		}
	}
	a.emit(0, `"msgToServer",{"name":"alice","text":"marker"}`)
	for _, cl := range []*client{c, a, b} {
		cl.expect("msgToClient", `{"name":"alice","text":"marker"}`)
	}

	// b leaves: its room and the chat hear it on node 1, the count follows.
	b.c.Close()
	got := []string{a.expectName("msgToClient").payload(), a.expectName("msgToClient").payload()}
	slices.Sort(got) // two channels of the bus: in either order
	want := []string{`{"name":"admin","text":"alice left #general.","room":"general"}`, `{"name":"admin","text":"alice left chat."}`}
	if !slices.Equal(got, want) {
		t.Fatalf("leave notices %q, want %q", got, want)
	}
	a.waitCount("roomCount", `{"count":1,"room":"general"}`)
	a.waitCount("online", `{"count":2}`)
}

func TestDemoLogin(t *testing.T) {
	cfg, ccfg := withLogin()
	ccfg.TokenTTL = 10 * time.Minute
	s := start(t, cfg, ccfg, nil)
	if !s.chat.LoginEnabled() {
		t.Fatal("login off")
	}
	status, body := post(t, s.url("/demo/login"), `{"user":"alice"}`, "")
	var r chat.LoginResponse
	if status != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.User != "alice" || !r.Demo {
		t.Fatalf("login: %d %s", status, body)
	}
	if ttl := time.Until(r.Expires); ttl > 10*time.Minute || ttl < 9*time.Minute {
		t.Fatalf("expires in %v", ttl)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(r.Token, claims, func(*jwt.Token) (any, error) { return demoKey, nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil || claims["sub"] != "alice" || claims["iss"] != chat.DemoIssuer || claims["demo"] != true {
		t.Fatalf("token claims %v: %v", claims, err)
	}
	// The token identifies the socket: welcome names the user, and it is in user:alice.
	a := dial(t, s, nil, authPayload(r.Token))
	if s.node.IO().Of(chat.Namespace).RoomSize("user:alice") != 1 {
		t.Fatal("not in user:alice")
	}
	_ = a
	for _, tc := range []struct{ body, err string }{
		{`{}`, "user: missing"},
		{`{"user":""}`, "user: empty"},
		{`{"user":"a b"}`, `user: "a b" has ' ': use letters, digits, - or _`},
		{`{"user":7}`, "user: want a string, got a number"},
		{`{"user":` + quote(strings.Repeat("u", 33)) + `}`, "user: longer than 32 characters"},
		{`["alice"]`, "body: want an object {user}, got an array"},
		{`{"user":`, "body: not valid JSON: unexpected end of JSON input"},
		{`{"user":"` + strings.Repeat("u", 5000) + `"}`, "body: larger than 4096 bytes"},
	} {
		status, body := post(t, s.url("/demo/login"), tc.body, "")
		if status != http.StatusBadRequest || body != ackError(tc.err)+"\n" {
			t.Errorf("%.40s: %d %s, want 400 %s", tc.body, status, body, tc.err)
		}
	}
	// GET is not a login.
	if status, _ := do(t, mustRequest(t, http.MethodGet, s.url("/demo/login"))); status != http.StatusNotFound {
		t.Fatalf("GET /demo/login: %d", status)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Without a demo key the login and notify endpoints answer 404 and the page says
// sign-in is unavailable; the rest of the demo works.
func TestLoginOff(t *testing.T) {
	s := start(t, herald.Config{Auth: auth.Config{JWT: auth.JWTConfig{Secret: []byte("a real production secret, 32+ bytes long")}}}, chat.Config{}, nil)
	if s.chat.LoginEnabled() {
		t.Fatal("login on")
	}
	for _, path := range []string{"/demo/login", "/demo/notify"} {
		status, body := post(t, s.url(path), `{"user":"alice","to":"bob","text":"x"}`, "")
		if status != http.StatusNotFound || !strings.Contains(body, "demo login is off on this node") {
			t.Fatalf("%s: %d %s", path, status, body)
		}
	}
	_, page := do(t, mustRequest(t, http.MethodGet, s.url("/")))
	if !strings.Contains(page, `data-login="false"`) {
		t.Fatalf("page: %s", page)
	}
	a := open(t, s, nil, "")
	a.expectName("connect")
	a.expectName("msgToClient")
	if w := a.expectName("welcome").payload(); !strings.Contains(w, `"login":false`) || !strings.Contains(w, `"user":null`) {
		t.Fatalf("welcome %s", w)
	}
}

func TestMountErrors(t *testing.T) {
	newNode := func(cfg herald.Config) *herald.Node {
		node, err := herald.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Shutdown(context.Background()) })
		return node
	}
	other := herald.Config{Auth: auth.Config{JWT: auth.JWTConfig{Secret: []byte("another secret, not the demo key, 32+ bytes")}}}
	for _, tc := range []struct {
		name string
		node *herald.Node
		cfg  chat.Config
		want string
	}{
		{"demo key without auth", newNode(herald.Config{}), chat.Config{DemoKey: demoKey}, "chat: DemoKey is set but the node verifies no JWT"},
		{"demo key not the node's", newNode(other), chat.Config{DemoKey: demoKey}, "chat: the node does not accept demo tokens"},
		{"no client bundle", newNode(herald.Config{DisableClient: true}), chat.Config{}, "chat: the page loads socket.io-client from the node"},
		{"negative MaxText", newNode(herald.Config{}), chat.Config{MaxText: -1}, "chat: MaxText must not be negative, got -1"},
		{"negative TokenTTL", newNode(herald.Config{}), chat.Config{TokenTTL: -time.Second}, "chat: TokenTTL must not be negative"},
	} {
		if _, err := chat.Mount(tc.node, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Twice on one node, or over a page the application serves.
	node := newNode(herald.Config{})
	c, err := chat.Mount(node, chat.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := chat.Mount(node, chat.Config{}); err == nil || !strings.Contains(err.Error(), "namespace /chat already exists") {
		t.Fatalf("second Mount: %v", err)
	}
	node = newNode(herald.Config{})
	node.Mux().HandleFunc("GET /{$}", func(http.ResponseWriter, *http.Request) {})
	if _, err := chat.Mount(node, chat.Config{}); err == nil || !strings.Contains(err.Error(), `chat: GET / is already served by "GET /{$}"`) {
		t.Fatalf("Mount over a page: %v", err)
	}
}

func TestNotify(t *testing.T) {
	cfg, ccfg := withLogin()
	s := start(t, cfg, ccfg, nil)
	bob := login(t, s, "bob")
	alice := login(t, s, "alice")
	tab1 := dial(t, s, nil, authPayload(alice))
	tab2 := dial(t, s, nil, authPayload(alice))
	other := dial(t, s, nil, authPayload(bob))
	anon := dial(t, s, nil, "")
	tab1.expect("msgToClient", `{"name":"admin","text":"alice join chat."}`)
	for _, cl := range []*client{tab1, tab2} {
		cl.expect("msgToClient", `{"name":"admin","text":"bob join chat."}`)
	}
	for _, cl := range []*client{tab1, tab2, other} {
		cl.expect("msgToClient", `{"name":"admin","text":"join chat."}`)
	}
	foreign, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte("some other key entirely, 32 bytes or more"))
	for _, tc := range []struct {
		token, body string
		status      int
		err         string
	}{
		{"", `{"to":"alice","text":"x"}`, 401, "sign in first: send Authorization: Bearer <token from POST /demo/login>"},
		{"garbage", `{"to":"alice","text":"x"}`, 401, "invalid or expired token: sign in again"},
		{foreign, `{"to":"alice","text":"x"}`, 401, "invalid or expired token: sign in again"},
		{bob, `{"text":"x"}`, 400, "to: missing"},
		{bob, `{"to":"user:alice","text":"x"}`, 400, `to: "user:alice" has ':': use letters, digits, - or _`},
		{bob, `{"to":"alice"}`, 400, "text: missing"},
		{bob, `{"to":"alice","text":""}`, 400, "text: empty"},
		{bob, `{"to":"alice","text":` + quote(strings.Repeat("x", 2001)) + `}`, 400, "text: longer than 2000 characters"},
		{bob, `"alice"`, 400, "body: want an object {to, text}, got a string"},
	} {
		status, body := post(t, s.url("/demo/notify"), tc.body, tc.token)
		if status != tc.status || body != ackError(tc.err)+"\n" {
			t.Errorf("%.20s %.40s: %d %s, want %d %s", tc.token, tc.body, status, body, tc.status, tc.err)
		}
	}
	status, body := post(t, s.url("/demo/notify"), `{"to":"alice","text":"hi"}`, bob)
	if status != http.StatusAccepted {
		t.Fatalf("notify: %d %s", status, body)
	}
	for _, tab := range []*client{tab1, tab2} {
		if p := tab.expectName("notification").payload(); !strings.HasPrefix(p, `{"from":"bob","text":"hi","at":"20`) {
			t.Fatalf("notification %s", p)
		}
	}
	// Nothing reached bob or the anonymous socket: their next event is a later broadcast.
	tab1.emit(0, `"msgToServer",{"name":"alice","text":"marker"}`)
	other.expect("msgToClient", `{"name":"alice","text":"marker"}`)
	anon.expect("msgToClient", `{"name":"alice","text":"marker"}`)
}

func TestPage(t *testing.T) {
	s := start(t, herald.Config{}, chat.Config{}, nil)
	get := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req := mustRequest(t, http.MethodGet, s.url(path))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
	res := get("/")
	_, page := do(t, mustRequest(t, http.MethodGet, s.url("/")))
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET /: %d %v", res.StatusCode, res.Header)
	}
	for _, want := range []string{`<script src="/socket.io/socket.io.min.js"></script>`, `<script src="/app.js"></script>`,
		`data-path="/socket.io/"`, `data-login="false"`, `maxlength="2000"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if res := get("/", "If-None-Match", res.Header.Get("ETag")); res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}
	for path, ctype := range map[string]string{"/app.js": "text/javascript; charset=utf-8", "/style.css": "text/css; charset=utf-8",
		"/socket.io/socket.io.min.js": "application/javascript; charset=utf-8"} {
		if res := get(path); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ctype {
			t.Errorf("GET %s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if res := get("/nope.html"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /nope.html: %d", res.StatusCode)
	}
	// A WebSocket upgrade to "/" still reaches the plain WebSocket endpoint.
	ws := testclient.Dial(t, "ws://"+s.addr+"/", testclient.Options{})
	testclient.WaitFor(t, func() bool { return s.node.IO().Of("/").Count() == 1 })
	_ = s.node.IO().Of("/").Emit("hello", 1)
	ws.Expect(t, `{"event":"hello","data":1}`)
}

// With another Engine.IO path, the page loads the client and connects under it.
func TestPagePath(t *testing.T) {
	s := start(t, herald.Config{Path: "/rt/"}, chat.Config{}, nil)
	_, page := do(t, mustRequest(t, http.MethodGet, s.url("/")))
	if !strings.Contains(page, `<script src="/rt/socket.io.min.js"></script>`) || !strings.Contains(page, `data-path="/rt/"`) {
		t.Fatalf("page: %s", page)
	}
	if status, body := do(t, mustRequest(t, http.MethodGet, s.url("/rt/socket.io.min.js"))); status != http.StatusOK || !strings.HasPrefix(body, "/*!\n * Socket.IO v4.8.4") {
		t.Fatalf("bundle: %d %.40q", status, body)
	}
}

func TestDemoKey(t *testing.T) {
	k1, k2 := chat.DemoKey([]byte("secret")), chat.DemoKey([]byte("secret"))
	if string(k1) != string(k2) || len(k1) != 32 || string(k1) == "secret" || string(chat.DemoKey([]byte("other"))) == string(k1) {
		t.Fatalf("keys %x %x", k1, k2)
	}
	if a, b := chat.NewDemoSecret(), chat.NewDemoSecret(); len(a) != 32 || string(a) == string(b) {
		t.Fatalf("secrets %x %x", a, b)
	}
}
