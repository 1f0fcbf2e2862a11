// Package bench is Herald's load-test namespace: the events that herald-bench drives,
// with the same behaviour as the Node socket.io peer in bench/peers/socketio-node, so
// one load client measures both servers the same way.
//
// It is off in production: cmd/herald registers it only with HERALD_BENCH=true.
//
// Events on the namespace /bench:
//
//	join(room, ack?)               joins room when it is a non-empty string; acks "ok"
//	broadcast(room, payload, ack?) emits "bench"(payload) to room when it is a string,
//	                               to the whole namespace when it is null or absent
//	                               (the sender included either way), to nobody for any
//	                               other value; acks "ok"
//	echo(args..., ack)             acks with the same arguments, binary included
//
// Payloads are forwarded as the client sent them (socketio.Args): never decoded or
// re-encoded.
package bench

import (
	"bytes"

	"github.com/heraldhq/herald/socketio"
)

// Namespace is the namespace Register sets up.
const Namespace = "/bench"

// Event is the event name a broadcast is delivered under.
const Event = "bench"

// Register adds the bench handlers to the namespace /bench of io and returns it.
func Register(io *socketio.Server) *socketio.Namespace {
	nsp := io.Of(Namespace)
	nsp.On("join", func(s *socketio.Socket, ev *socketio.Event) {
		if room, ok := ev.String(0); ok && room != "" {
			s.Join(room)
		}
		_ = ev.Ack("ok") // ErrNoAck when none was asked for
	})
	nsp.On("broadcast", func(_ *socketio.Socket, ev *socketio.Event) {
		broadcast(nsp, ev)
		_ = ev.Ack("ok")
	})
	nsp.On("echo", func(_ *socketio.Socket, ev *socketio.Event) {
		_ = ev.Ack(ev.Args)
	})
	return nsp
}

var jsonNull = []byte("null")

// broadcast emits the event's second argument to the audience its first one names.
func broadcast(nsp *socketio.Namespace, ev *socketio.Event) {
	var payload any // absent: sent as null, as JSON.stringify does with undefined
	if ev.Len() >= 2 {
		// Only the payload is forwarded; the attachments go along whole, so its
		// placeholders keep their numbers (an unreferenced one costs a frame, no more).
		payload = socketio.Args{Raw: ev.Raw[1:2], Attachments: ev.Attachments}
	}
	if ev.Len() == 0 || bytes.Equal(bytes.TrimSpace(ev.Raw[0]), jsonNull) {
		_ = nsp.Emit(Event, payload)
		return
	}
	if room, ok := ev.String(0); ok {
		_ = nsp.To(room).Emit(Event, payload)
	}
	// Any other room value (a number, an array, an object) reaches nobody.
}
