// Package chat is Herald's demo: the seed's chat namespace /chat, grown into what a
// chat demo is expected to show, and the web page that drives it (served at "/").
//
// The /chat namespace keeps the seed's contract, so the seed's clients work unchanged:
//
//   - on connection, every socket of the namespace, on every node, gets
//     msgToClient {"name": "admin", "text": "join chat."}; when the handshake carries
//     a name (query "username"), the text is "<name> join chat.";
//   - a client emits msgToServer {"name", "text"}; every socket of the namespace, on
//     every node, gets msgToClient with that payload.
//
// Beyond the seed:
//
//   - msgToServer {"name", "text", "room"} goes to the members of that room only (the
//     sender must have joined it), and msgToClient then carries the room;
//   - join {"room"} and leave {"room"} (acked {"room"}) enter and leave a room; the
//     room's members get a notice (msgToClient from "admin" with the room), and
//     roomCount {"room", "count"} with the count of members on every node; every
//     socket gets online {"count"} when the namespace's count changes, and a notice
//     when a socket leaves the chat;
//   - welcome {"id", "user", "name", "maxText", "login"} reaches each socket once it
//     is connected and, in a cluster, once its audience rooms (user:<id>) are
//     subscribed on the bus, so an event sent to the user after it arrives;
//   - notification {"from", "text", "at"} reaches every socket of a user (room
//     user:<id>, every tab, every node): POST /demo/notify sends one.
//
// Bad input is refused with a message that names the field ("text: longer than 2000
// characters") and nothing is broadcast: as the ack {"error": ...} when the client
// asked for one, as a chatError {"event", "error"} event to that socket otherwise. A
// bad handshake name refuses the connection (connect_error with that message). The
// name "admin" is the server's own: no client may use it.
//
// The demo login (POST /demo/login {"user"}) issues short-lived HS256 JWTs under
// Config.DemoKey, which must be the key the node verifies tokens with. It is for
// demonstrations only: anyone may sign in as anyone. cmd/herald enables it only when
// no real key source is configured, with a demo key derived by DemoKey, so its tokens
// are never accepted by a deployment that verifies real ones.
//
// A Chat is safe for concurrent use. It owns one goroutine (the count updates) and,
// in a cluster, a short-lived one per connection and per join; Close stops them.
package chat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/socketio"
)

// Names and defaults.
const (
	// Namespace is the chat's namespace.
	Namespace = "/chat"
	// DefaultMaxText is the default longest message text, in characters.
	DefaultMaxText = 2000
	// MaxName is the longest display name, in characters.
	MaxName = 64
	// MaxRooms is how many rooms one socket may be in at once.
	MaxRooms = 20
	// DefaultTokenTTL is the default lifetime of a demo token.
	DefaultTokenTTL = time.Hour
	// DefaultRequestTimeout bounds a cluster request (counting a room's members,
	// waiting for the bus to apply a subscription).
	DefaultRequestTimeout = 5 * time.Second
	// roomPrefix keeps chat rooms apart from every other room of the namespace: a
	// client naming a room can never name user:<id>, authenticated or a socket id.
	roomPrefix = "room:"
	// admin is the name of the server's own messages, as in the seed.
	admin = "admin"
)

// Event names.
const (
	EventMsgToServer  = "msgToServer"
	EventMsgToClient  = "msgToClient"
	EventJoin         = "join"
	EventLeave        = "leave"
	EventError        = "chatError"
	EventRoomCount    = "roomCount"
	EventOnline       = "online"
	EventWelcome      = "welcome"
	EventNotification = "notification"
)

// Config configures the chat. The zero value is usable: no demo login.
type Config struct {
	// MaxText is the longest message text in characters (Unicode code points). Zero
	// means DefaultMaxText; negative is an error.
	MaxText int
	// DemoKey enables the demo login and POST /demo/notify: tokens are HS256 under
	// this key, with the issuer, audience and user claim of the node's
	// Config.Auth.JWT. It must be the node's Config.Auth.JWT.Secret (Mount checks that
	// the node accepts a token it mints) and never a production secret: use DemoKey
	// to derive it. Empty means no demo login (the page says sign-in is unavailable).
	DemoKey []byte
	// TokenTTL is a demo token's lifetime. Zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// RequestTimeout bounds each cluster request. Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Message is the payload of msgToServer and msgToClient.
type Message struct {
	Name string `json:"name"`
	Text string `json:"text"`
	// Room is the room the message is for; empty means the whole namespace.
	Room string `json:"room,omitempty"`
}

// Notification is the payload of a notification event.
type Notification struct {
	From string    `json:"from"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Chat is the mounted demo.
type Chat struct {
	cfg   Config
	node  *herald.Node
	nsp   *socketio.Namespace
	log   *slog.Logger
	login *login // nil when the demo login is off

	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the chat started
	wake   chan struct{}  // capacity 1: the count worker has work

	mu     sync.Mutex          // guards dirty and closed
	dirty  map[string]struct{} // rooms whose count changed; "" is the namespace
	closed bool
}

//go:embed web
var webFS embed.FS

// DemoKey derives the demo login's HS256 key from a secret (HERALD_DEMO_SECRET, or
// NewDemoSecret). The derivation is labelled, so a demo key never equals a secret an
// operator uses elsewhere, even one typed in twice: a demo token is never valid
// where real tokens are verified.
func DemoKey(secret []byte) []byte {
	m := hmac.New(sha256.New, []byte("herald chat demo login key v1"))
	m.Write(secret)
	return m.Sum(nil)
}

// NewDemoSecret returns 32 random bytes, for a node whose demo login needs no other
// node to accept its tokens.
func NewDemoSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return b
}

// Mount adds the chat to node: the /chat namespace handlers on node.IO(), the page
// (GET /, /app.js, /style.css) and the demo endpoints (POST /demo/login,
// POST /demo/notify) on node.Mux(). The page loads socket.io-client from the node
// (herald.Config.DisableClient must be false). Close the Chat when the node stops.
func Mount(node *herald.Node, cfg Config) (*Chat, error) {
	switch {
	case cfg.MaxText == 0:
		cfg.MaxText = DefaultMaxText
	case cfg.MaxText < 0:
		return nil, fmt.Errorf("chat: MaxText must not be negative, got %d", cfg.MaxText)
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TokenTTL < 0 {
		return nil, fmt.Errorf("chat: TokenTTL must not be negative, got %v", cfg.TokenTTL)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ncfg := node.Config()
	if ncfg.DisableClient {
		return nil, errors.New("chat: the page loads socket.io-client from the node: herald.Config.DisableClient must be false")
	}
	if node.IO().Namespace(Namespace) != nil {
		return nil, fmt.Errorf("chat: the namespace %s already exists on this node", Namespace)
	}
	c := &Chat{cfg: cfg, node: node, log: cfg.Logger, wake: make(chan struct{}, 1), dirty: make(map[string]struct{})}
	if len(cfg.DemoKey) > 0 {
		l, err := newLogin(node, cfg)
		if err != nil {
			return nil, err
		}
		c.login = l
	}
	page, err := renderPage(pageData{Path: ncfg.Path, Login: c.login != nil, MaxText: cfg.MaxText})
	if err != nil {
		return nil, err
	}
	routes, err := c.routes(node.Mux(), page)
	if err != nil {
		return nil, err
	}
	// Nothing has changed on the node yet; from here on, nothing fails.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.nsp = node.IO().Of(Namespace)
	c.nsp.Use(c.admit)
	c.nsp.OnConnection(c.onConnection)
	c.nsp.On(EventMsgToServer, c.onMessage)
	c.nsp.On(EventJoin, c.onJoin)
	c.nsp.On(EventLeave, c.onLeave)
	for _, r := range routes {
		node.Mux().HandleFunc(r.pattern, r.h)
	}
	c.wg.Add(1)
	go c.countLoop()
	return c, nil
}

// Namespace returns the chat's namespace.
func (c *Chat) Namespace() *socketio.Namespace { return c.nsp }

// LoginEnabled reports whether the demo login issues tokens.
func (c *Chat) LoginEnabled() bool { return c.login != nil }

// Close stops the chat's goroutines and waits for them; calling it again, or from
// several goroutines, is safe. The chat goes on handling events, without count
// updates, and in a cluster a join is then acked with an error.
func (c *Chat) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// spawn runs fn on a goroutine that Close waits for; after Close it does nothing and
// reports false.
func (c *Chat) spawn(fn func(ctx context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn(c.ctx)
	}()
	return true
}

// member is what the chat keeps on a socket (Socket.Data).
type member struct {
	name string // display name; "" when the handshake carried none
	user string // the authenticated user, "" when anonymous

	mu    sync.Mutex // guards rooms
	rooms []string   // chat rooms joined (without roomPrefix), in order
}

// MarshalJSON is what a cluster-wide FetchSockets reports as the socket's data.
func (m *member) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name string `json:"name,omitempty"`
		User string `json:"user,omitempty"`
	}{m.name, m.user})
}

func memberOf(s *socketio.Socket) *member {
	m, _ := s.Data().(*member)
	if m == nil { // connected while Mount was adding the middleware
		m = &member{user: s.User()}
		s.SetData(m)
	}
	return m
}

// admit is the namespace middleware: it reads the display name from the handshake
// (query "username", else the authenticated user id) and refuses a bad one.
func (c *Chat) admit(s *socketio.Socket) error {
	name := ""
	if hs := s.Handshake(); hs != nil && hs.Handshake != nil {
		if q := hs.Query(); q.Has("username") {
			n, err := checkName("username", q.Get("username"))
			if err != nil {
				return &socketio.ConnectError{Message: err.Error()}
			}
			name = n
		}
	}
	if name == "" {
		name = s.User()
	}
	s.SetData(&member{name: name, user: s.User()})
	return nil
}

// notice returns an admin message: "<name> <what>" or "<what>" for a nameless socket.
func notice(name, what, room string) Message {
	if name != "" {
		what = name + " " + what
	}
	return Message{Name: admin, Text: what, Room: room}
}

func (c *Chat) onConnection(s *socketio.Socket) {
	m := memberOf(s)
	c.emit(c.nsp.To(), notice(m.name, "join chat.", ""))
	s.OnDisconnect(c.onDisconnect)
	c.markDirty("")
	welcome := map[string]any{"id": s.ID(), "user": nullable(s.User()), "name": m.name, "maxText": c.cfg.MaxText, "login": c.login != nil}
	c.afterSync(func(err error) {
		if err != nil {
			c.log.Warn("chat: cluster bus not in sync: the socket may miss events to its user", "sid", s.ID(), "err", err.Error())
		}
		_ = s.Emit(EventWelcome, welcome)
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *Chat) onDisconnect(s *socketio.Socket, _ string) {
	m := memberOf(s)
	m.mu.Lock()
	rooms := m.rooms
	m.rooms = nil
	m.mu.Unlock()
	for _, r := range rooms {
		c.emit(c.nsp.To(roomPrefix+r), notice(m.name, "left #"+r+".", r))
		c.markDirty(r)
	}
	c.emit(c.nsp.To(), notice(m.name, "left chat.", ""))
	c.markDirty("")
}

// onMessage handles msgToServer: validate, then broadcast to the namespace or room.
func (c *Chat) onMessage(s *socketio.Socket, ev *socketio.Event) {
	msg, err := decodeMessage(ev.Args, c.cfg.MaxText)
	if err == nil && msg.Room != "" && !s.In(roomPrefix+msg.Room) {
		err = fmt.Errorf("room: not joined %q (join it first)", msg.Room)
	}
	if err != nil {
		c.refuse(s, ev, err)
		return
	}
	op := c.nsp.To()
	if msg.Room != "" {
		op = c.nsp.To(roomPrefix + msg.Room)
	}
	if err := op.Emit(EventMsgToClient, msg); err != nil {
		c.log.Error("chat: broadcast failed", "sid", s.ID(), "err", err.Error())
		c.refuse(s, ev, errors.New("not sent: server error"))
		return
	}
	_ = ev.Ack(map[string]bool{"ok": true}) // ErrNoAck when none was asked for
}

// onJoin handles join {"room"}: the ack {"room"} comes once the bus has applied the
// room's subscription, so a message sent to the room from another node after the ack
// reaches the socket.
func (c *Chat) onJoin(s *socketio.Socket, ev *socketio.Event) {
	room, err := decodeRoom(ev.Args)
	if err != nil {
		c.refuse(s, ev, err)
		return
	}
	m := memberOf(s)
	m.mu.Lock()
	joined := slices.Contains(m.rooms, room)
	full := !joined && len(m.rooms) >= MaxRooms
	if !joined && !full {
		m.rooms = append(m.rooms, room)
	}
	m.mu.Unlock()
	if full {
		c.refuse(s, ev, fmt.Errorf("room: in %d rooms already: leave one first", MaxRooms))
		return
	}
	if !joined {
		s.Join(roomPrefix + room)
		c.emit(c.nsp.To(roomPrefix+room), notice(m.name, "joined #"+room+".", room))
		c.markDirty(room)
	}
	c.afterSync(func(err error) {
		if err != nil {
			_ = ev.Ack(map[string]string{"error": "room: not subscribed on the cluster bus: " + err.Error()})
			return
		}
		_ = ev.Ack(map[string]string{"room": room})
	})
}

// onLeave handles leave {"room"}.
func (c *Chat) onLeave(s *socketio.Socket, ev *socketio.Event) {
	room, err := decodeRoom(ev.Args)
	if err != nil {
		c.refuse(s, ev, err)
		return
	}
	m := memberOf(s)
	m.mu.Lock()
	i := slices.Index(m.rooms, room)
	if i >= 0 {
		m.rooms = slices.Delete(m.rooms, i, i+1)
	}
	m.mu.Unlock()
	if i < 0 {
		c.refuse(s, ev, fmt.Errorf("room: not joined %q", room))
		return
	}
	s.Leave(roomPrefix + room)
	c.emit(c.nsp.To(roomPrefix+room), notice(m.name, "left #"+room+".", room))
	c.markDirty(room)
	_ = ev.Ack(map[string]string{"room": room})
}

// refuse answers bad input: the ack {"error"} when the client asked for one, else a
// chatError event to the socket alone.
func (c *Chat) refuse(s *socketio.Socket, ev *socketio.Event, err error) {
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.LogAttrs(context.Background(), slog.LevelDebug, "chat: refused", slog.String("sid", s.ID()),
			slog.String("event", ev.Name), slog.String("err", err.Error()))
	}
	if ev.WantsAck() {
		_ = ev.Ack(map[string]string{"error": err.Error()})
		return
	}
	_ = s.Emit(EventError, map[string]string{"event": ev.Name, "error": err.Error()})
}

func (c *Chat) emit(op socketio.BroadcastOperator, msg Message) {
	if err := op.Emit(EventMsgToClient, msg); err != nil {
		c.log.Error("chat: notice not sent", "err", err.Error())
	}
}

// afterSync calls fn once the cluster bus has applied every subscription change so
// far (at once, with nil, on a single node), on another goroutine in a cluster.
func (c *Chat) afterSync(fn func(error)) {
	cl := c.node.Cluster()
	if cl == nil {
		fn(nil)
		return
	}
	started := c.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		fn(cl.Sync(ctx))
	})
	if !started {
		fn(errors.New("chat: closed"))
	}
}

// route is one HTTP route of the chat.
type route struct {
	pattern string
	h       http.HandlerFunc
}

// routes returns the page's and the demo endpoints' routes, checking that none would
// shadow a route of mux (ServeMux panics on a conflicting pattern).
func (c *Chat) routes(mux *http.ServeMux, page []byte) ([]route, error) {
	appJS, err := asset("web/app.js", "text/javascript; charset=utf-8")
	if err != nil {
		return nil, err
	}
	styleCSS, err := asset("web/style.css", "text/css; charset=utf-8")
	if err != nil {
		return nil, err
	}
	routes := []route{
		{"GET /{$}", staticHandler(page, "text/html; charset=utf-8")},
		{"GET /app.js", appJS},
		{"GET /style.css", styleCSS},
		{"POST /demo/login", c.serveLogin},
		{"POST /demo/notify", c.serveNotify},
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r.pattern, " ")
		req, err := http.NewRequest(method, "http://herald"+pathOf(path), nil)
		if err != nil {
			return nil, fmt.Errorf("chat: route %s: %w", r.pattern, err)
		}
		if _, p := mux.Handler(req); p != "/" && p != "" {
			return nil, fmt.Errorf("chat: %s %s is already served by %q", method, pathOf(path), p)
		}
	}
	return routes, nil
}

// pathOf turns a pattern path into a request path ("/{$}" is "/").
func pathOf(p string) string {
	if p == "/{$}" {
		return "/"
	}
	return p
}
