package socketio

import "time"

// BroadcastOperator selects the sockets of a namespace that a broadcast reaches: the
// members of any of its rooms (every socket when it names none), minus the members of
// any except room. It is a value: each To or Except returns a new operator, so one can
// be kept and reused.
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []string
	except []string
	local  bool
}

// Local restricts the broadcast to this node's sockets (socket.io's io.local).
func (b BroadcastOperator) Local() BroadcastOperator {
	b.local = true
	return b
}

// To adds rooms to the audience. A socket id is a room holding that socket.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.rooms = append(b.rooms[:len(b.rooms):len(b.rooms)], rooms...)
	return b
}

// In is an alias of To, as in socket.io.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except removes the members of rooms from the audience.
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.except = append(b.except[:len(b.except):len(b.except)], rooms...)
	return b
}

// Emit sends the event to the audience. The packet is encoded once per wire format and
// queued to each recipient; it never waits on a recipient's network. A recipient whose
// queue is full is disconnected with reason "slow consumer".
func (b BroadcastOperator) Emit(event string, args ...any) error {
	_, err := b.EmitCount(event, args...)
	return err
}

// EmitCount is Emit that also reports how many sockets the event was queued to.
func (b BroadcastOperator) EmitCount(event string, args ...any) (int, error) {
	if err := checkEventName(event); err != nil {
		return 0, err
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return 0, err
	}
	m := &message{kind: PacketEvent, nsp: b.nsp.name, event: event, args: enc}
	n := b.nsp.deliver(m, b.rooms, b.except)
	if a := b.nsp.srv.getAdapter(); a != nil && !b.local {
		// The adapter validates the JSON as it encodes it for the bus (a json.RawMessage
		// argument is taken verbatim here).
		a.Publish(&Broadcast{Namespace: b.nsp.name, Event: event, Args: Args{Raw: enc.raws(), Attachments: enc.atts},
			Rooms: b.rooms, Except: b.except})
	}
	return n, nil
}

// EmitWithAckFunc sends the event to the audience on this node asking each socket for
// an acknowledgement (one ack id for all of them, as socket.io does), calls onAck for
// each answer as it arrives, and returns how many sockets it was sent to. Answers that
// come after timeout are ignored. Plain WebSocket sockets have no acks and are
// skipped. onAck runs on the answering connection's goroutine: it must not block.
func (b BroadcastOperator) EmitWithAckFunc(timeout time.Duration, event string, onAck func(Args), args ...any) (int, error) {
	if err := checkEventName(event); err != nil {
		return 0, err
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return 0, err
	}
	id := b.nsp.ackIDs.Add(1) - 1
	m := &message{kind: PacketEvent, nsp: b.nsp.name, event: event, hasID: true, id: id, args: enc}
	var targets []*Socket
	b.nsp.selectSockets(b.rooms, b.except, func(s *Socket) {
		if !s.plain {
			targets = append(targets, s)
		}
	})
	deadline := time.Now().Add(timeout)
	count := 0
	for _, s := range targets {
		ok := s.expectAck(id, func(a Args, err error) {
			if err == nil && time.Now().Before(deadline) {
				onAck(a)
			}
		})
		if ok && s.send(m) == nil {
			count++
		}
	}
	if timeout > 0 {
		time.AfterFunc(timeout, func() {
			for _, s := range targets {
				s.dropAck(id)
			}
		})
	}
	return count, nil
}

// Sockets returns the selected sockets of this node.
func (b BroadcastOperator) Sockets() []*Socket {
	var out []*Socket
	b.nsp.selectSockets(b.rooms, b.except, func(s *Socket) { out = append(out, s) })
	return out
}

// SocketsJoin makes the selected sockets of this node join rooms.
func (b BroadcastOperator) SocketsJoin(rooms ...string) {
	for _, s := range b.Sockets() {
		s.Join(rooms...)
	}
}

// SocketsLeave makes the selected sockets of this node leave rooms.
func (b BroadcastOperator) SocketsLeave(rooms ...string) {
	for _, s := range b.Sockets() {
		for _, r := range rooms {
			s.Leave(r)
		}
	}
}

// SocketIDs returns the ids of the sockets the operator selects.
func (b BroadcastOperator) SocketIDs() []string {
	var ids []string
	b.nsp.selectSockets(b.rooms, b.except, func(s *Socket) { ids = append(ids, s.id) })
	return ids
}

// DisconnectSockets disconnects the selected sockets (close: also their connections).
func (b BroadcastOperator) DisconnectSockets(close bool) {
	for _, s := range b.Sockets() {
		s.Disconnect(close)
	}
}

// deliver queues m to every selected socket and returns how many there were.
func (n *Namespace) deliver(m *message, rooms, except []string) int {
	count := 0
	n.selectSockets(rooms, except, func(s *Socket) {
		if s.send(m) == nil {
			count++
		}
	})
	return count
}

// selectSockets calls fn once for each socket in any of rooms (all sockets when rooms
// is empty) and in none of except. fn runs under a hub read lock.
func (n *Namespace) selectSockets(rooms, except []string, fn func(*Socket)) {
	var excluded map[*Socket]struct{}
	if len(except) > 0 {
		excluded = make(map[*Socket]struct{})
		for _, r := range except {
			n.hub.forRoom(r, func(s *Socket) { excluded[s] = struct{}{} })
		}
	}
	visit := fn
	if excluded != nil {
		visit = func(s *Socket) {
			if _, skip := excluded[s]; !skip {
				fn(s)
			}
		}
	}
	switch len(rooms) {
	case 0:
		n.hub.forAll(visit)
	case 1:
		n.hub.forRoom(rooms[0], visit)
	default:
		seen := make(map[*Socket]struct{})
		for _, r := range rooms {
			n.hub.forRoom(r, func(s *Socket) {
				if _, dup := seen[s]; !dup {
					seen[s] = struct{}{}
					visit(s)
				}
			})
		}
	}
}
