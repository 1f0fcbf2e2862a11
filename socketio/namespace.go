package socketio

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/base64id"
)

// Namespace is a Socket.IO namespace: its middlewares, handlers and sockets. Its
// methods are safe for concurrent use.
type Namespace struct {
	name   string
	srv    *Server
	hub    *hub
	ackIDs atomic.Uint64 // server→client ack ids, per namespace as in socket.io

	mu          sync.RWMutex // guards the fields below
	middlewares []Middleware
	onConn      []ConnectionHandler
	handlers    map[string]EventHandler
	anyHandler  EventHandler
}

func newNamespace(srv *Server, name string) *Namespace {
	return &Namespace{name: name, srv: srv, hub: newHub(), handlers: make(map[string]EventHandler)}
}

// Name returns the namespace name, e.g. "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Use adds a middleware that runs for every connection attempt.
func (n *Namespace) Use(m Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, m)
	n.mu.Unlock()
}

// OnConnection adds a handler that runs when a socket connects.
func (n *Namespace) OnConnection(h ConnectionHandler) {
	n.mu.Lock()
	n.onConn = append(n.onConn, h)
	n.mu.Unlock()
}

// On registers a handler for an event from any socket of the namespace. A handler
// registered with Socket.On for the same event takes precedence.
func (n *Namespace) On(event string, h EventHandler) {
	n.mu.Lock()
	n.handlers[event] = h
	n.mu.Unlock()
}

// OnAny registers a handler for the events that have no handler of their own (on the
// socket or the namespace), such as an echo server or a gateway that forwards every
// event. Event.Name tells which event it is.
func (n *Namespace) OnAny(h EventHandler) {
	n.mu.Lock()
	n.anyHandler = h
	n.mu.Unlock()
}

func (n *Namespace) handler(event string) EventHandler {
	n.mu.RLock()
	h := n.handlers[event]
	if h == nil {
		h = n.anyHandler
	}
	n.mu.RUnlock()
	return h
}

// To starts a broadcast to rooms.
func (n *Namespace) To(rooms ...string) BroadcastOperator {
	return BroadcastOperator{nsp: n, rooms: rooms}
}

// In is an alias of To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.To(rooms...) }

// Except starts a broadcast to every socket except the members of rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator {
	return BroadcastOperator{nsp: n, except: rooms}
}

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return BroadcastOperator{nsp: n}.Emit(event, args...)
}

// Socket returns the connected socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket { return n.hub.socket(id) }

// Count returns the number of connected sockets.
func (n *Namespace) Count() int { return int(n.hub.count.Load()) }

// RoomSize returns the number of sockets in room.
func (n *Namespace) RoomSize(room string) int { return n.hub.roomSize(room) }

// Rooms returns the rooms that have members, socket-id rooms excluded.
func (n *Namespace) Rooms() []string { return n.hub.allRooms() }

// newSocket builds a socket and runs the middlewares; it is not yet connected.
func (n *Namespace) newSocket(conn Conn, c *client, hs *Handshake, plain bool) (*Socket, error) {
	if len(hs.Auth) == 0 {
		hs.Auth = json.RawMessage("{}")
	}
	s := &Socket{id: base64id.New(), nsp: n, conn: conn, client: c, plain: plain, hs: hs}
	n.srv.mu.RLock()
	mws := slices.Clone(n.srv.middlewares)
	n.srv.mu.RUnlock()
	n.mu.RLock()
	mws = append(mws, n.middlewares...)
	n.mu.RUnlock()
	for _, m := range mws {
		if err := m(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// register adds a socket that passed the middlewares to the namespace and its rooms
// (socket.io joins the socket's own room before it sends the CONNECT reply, so a
// client that has seen "connect" misses no broadcast; an event that arrives before
// the reply is buffered by socket.io-client until it).
func (n *Namespace) register(s *Socket) {
	s.mu.Lock()
	s.connected = true
	n.hub.addSocket(s)
	n.roomCreated(s.id)
	for _, r := range s.rooms { // joined by a middleware
		n.hub.join(r, s, n)
	}
	s.mu.Unlock()
}

// connected runs the connection handlers of a registered socket.
func (n *Namespace) connected(s *Socket) {
	n.mu.RLock()
	hs := slices.Clip(n.onConn)
	n.mu.RUnlock()
	for _, h := range hs {
		h(s)
	}
}

// Accept connects a socket carried by a transport other than Engine.IO (package
// plainws uses it): the middlewares run, then the socket joins the namespace and the
// connection handlers run. The transport delivers the socket's events with
// Socket.HandleEvent and reports its end with Socket.HandleClose.
func (n *Namespace) Accept(conn Conn, hs *Handshake) (*Socket, error) {
	s, err := n.newSocket(conn, nil, hs, true)
	if err != nil {
		return nil, err
	}
	n.register(s)
	n.connected(s)
	return s, nil
}
