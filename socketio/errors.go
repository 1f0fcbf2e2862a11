package socketio

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	ErrDisconnected     = errors.New("socketio: socket disconnected")
	ErrReservedEvent    = errors.New("socketio: reserved event name")
	ErrNoAck            = errors.New("socketio: the client did not ask for an ack")
	ErrAlreadyAcked     = errors.New("socketio: ack already sent")
	ErrAckUnsupported   = errors.New("socketio: the connection's protocol has no acks")
	ErrInvalidNamespace = errors.New("socketio: invalid namespace name")
)

// ConnectError refuses a connection from a Middleware. The client's connect_error
// event receives an Error whose message is Message and whose data is Data (socket.io
// namespace.ts: err.message, err.data). Any other error a middleware returns is sent
// with its Error() text as the message.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return "socketio: connection refused: " + e.Message }

// Disconnect reasons that only the Socket.IO layer produces (the others are the
// engineio.Reason strings: "transport close", "ping timeout", ...).
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonForcedServerClose         = "forced server close"
)

func checkEventName(name string) error {
	if reservedEvents[name] {
		return fmt.Errorf("%w: %q", ErrReservedEvent, name)
	}
	return nil
}
