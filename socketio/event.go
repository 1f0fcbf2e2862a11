package socketio

import (
	"errors"
	"sync/atomic"
)

// Event is an event received from a client.
type Event struct {
	// Name is the event name. A numeric name from the client is kept as its JSON text.
	Name string
	Args
	sock     *Socket
	wantsAck bool
	ackID    uint64
	acked    atomic.Bool
	mirror   *BroadcastOperator
}

// MirrorAck makes Ack also emit the reply, as event Name with the same arguments, to
// the audience of op (for example the user's other tabs: see auth.PropagateReplies).
// The mirror is sent even when the client asked for no ack; the caller is expected to
// exclude the origin socket from op, so it does not get the reply twice.
func (e *Event) MirrorAck(op BroadcastOperator) { e.mirror = &op }

// Handlers.
type (
	// EventHandler handles one event from a socket. It runs on the connection's read
	// goroutine: it must not block, and it must not wait for anything the same client
	// would send (such as the reply to EmitWithAck); start a goroutine for that.
	EventHandler func(s *Socket, ev *Event)
	// ConnectionHandler runs once a socket has connected to a namespace.
	ConnectionHandler func(s *Socket)
	// DisconnectHandler runs once when a socket disconnects, after it left its rooms.
	DisconnectHandler func(s *Socket, reason string)
	// Middleware runs for each connection attempt to a namespace, in the order added;
	// a non-nil error refuses it (see ConnectError). The socket is not yet connected:
	// it may read the handshake and set data, but cannot emit or join.
	Middleware func(s *Socket) error
)

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.wantsAck }

// Ack answers the event's acknowledgement with args (encoded as by Emit). On a plain
// WebSocket, the reply goes back as {"event": Name, "data": ...}, as a NestJS gateway
// handler's return value does. Only the first call sends anything.
func (e *Event) Ack(args ...any) error {
	if !e.acked.CompareAndSwap(false, true) {
		return ErrAlreadyAcked
	}
	var mirrorErr error
	if e.mirror != nil {
		mirrorErr = e.mirror.Emit(e.Name, args...)
	}
	if !e.wantsAck {
		return errors.Join(ErrNoAck, mirrorErr)
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return errors.Join(err, mirrorErr)
	}
	return errors.Join(e.sock.send(&message{kind: PacketAck, nsp: e.sock.nsp.name, event: e.Name, hasID: true, id: e.ackID, args: enc}), mirrorErr)
}
