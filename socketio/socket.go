package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/heraldhq/herald/engineio"
)

// Conn is the connection a Socket writes to: an engineio.Session for Socket.IO
// clients, or a plain WebSocket connection (package plainws).
type Conn interface {
	// Send queues one frame without blocking.
	Send(f *engineio.Frame) error
	// SendBatch queues frames that must stay together.
	SendBatch(fs []*engineio.Frame) error
	// Transport names the transport ("websocket", "polling").
	Transport() string
	// Close closes the connection.
	Close()
}

var _ Conn = (*engineio.Session)(nil)

// Handshake is what a socket connected with.
type Handshake struct {
	*engineio.Handshake
	// Auth is the JSON object of the client's CONNECT packet (socket.io's
	// handshake.auth); "{}" when the client sent none.
	Auth json.RawMessage
}

// Socket is one client connected to one namespace. Its methods are safe for
// concurrent use.
type Socket struct {
	id     string
	nsp    *Namespace
	conn   Conn
	client *client // the Engine.IO client; nil for plain WebSocket sockets
	plain  bool    // receives the plain WebSocket JSON envelope
	hs     *Handshake

	mu           sync.Mutex // guards the fields below
	connected    bool
	closed       bool // disconnected for good; before connected and closed, middlewares run
	rooms        []string
	handlers     map[string]EventHandler
	onDisconnect []DisconnectHandler
	acks         map[uint64]func(Args, error) // pending server→client acks
	data         any
	user         string
	identity     any
}

type ackResult struct {
	args Args
	err  error
}

// expectAck registers fn for the client's ack with id; false if the socket is gone.
func (s *Socket) expectAck(id uint64, fn func(Args, error)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return false
	}
	if s.acks == nil {
		s.acks = make(map[uint64]func(Args, error))
	}
	s.acks[id] = fn
	return true
}

// ID returns the socket id: a fresh 20-character id per namespace, not the Engine.IO
// session id (Socket.IO v5).
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the connection's handshake.
func (s *Socket) Handshake() *Handshake { return s.hs }

// Transport returns the current transport name.
func (s *Socket) Transport() string { return s.conn.Transport() }

// Plain reports whether the socket is a plain WebSocket (JSON envelope) connection.
func (s *Socket) Plain() bool { return s.plain }

// Data returns the value set by SetData.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData attaches an application value to the socket (socket.io's socket.data).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// User returns the id of the user the socket was authenticated as, "" when anonymous.
func (s *Socket) User() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Identity returns what the authenticating middleware recorded with SetUser (for
// example JWT claims), or nil.
func (s *Socket) Identity() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identity
}

// SetUser records who the socket is; an authenticating middleware calls it (package
// auth). It does not join any room: audiences are the middleware's choice.
func (s *Socket) SetUser(id string, identity any) {
	s.mu.Lock()
	s.user, s.identity = id, identity
	s.mu.Unlock()
}

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// On registers the handler for an event on this socket, replacing any earlier one.
// Namespace.On registers a handler for every socket without a per-socket cost.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	if s.handlers == nil {
		s.handlers = make(map[string]EventHandler)
	}
	s.handlers[event] = h
	s.mu.Unlock()
}

// OnDisconnect registers a handler for the socket's disconnection. Registered after
// the socket disconnected, it never runs.
func (s *Socket) OnDisconnect(h DisconnectHandler) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, h)
	s.mu.Unlock()
}

func (s *Socket) handler(event string) EventHandler {
	s.mu.Lock()
	h := s.handlers[event]
	s.mu.Unlock()
	if h != nil {
		return h
	}
	return s.nsp.handler(event)
}

// Emit sends an event to this socket. Arguments are encoded as described for
// BroadcastOperator.Emit; []byte arguments travel as binary attachments.
func (s *Socket) Emit(event string, args ...any) error {
	if err := checkEventName(event); err != nil {
		return err
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return s.send(&message{kind: PacketEvent, nsp: s.nsp.name, event: event, args: enc})
}

// EmitWithAck sends an event that asks the client for an acknowledgement and waits for
// it until ctx is done. Do not call it from an EventHandler's goroutine (the reply
// arrives on that goroutine): start a goroutine.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	if s.plain {
		return Args{}, ErrAckUnsupported
	}
	if err := checkEventName(event); err != nil {
		return Args{}, err
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return Args{}, err
	}
	id := s.nsp.ackIDs.Add(1) - 1
	ch := make(chan ackResult, 1)
	if !s.expectAck(id, func(a Args, err error) { ch <- ackResult{a, err} }) {
		return Args{}, ErrDisconnected
	}
	if err := s.send(&message{kind: PacketEvent, nsp: s.nsp.name, event: event, hasID: true, id: id, args: enc}); err != nil {
		s.dropAck(id)
		return Args{}, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.dropAck(id)
		return Args{}, ctx.Err()
	}
}

func (s *Socket) dropAck(id uint64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// send queues m in the socket's wire format.
func (s *Socket) send(m *message) error {
	if s.plain {
		return s.conn.Send(m.plainFrame())
	}
	frames := m.sioFrames()
	if len(frames) == 1 {
		return s.conn.Send(frames[0])
	}
	return s.conn.SendBatch(frames)
}

// Join adds the socket to rooms. A middleware may call it: the rooms take effect when
// the socket connects. After a disconnect it does nothing.
func (s *Socket) Join(rooms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, r := range rooms {
		if r == s.id || slices.Contains(s.rooms, r) {
			continue
		}
		s.rooms = append(s.rooms, r)
		if s.connected {
			s.nsp.hub.join(r, s, s.nsp)
		}
	}
}

// Leave removes the socket from room.
func (s *Socket) Leave(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.rooms, room)
	if i < 0 {
		return
	}
	s.rooms = slices.Delete(s.rooms, i, i+1)
	if s.connected {
		s.nsp.hub.leave(room, s, s.nsp)
	}
}

// Rooms returns the rooms the socket is in, its own id first.
func (s *Socket) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{s.id}, s.rooms...)
}

// In reports whether the socket is in room.
func (s *Socket) In(room string) bool {
	if room == s.id {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.rooms, room)
}

// To starts a broadcast to rooms that excludes this socket (socket.io's
// socket.to(room).emit).
func (s *Socket) To(rooms ...string) BroadcastOperator {
	return BroadcastOperator{nsp: s.nsp, rooms: rooms, except: []string{s.id}}
}

// Broadcast starts a broadcast to the whole namespace except this socket.
func (s *Socket) Broadcast() BroadcastOperator {
	return BroadcastOperator{nsp: s.nsp, except: []string{s.id}}
}

// DisconnectWithReason is Disconnect(false) with the reason the disconnect handlers
// receive (for example "token expired"); the client sees "io server disconnect".
func (s *Socket) DisconnectWithReason(reason string) {
	if s.plain {
		s.HandleClose(reason)
		s.conn.Close()
		return
	}
	if s.Connected() {
		_ = s.conn.Send(engineio.NewFrame(AppendHeader([]byte{byte(engineio.PacketMessage)}, PacketDisconnect, 0, s.nsp.name, false, 0)))
		s.HandleClose(reason)
	}
}

// Disconnect disconnects the socket from its namespace (the client receives a
// DISCONNECT packet and does not reconnect). With close, every namespace of the
// connection is disconnected and the connection itself is closed.
func (s *Socket) Disconnect(close bool) {
	if close && !s.plain {
		s.client.disconnectAll()
		return
	}
	s.DisconnectWithReason(ReasonServerNamespaceDisconnect)
}

// HandleEvent delivers an event that arrived on the socket's connection to its
// handler. Transports other than Engine.IO (package plainws) call it; wantsAck makes
// Event.Ack available.
func (s *Socket) HandleEvent(name string, args Args, wantsAck bool, ackID uint64) {
	h := s.handler(name)
	if h == nil {
		return
	}
	h(s, &Event{Name: name, Args: args, sock: s, wantsAck: wantsAck, ackID: ackID})
}

// HandleClose ends the socket: it leaves every room, pending EmitWithAck calls fail
// with ErrDisconnected, and the disconnect handlers run with reason. Only the first
// call has an effect. Transports call it when the connection closes.
func (s *Socket) HandleClose(reason string) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected, s.closed = false, true
	for _, r := range s.rooms {
		s.nsp.hub.leave(r, s, s.nsp)
	}
	s.rooms = nil
	acks, handlers := s.acks, s.onDisconnect
	s.acks, s.onDisconnect, s.handlers = nil, nil, nil
	s.nsp.hub.removeSocket(s)
	s.nsp.roomDeleted(s.id)
	s.mu.Unlock()
	if s.client != nil {
		s.client.removeSocket(s)
	}
	for _, fn := range acks {
		fn(Args{}, ErrDisconnected)
	}
	for _, h := range handlers {
		h(s, reason)
	}
	s.nsp.srv.log.Debug("socketio: socket disconnected", "sid", s.id, "nsp", s.nsp.name, "reason", reason)
}

func (s *Socket) onAck(p *Packet, atts [][]byte) {
	args, err := splitArray(p.Data)
	if err != nil {
		return
	}
	s.mu.Lock()
	fn := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if fn != nil {
		fn(Args{Raw: args, Attachments: atts}, nil)
	}
}
