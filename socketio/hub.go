package socketio

import (
	"sync"
	"sync/atomic"
)

// hubShards is the number of lock shards of a namespace's indexes. centrifuge uses 64
// for both its connection and subscription hubs; 32 is plenty on the core counts Herald
// targets and halves the empty-namespace cost.
const hubShards = 32

// hub indexes a namespace's sockets: by id, and by room. Each index is sharded by an
// FNV-1a hash of its key.
//
// Lock order: Socket.mu, then hub shard locks, then engineio.Session.mu. A shard lock
// is held only to read or update the index and to queue frames, never for network I/O.
type hub struct {
	sockets [hubShards]struct {
		mu sync.RWMutex
		m  map[string]*Socket
	}
	rooms [hubShards]struct {
		mu sync.RWMutex
		m  map[string]map[*Socket]struct{}
	}
	count atomic.Int64
}

func newHub() *hub {
	h := new(hub)
	for i := range h.sockets {
		h.sockets[i].m = make(map[string]*Socket)
		h.rooms[i].m = make(map[string]map[*Socket]struct{})
	}
	return h
}

func shardOf(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % hubShards
}

func (h *hub) addSocket(s *Socket) {
	sh := &h.sockets[shardOf(s.id)]
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
	h.count.Add(1)
}

func (h *hub) removeSocket(s *Socket) {
	sh := &h.sockets[shardOf(s.id)]
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
		h.count.Add(-1)
	}
	sh.mu.Unlock()
}

func (h *hub) socket(id string) *Socket {
	sh := &h.sockets[shardOf(id)]
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}

// join adds s to room; when the room is created (its first member) it tells n's
// adapter so before the room's lock is released. Under that lock the adapter hears of
// a room's creations and deletions in the order they happen: a socket joining while
// the room's last member leaves elsewhere cannot have its RoomCreated overtaken by
// that RoomDeleted, which would leave the node holding a member of a room it no longer
// subscribes to (seen in herald-bench's users test under load).
func (h *hub) join(room string, s *Socket, n *Namespace) {
	sh := &h.rooms[shardOf(room)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	members := sh.m[room]
	if members == nil {
		members = make(map[*Socket]struct{}, 1)
		sh.m[room] = members
		n.roomCreated(room)
	}
	members[s] = struct{}{}
}

// leave removes s from room; when the room is deleted (its last member) it tells n's
// adapter so under the room's lock (see join).
func (h *hub) leave(room string, s *Socket, n *Namespace) {
	sh := &h.rooms[shardOf(room)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	members := sh.m[room]
	if members == nil {
		return
	}
	delete(members, s)
	if len(members) == 0 {
		delete(sh.m, room)
		n.roomDeleted(room)
	}
}

// forRoom calls fn for every member of room. A socket is always a member of the room
// named by its own id (socket.io joins it explicitly; Herald resolves it from the id
// index, which saves a map per socket). fn runs under the shard's read lock: it must
// only queue, never block.
func (h *hub) forRoom(room string, fn func(*Socket)) {
	sh := &h.rooms[shardOf(room)]
	sh.mu.RLock()
	for s := range sh.m[room] {
		fn(s)
	}
	sh.mu.RUnlock()
	if s := h.socket(room); s != nil {
		fn(s)
	}
}

// forAll calls fn for every socket, under each shard's read lock in turn.
func (h *hub) forAll(fn func(*Socket)) {
	for i := range h.sockets {
		sh := &h.sockets[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			fn(s)
		}
		sh.mu.RUnlock()
	}
}

// roomSize returns the number of members of room, counting a socket-id room as 1.
func (h *hub) roomSize(room string) int {
	sh := &h.rooms[shardOf(room)]
	sh.mu.RLock()
	n := len(sh.m[room])
	sh.mu.RUnlock()
	if h.socket(room) != nil {
		n++
	}
	return n
}

// allRooms returns the names of every room with members (socket-id rooms excluded).
func (h *hub) allRooms() []string {
	var out []string
	for i := range h.rooms {
		sh := &h.rooms[i]
		sh.mu.RLock()
		for r := range sh.m {
			out = append(out, r)
		}
		sh.mu.RUnlock()
	}
	return out
}
