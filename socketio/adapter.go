package socketio

import "encoding/json"

// Adapter connects a Server's namespaces to other nodes: package cluster implements
// it over a bus. Without an adapter a Server is a single node.
type Adapter interface {
	// Publish sends a broadcast made on this node to the other nodes. It is called once
	// per broadcast, after local delivery; it must not block (queue and return).
	Publish(b *Broadcast)
	// RoomCreated and RoomDeleted report that a room got its first local member or lost
	// its last one; a socket's own id counts as a room. An adapter uses them to
	// subscribe only to the rooms this node holds. They run with socketio locks held
	// (a room's calls under that room's lock, so they arrive in the order the room
	// was created and deleted): they must not block or call into the Server.
	RoomCreated(nsp, room string)
	RoomDeleted(nsp, room string)
}

// Broadcast is a broadcast as it travels between nodes: the event, its arguments
// encoded once, and the audience (see BroadcastOperator).
type Broadcast struct {
	Namespace string
	Event     string
	Args      Args
	Rooms     []string
	Except    []string
}

// SetAdapter installs the adapter. Call it before the server takes connections.
func (s *Server) SetAdapter(a Adapter) { s.adapter.Store(&a) }

// getAdapter returns the adapter or nil.
func (s *Server) getAdapter() Adapter {
	if p := s.adapter.Load(); p != nil {
		return *p
	}
	return nil
}

// Deliver delivers a broadcast that arrived from another node to the matching local
// sockets, without publishing it again, and returns how many it reached. The frames
// are built once, as for a local broadcast.
func (n *Namespace) Deliver(b *Broadcast) int {
	if checkEventName(b.Event) != nil {
		return 0
	}
	m := &message{kind: PacketEvent, nsp: n.name, event: b.Event, args: encodedArgs{
		json:  joinRaw(b.Args.Raw),
		count: len(b.Args.Raw),
		atts:  b.Args.Attachments,
	}}
	return n.deliver(m, b.Rooms, b.Except)
}

func joinRaw(raw []json.RawMessage) []byte {
	n := 0
	for _, r := range raw {
		n += len(r) + 1
	}
	out := make([]byte, 0, n)
	for i, r := range raw {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return out
}

// roomCreated and roomDeleted forward room changes to the adapter, if any.
func (n *Namespace) roomCreated(room string) {
	if a := n.srv.getAdapter(); a != nil {
		a.RoomCreated(n.name, room)
	}
}

func (n *Namespace) roomDeleted(room string) {
	if a := n.srv.getAdapter(); a != nil {
		a.RoomDeleted(n.name, room)
	}
}
