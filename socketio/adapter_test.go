package socketio

import (
	"runtime"
	"sync"
	"testing"

	"github.com/heraldhq/herald/engineio"
)

// roomRecorder is an Adapter that keeps the rooms it was told exist, as a bus keeps
// its wanted subscriptions: the last call for a room wins.
type roomRecorder struct {
	mu    sync.Mutex
	rooms map[string]bool
}

func (r *roomRecorder) Publish(*Broadcast) {}

func (r *roomRecorder) RoomCreated(_, room string) {
	r.mu.Lock()
	r.rooms[room] = true
	r.mu.Unlock()
}

func (r *roomRecorder) RoomDeleted(_, room string) {
	// A slow adapter: whatever else may run before the deletion is recorded, runs.
	for range 3 {
		runtime.Gosched()
	}
	r.mu.Lock()
	delete(r.rooms, room)
	r.mu.Unlock()
}

func (r *roomRecorder) has(room string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[room]
}

// nopConn is a Conn that drops what is sent.
type nopConn struct{}

func (nopConn) Send(*engineio.Frame) error        { return nil }
func (nopConn) SendBatch([]*engineio.Frame) error { return nil }
func (nopConn) Transport() string                 { return "test" }
func (nopConn) Close()                            {}

// TestAdapterHearsRoomChangesInOrder: one socket joins a room while its last member
// leaves. Whatever the interleaving, the adapter must end up told the room exists:
// a RoomDeleted that overtook the RoomCreated would leave a node with a member in a
// room it no longer subscribes to (the users test saw it under load).
func TestAdapterHearsRoomChangesInOrder(t *testing.T) {
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &roomRecorder{rooms: map[string]bool{}}
	srv.SetAdapter(rec)
	nsp := srv.Of("/")
	accept := func() *Socket {
		s, err := nsp.Accept(nopConn{}, &Handshake{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := accept(), accept()
	for i := range 3000 {
		a.Join("room")
		var wg sync.WaitGroup
		wg.Add(2)
		start := make(chan struct{}) // both go at once
		go func() { defer wg.Done(); <-start; a.Leave("room") }()
		go func() { defer wg.Done(); <-start; b.Join("room") }()
		close(start)
		wg.Wait()
		if !rec.has("room") {
			t.Fatalf("iteration %d: b is in the room, the adapter was told it is gone", i)
		}
		b.Leave("room")
		if rec.has("room") {
			t.Fatalf("iteration %d: the room is empty, the adapter was not told", i)
		}
	}
	a.HandleClose("test")
	b.HandleClose("test")
}
