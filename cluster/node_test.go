package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	redisbus "github.com/heraldhq/herald/bus/redis"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/internal/testredis"
)

// TestMixedClusterWithNode runs two Herald nodes and a Node.js socket.io 4.8.4 server
// with @socket.io/redis-adapter 8.3.0 (classic pub/sub), its socket.io-client 4.8.4 and
// an @socket.io/redis-emitter 5.1.0 emitter (interop/cluster/peer.mjs) as one cluster
// over a private redis-server, and checks that each side's broadcasts and cluster
// requests reach and are answered by the other.
//
// Ordering: Herald handles each bus channel on its own worker and publishes each
// channel through its own publisher, so messages on different channels may overtake
// each other. "Nothing else arrived" checks therefore wait until the message they
// follow was seen by a recipient before sending the marker that closes the window.
func TestMixedClusterWithNode(t *testing.T) {
	start := time.Now()
	dir := interopClusterDir(t)
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("TestMixedClusterWithNode needs node on PATH: %v", err)
	}
	rs := testredis.Start(t) // a private redis-server, never 6379
	newBus := func(h bus.Handler) (bus.Bus, error) {
		return redisbus.New(redisbus.Config{URL: "redis://" + rs.Addr}, h)
	}
	h1, h2 := startNode(t, newBus), startNode(t, newBus)
	sse := make(chan sseCall, 64)
	for i, h := range []*node{h1, h2} {
		name := fmt.Sprintf("herald-%d", i+1)
		for _, event := range []string{"ping", "notice"} {
			h.a.OnServerSideEmit(event, func(nsp string, args []json.RawMessage, ack func(any)) {
				select {
				case sse <- sseCall{node: name, event: event, nsp: nsp, args: compactJSON(args), ack: ack != nil}:
				default:
				}
				if ack != nil {
					ack("pong-from-" + name)
				}
			})
		}
		if err := h.a.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	p := startPeer(t, nodeBin, dir, "redis://"+rs.Addr)
	nodeSID := p.sid
	t.Logf("cluster up in %v: Node client %s", time.Since(start).Round(time.Millisecond), nodeSID)

	// run runs one subtest on an idle cluster: no Herald sockets left from the previous
	// subtest, no Node client events or server-side calls left over.
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			waitUntil(t, "the previous subtest's Herald sockets are gone", func() bool { return h1.io.Of("/").Count() == 0 && h2.io.Of("/").Count() == 0 })
			if left := p.drainClient(); len(left) > 0 && !parent.Failed() {
				t.Errorf("the Node client received events after the previous subtest's final marker: %+v", left)
			}
			drainSSE(sse)
			f(t)
		})
	}

	run("Broadcasts", func(t *testing.T) {
		a, aSID := connectSID(t, h1, "s1-room")
		b, _ := connectSID(t, h1)
		c, _ := connectSID(t, h2, "s1-room")
		d, _ := connectSID(t, h2)
		all := []*testclient.Conn{a, b, c, d}

		// Node io.emit reaches every Herald client.
		p.call(t, "emit", map[string]any{"event": "hello", "args": []any{"world", 1}})
		for _, x := range all {
			x.Expect(t, `42["hello","world",1]`)
		}
		p.expectClient(t, "hello", `["world",1]`)

		// Node io.to(room).emit with a Buffer reaches the room's members only, with the
		// binary intact; except leaves out the excepted socket.
		p.call(t, "emit", map[string]any{"rooms": []string{"s1-room"}, "event": "room", "args": []any{"r", bin("cafe")}})
		p.call(t, "emit", map[string]any{"rooms": []string{"s1-room"}, "except": []string{aSID}, "event": "room-except", "args": []any{2}})
		p.call(t, "emit", map[string]any{"rooms": []string{"s1-room"}, "event": "room-after", "args": []any{3}})
		for _, x := range []*testclient.Conn{a, c} {
			expectBinaryEvent(t, x, `451-["room","r",{"_placeholder":true,"num":0}]`, []byte{0xca, 0xfe})
		}
		c.Expect(t, `42["room-except",2]`)
		a.Expect(t, `42["room-after",3]`) // same channel, so in order: a got no "room-except"
		c.Expect(t, `42["room-after",3]`)
		p.call(t, "emit", map[string]any{"event": "marker1"})
		for _, x := range all {
			x.Expect(t, `42["marker1"]`) // b and d (no room) got nothing before it
		}
		p.expectClient(t, "marker1", `[]`) // the Node client is in no room: no room events

		// Herald To(room).Emit with []byte reaches the Node client exactly.
		p.call(t, "join", map[string]any{"rooms": []string{"s1-node"}})
		if err := h1.io.Of("/").To("s1-node").Emit("to-node", "x", []byte{0xde, 0xad}, map[string]int{"k": 1}); err != nil {
			t.Fatal(err)
		}
		p.expectClient(t, "to-node", `["x",{"$bin":"dead"},{"k":1}]`)
		_ = h1.io.Of("/").To("s1-node").Except(nodeSID).Emit("excepted")
		_ = h1.io.Of("/").To("s1-node").Emit("after-except", 2)
		p.expectClient(t, "after-except", `[2]`) // same channel as "excepted", so in order
		_ = h2.io.Of("/").To("s1-node").Emit("from-h2", []byte{}, "tail")
		p.expectClient(t, "from-h2", `[{"$bin":""},"tail"]`)
		// A room the Node client is not in: wait until c (on h2) has it, so Redis has
		// published it to the Node server too, then the marker.
		_ = h1.io.Of("/").To("s1-room").Emit("not-for-node")
		a.Expect(t, `42["not-for-node"]`)
		c.Expect(t, `42["not-for-node"]`)
		_ = h1.io.Of("/").Emit("marker2")
		for _, x := range all {
			x.Expect(t, `42["marker2"]`)
		}
		p.expectClient(t, "marker2", `[]`)
	})

	run("Emitter", func(t *testing.T) {
		a, _ := connectSID(t, h1, "s2-room")
		b, _ := connectSID(t, h2)
		c, _ := connectSID(t, h2, "s2-doomed")
		all := []*testclient.Conn{a, b, c}

		p.call(t, "emitter.emit", map[string]any{"event": "em-all", "args": []any{1, "x"}})
		for _, x := range all {
			x.Expect(t, `42["em-all",1,"x"]`)
		}
		p.expectClient(t, "em-all", `[1,"x"]`)
		p.call(t, "emitter.emit", map[string]any{"rooms": []string{"s2-room"}, "event": "em-room", "args": []any{bin("01ff")}})
		expectBinaryEvent(t, a, `451-["em-room",{"_placeholder":true,"num":0}]`, []byte{0x01, 0xff})
		p.call(t, "emitter.emit", map[string]any{"event": "em-marker"})
		for _, x := range all {
			x.Expect(t, `42["em-marker"]`) // b and c got no "em-room"
		}
		p.expectClient(t, "em-marker", `[]`)

		// socketsJoin: a (in s2-room, on h1) joins s2-joined; a room broadcast proves it.
		p.call(t, "emitter.socketsJoin", map[string]any{"rooms": []string{"s2-room"}, "join": []string{"s2-joined"}})
		waitUntil(t, "emitter.in(s2-room).socketsJoin(s2-joined) made h1's s2-room member join", func() bool { return h1.io.Of("/").RoomSize("s2-joined") == 1 })
		if n := h2.io.Of("/").RoomSize("s2-joined"); n != 0 {
			t.Fatalf("emitter.in(s2-room).socketsJoin made %d sockets of h2 (none in s2-room) join", n)
		}
		syncAll(t, h1, h2)
		p.call(t, "emit", map[string]any{"rooms": []string{"s2-joined"}, "event": "joined-ev"})
		a.Expect(t, `42["joined-ev"]`)
		// socketsLeave: a leaves again; a broadcast to the room reaches no one.
		p.call(t, "emitter.socketsLeave", map[string]any{"rooms": []string{"s2-room"}, "leave": []string{"s2-joined"}})
		waitUntil(t, "emitter.in(s2-room).socketsLeave(s2-joined) made h1's member leave", func() bool { return h1.io.Of("/").RoomSize("s2-joined") == 0 })
		syncAll(t, h1, h2)
		p.call(t, "emit", map[string]any{"rooms": []string{"s2-joined"}, "event": "left-ev"})
		p.call(t, "emit", map[string]any{"event": "em-marker2"})
		for _, x := range all {
			x.Expect(t, `42["em-marker2"]`) // a got no "left-ev": it is in no s2-joined any more
		}
		p.expectClient(t, "em-marker2", `[]`)

		// disconnectSockets: the s2-doomed member is disconnected (41), the others stay.
		p.call(t, "emitter.disconnectSockets", map[string]any{"rooms": []string{"s2-doomed"}})
		c.Expect(t, "41")
		waitUntil(t, "h2 dropped the disconnected socket", func() bool { return h2.io.Of("/").Count() == 1 })
		p.call(t, "emitter.emit", map[string]any{"event": "em-marker3"})
		a.Expect(t, `42["em-marker3"]`)
		b.Expect(t, `42["em-marker3"]`)
		p.expectClient(t, "em-marker3", `[]`)

		// serverSideEmit reaches both Herald nodes' handlers (and the Node server).
		p.call(t, "emitter.serverSideEmit", map[string]any{"event": "notice", "args": []any{"from-emitter", map[string]int{"n": 2}}})
		got := map[string]sseCall{}
		for range 2 {
			s := nextSSE(t, sse)
			got[s.node] = s
		}
		for _, name := range []string{"herald-1", "herald-2"} {
			want := sseCall{node: name, event: "notice", nsp: "/", args: []string{`"from-emitter"`, `{"n":2}`}}
			if !reflect.DeepEqual(got[name], want) {
				t.Errorf("emitter.serverSideEmit on %s: got %+v, want %+v", name, got[name], want)
			}
		}
		p.expectServer(t, "notice", `["from-emitter",{"n":2}]`, false)
	})

	run("NodeRequests", func(t *testing.T) {
		a, aSID := connectSID(t, h1, "s3-room", "s3-a")
		b, bSID := connectSID(t, h2, "s3-room")
		nodeRooms := p.join(t, "s3-room")

		// fetchSockets: Herald's sockets with their rooms and handshake.
		var fetched []struct {
			ID        string
			Rooms     []string
			Handshake struct {
				Address string
				URL     string
				Query   map[string]any
				Auth    map[string]any
				Headers map[string]any
			}
		}
		r := p.call(t, "fetchSockets", map[string]any{"rooms": []string{"s3-room"}})
		decode(t, r.Result, &fetched)
		gotRooms := map[string][]string{}
		for _, s := range fetched {
			slices.Sort(s.Rooms)
			gotRooms[s.ID] = s.Rooms
			if s.ID == aSID && (s.Handshake.Address != "127.0.0.1" || s.Handshake.Query["EIO"] != "4" || s.Handshake.Auth == nil ||
				!strings.Contains(s.Handshake.URL, "EIO=4")) {
				t.Errorf("Node's fetchSockets: Herald socket's handshake %+v", s.Handshake)
			}
			// The kept request headers, lower-cased as socket.handshake.headers; those of
			// the upgrade itself are not kept.
			if s.ID == aSID && (s.Handshake.Headers["user-agent"] != "Go-http-client/1.1" || s.Handshake.Headers["sec-websocket-key"] != nil) {
				t.Errorf("Node's fetchSockets: Herald socket's headers %v", s.Handshake.Headers)
			}
		}
		wantRooms := map[string][]string{
			aSID:    sorted(aSID, "s3-room", "s3-a"),
			bSID:    sorted(bSID, "s3-room"),
			nodeSID: nodeRooms,
		}
		if !reflect.DeepEqual(gotRooms, wantRooms) {
			t.Errorf("Node's io.in(s3-room).fetchSockets(): ids → rooms %v, want %v", gotRooms, wantRooms)
		}
		checkFast(t, "fetchSockets", r)
		r = p.call(t, "fetchSockets", nil)
		decode(t, r.Result, &fetched)
		if len(fetched) != 3 {
			t.Errorf("Node's io.fetchSockets(): %d sockets, want 3 (two Herald, one Node)", len(fetched))
		}

		// allRooms includes Herald's rooms and socket ids.
		var rooms []string
		r = p.call(t, "allRooms", nil)
		decode(t, r.Result, &rooms)
		if !containsAll(rooms, "s3-room", "s3-a", aSID, bSID, nodeSID) {
			t.Errorf("Node's allRooms() = %v, want it to include s3-room, s3-a and the sockets %s %s %s", rooms, aSID, bSID, nodeSID)
		}
		checkFast(t, "allRooms", r)

		// serverSideEmitWithAck: one answer from each Herald node.
		var acks []string
		r = p.call(t, "serverSideEmitWithAck", map[string]any{"event": "ping", "args": []any{"from-node", map[string]int{"n": 3}}})
		decode(t, r.Result, &acks)
		slices.Sort(acks)
		if want := []string{"pong-from-herald-1", "pong-from-herald-2"}; !slices.Equal(acks, want) {
			t.Errorf("Node's serverSideEmitWithAck(ping) = %q, want %q", acks, want)
		}
		checkFast(t, "serverSideEmitWithAck", r)
		for range 2 {
			if s := nextSSE(t, sse); s.event != "ping" || !s.ack || !slices.Equal(s.args, []string{`"from-node"`, `{"n":3}`}) {
				t.Errorf("Herald's OnServerSideEmit(ping) got %+v", s)
			}
		}

		// io.timeout(2000).emitWithAck("ask"): both Herald clients and the Node client answer.
		reply := p.send(t, "emitWithAck", map[string]any{"rooms": []string{"s3-room"}, "timeout": 2000, "event": "ask", "args": []any{3}})
		answerAsk(t, a, `["ask",3]`, nil, `"herald-client"`)
		answerAsk(t, b, `["ask",3]`, nil, `"herald-client"`)
		p.expectClientAck(t, "ask", `[3]`)
		r = p.wait(t, reply)
		decode(t, r.Result, &acks)
		slices.Sort(acks)
		if want := []string{"herald-client", "herald-client", "node-client"}; !slices.Equal(acks, want) {
			t.Errorf("Node's io.to(s3-room).timeout(2000).emitWithAck(ask) = %q, want %q", acks, want)
		}
		checkFast(t, "emitWithAck", r)
	})

	run("HeraldRequests", func(t *testing.T) {
		a, aSID := connectSID(t, h1, "s4-room")
		b, bSID := connectSID(t, h2, "s4-room")
		nodeRooms := p.join(t, "s4-room")
		ctx := context.Background()

		socks, err := h1.a.FetchSockets(ctx, "/", []string{"s4-room"}, nil)
		if err != nil {
			t.Errorf("Herald FetchSockets: %v", err)
		}
		gotRooms := map[string][]string{}
		for _, s := range socks {
			gotRooms[s.ID] = sorted(s.Rooms...)
			if s.ID == nodeSID {
				var q map[string]any
				if json.Unmarshal(s.Handshake.Query, &q) != nil || q["EIO"] != "4" || s.Handshake.Address != "127.0.0.1" || s.Handshake.Issued == 0 {
					t.Errorf("Herald FetchSockets: the Node socket's handshake %+v", s.Handshake)
				}
			}
		}
		wantRooms := map[string][]string{
			aSID:    sorted(aSID, "s4-room"),
			bSID:    sorted(bSID, "s4-room"),
			nodeSID: nodeRooms,
		}
		if !reflect.DeepEqual(gotRooms, wantRooms) {
			t.Errorf("Herald FetchSockets(s4-room): ids → rooms %v, want %v", gotRooms, wantRooms)
		}

		rooms, err := h2.a.AllRooms(ctx, "/")
		if err != nil || !containsAll(rooms, append(nodeRooms, "s4-room", aSID, bSID)...) {
			t.Errorf("Herald AllRooms = %v, %v; want it to include s4-room, the sockets %s %s and the Node client's rooms %v", rooms, err, aSID, bSID, nodeRooms)
		}

		// SocketsJoin / SocketsLeave from Herald reach the Node server's sockets too.
		if err := h1.a.SocketsJoin(ctx, "/", []string{"s4-room"}, nil, []string{"s4-joined"}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "every s4-room member, the Node client's socket included, joined s4-joined", func() bool {
			return h1.io.Of("/").RoomSize("s4-joined") == 1 && h2.io.Of("/").RoomSize("s4-joined") == 1 &&
				slices.Contains(p.rooms(t), "s4-joined")
		})
		syncAll(t, h1, h2)
		_ = h2.io.Of("/").To("s4-joined").Emit("s4-j")
		a.Expect(t, `42["s4-j"]`)
		b.Expect(t, `42["s4-j"]`)
		p.expectClient(t, "s4-j", `[]`)
		if err := h2.a.SocketsLeave(ctx, "/", []string{nodeSID}, nil, []string{"s4-joined"}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the Node client's socket left s4-joined", func() bool { return !slices.Contains(p.rooms(t), "s4-joined") })
		if h1.io.Of("/").RoomSize("s4-joined") != 1 || h2.io.Of("/").RoomSize("s4-joined") != 1 {
			t.Errorf("SocketsLeave(rooms=[%s]) made Herald sockets leave too", nodeSID)
		}

		// ServerSideEmit with acks: the Node server and the other Herald node answer.
		acks, err := h1.a.ServerSideEmit(ctx, "/", "ping", true, "from-herald-1")
		got := make([]string, len(acks))
		for i, x := range acks {
			got[i] = string(x)
		}
		slices.Sort(got)
		if want := []string{`"pong-from-herald-2"`, `"pong-from-node"`}; err != nil || !slices.Equal(got, want) {
			t.Errorf("Herald ServerSideEmit(ping, acks) = %v, %v; want %v", got, err, want)
		}
		p.expectServer(t, "ping", `["from-herald-1"]`, true)
		if s := nextSSE(t, sse); s.node != "herald-2" || !s.ack || !slices.Equal(s.args, []string{`"from-herald-1"`}) {
			t.Errorf("herald-2's OnServerSideEmit(ping) got %+v", s)
		}
		// Without acks.
		if _, err := h1.a.ServerSideEmit(ctx, "/", "notice", false, "n4", 4); err != nil {
			t.Errorf("Herald ServerSideEmit(notice): %v", err)
		}
		p.expectServer(t, "notice", `["n4",4]`, false)
		if s := nextSSE(t, sse); s.node != "herald-2" || s.ack || !slices.Equal(s.args, []string{`"n4"`, `4`}) {
			t.Errorf("herald-2's OnServerSideEmit(notice) got %+v", s)
		}

		// BroadcastWithAck: a (local), b (on h2) and the Node client answer.
		type result struct {
			acks []string
			n    int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			acks, n, err := h1.a.BroadcastWithAck(ctx, "/", []string{"s4-room"}, nil, 2*time.Second, "ask", "q4", []byte{4})
			var r result
			r.n, r.err = n, err
			for _, x := range acks {
				v := "?"
				if len(x.Raw) > 0 {
					v = string(x.Raw[0])
				}
				r.acks = append(r.acks, v)
			}
			done <- r
		}()
		answerAsk(t, a, `["ask","q4",{"_placeholder":true,"num":0}]`, [][]byte{{4}}, `"herald-client"`)
		answerAsk(t, b, `["ask","q4",{"_placeholder":true,"num":0}]`, [][]byte{{4}}, `"herald-client"`)
		p.expectClientAck(t, "ask", `["q4",{"$bin":"04"}]`)
		select {
		case r := <-done:
			slices.Sort(r.acks)
			if want := []string{`"herald-client"`, `"herald-client"`, `"node-client"`}; r.err != nil || r.n != 3 || !slices.Equal(r.acks, want) {
				t.Errorf("Herald BroadcastWithAck(s4-room, ask) = %v of %d clients, %v; want %v of 3", r.acks, r.n, r.err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Herald BroadcastWithAck did not return")
		}
		if s, ok := pollSSE(sse); ok {
			t.Errorf("unexpected server-side call %+v (a node must not receive its own ServerSideEmit)", s)
		}
	})

	run("InterestRouting", func(t *testing.T) {
		a, _ := connectSID(t, h1, "s5-x")
		b, _ := connectSID(t, h2) // h2 holds no member of s5-x
		// Barrier: everything published before this marker has reached h2.
		p.call(t, "emit", map[string]any{"event": "s5-start"})
		a.Expect(t, `42["s5-start"]`)
		b.Expect(t, `42["s5-start"]`)
		p.expectClient(t, "s5-start", `[]`)
		before1, before2 := h1.a.Stats(), h2.a.Stats()

		for i := range 5 {
			p.call(t, "emit", map[string]any{"rooms": []string{"s5-x"}, "event": "x", "args": []any{i}})
			p.call(t, "emitter.emit", map[string]any{"rooms": []string{"s5-x"}, "event": "x", "args": []any{10 + i}})
		}
		for i := range 5 {
			a.Expect(t, `42["x",`+strconv.Itoa(i)+`]`)
			a.Expect(t, `42["x",`+strconv.Itoa(10+i)+`]`)
		}
		// The marker goes out on the namespace channel after the ten, on the same Redis
		// connection: when b has it, h2 would have read the ten before it.
		p.call(t, "emit", map[string]any{"event": "s5-marker"})
		a.Expect(t, `42["s5-marker"]`)
		b.Expect(t, `42["s5-marker"]`)
		p.expectClient(t, "s5-marker", `[]`)
		after1, after2 := h1.a.Stats(), h2.a.Stats()
		if got := after2.Received - before2.Received; got != 1 {
			t.Errorf("h2 (no member of s5-x) took %d messages from Redis, want 1 (the marker): stats before %+v after %+v", got, before2, after2)
		}
		if after2.SkippedNoRoom != before2.SkippedNoRoom {
			t.Errorf("h2 received and skipped s5-x broadcasts: stats before %+v after %+v", before2, after2)
		}
		if got := after1.Delivered - before1.Delivered; got != 11 {
			t.Errorf("h1 delivered %d broadcasts from Node, want 11: stats before %+v after %+v", got, before1, after1)
		}
	})

	// EmitCounted: both Herald nodes answer with their id and count, the Node server
	// with its count and no id; Herald clients get a plain event, the Node client one
	// with an ack id (the Node adapter treats the request as emitWithAck).
	run("EmitCounted", func(t *testing.T) {
		a, _ := connectSID(t, h1, "s8-room")
		b, _ := connectSID(t, h2, "s8-room")
		c, _ := connectSID(t, h2)
		p.join(t, "s8-room")
		got, err := h1.a.EmitCounted(context.Background(), "/", []string{"s8-room"}, nil, "counted", 8, []byte{8})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*testclient.Conn{a, b} {
			expectBinaryEvent(t, x, `451-["counted",8,{"_placeholder":true,"num":0}]`, []byte{8})
		}
		p.expectClientAck(t, "counted", `[8,{"$bin":"08"}]`)
		ids := map[string]int{}
		for _, nd := range got.Nodes {
			ids[nd.ID] = nd.Sockets
		}
		want := map[string]int{h1.a.UID(): 1, h2.a.UID(): 1, "": 1}
		if got.Sockets != 3 || got.Expected != 3 || !got.Complete() || len(got.Nodes) != 3 || !reflect.DeepEqual(ids, want) {
			t.Errorf("EmitCounted(s8-room) = %+v; want 3 sockets, one on each of h1, h2 and the Node server (no id)", got)
		}
		_ = h2.io.Of("/").Emit("s8-marker")
		for _, x := range []*testclient.Conn{a, b, c} {
			x.Expect(t, `42["s8-marker"]`) // c got nothing before it
		}
		p.expectClient(t, "s8-marker", `[]`)
		p.call(t, "leave", map[string]any{"rooms": []string{"s8-room"}})
	})

	// BroadcastWithAck must return as soon as every ack is in, whichever comes last:
	// here the remote nodes' counts and acks all arrive first, the local client's ack
	// last.
	run("HeraldBroadcastWithAckLocalAckLast", func(t *testing.T) {
		a, _ := connectSID(t, h1, "s7-room")
		b, _ := connectSID(t, h2, "s7-room")
		before := h1.a.Stats().Received
		type result struct {
			acks    int
			n       int
			err     error
			elapsed time.Duration
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			acks, n, err := h1.a.BroadcastWithAck(context.Background(), "/", []string{"s7-room"}, nil, 2*time.Second, "ask", 7)
			done <- result{len(acks), n, err, time.Since(start)}
		}()
		answerAsk(t, b, `["ask",7]`, nil, `"remote"`)
		// h1 reads its own request, the Node server's count (0), h2's count (1) and b's
		// ack: then every remote response is in.
		waitUntil(t, "h1 read its request and the three responses from Redis", func() bool { return h1.a.Stats().Received >= before+4 })
		answerAsk(t, a, `["ask",7]`, nil, `"local"`)
		select {
		case r := <-done:
			if r.err != nil || r.n != 2 || r.acks != 2 || r.elapsed > time.Second {
				t.Errorf("Herald BroadcastWithAck(s7-room, timeout 2s) with the local ack last = %d acks of %d clients, %v, after %v; "+
					"want 2 of 2, no error, well before the timeout", r.acks, r.n, r.err, r.elapsed.Round(time.Millisecond))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Herald BroadcastWithAck did not return")
		}
	})

	run("EmitterDisconnectAll", func(t *testing.T) {
		a, _ := connectSID(t, h1)
		b, _ := connectSID(t, h2, "s6")
		// Herald's DisconnectSockets reaches the Node server's socket.
		p.join(t, "s6-node")
		if err := h2.a.DisconnectSockets(context.Background(), "/", []string{"s6-node"}, nil, false); err != nil {
			t.Fatal(err)
		}
		p.expectClient(t, "disconnect", `["io server disconnect"]`)
		// emitter.disconnectSockets() disconnects every Herald socket.
		p.call(t, "emitter.disconnectSockets", nil)
		a.Expect(t, "41")
		b.Expect(t, "41")
		waitUntil(t, "every Herald socket is gone", func() bool { return h1.io.Of("/").Count() == 0 && h2.io.Of("/").Count() == 0 })
	})

	for _, h := range []*node{h1, h2} {
		if s := h.a.Stats(); s.DecodeErrors != 0 || s.DroppedIn != 0 || s.DroppedOut != 0 || s.PublishErrors != 0 {
			t.Errorf("adapter %s stats: %+v", h.a.UID(), s)
		}
	}
	p.stop(t)
	t.Logf("TestMixedClusterWithNode took %v", time.Since(start).Round(time.Millisecond))
}

// ---- Herald side ----

// connectSID connects a test client to n's "/" namespace, joins rooms and waits until
// n's bus has subscribed to them. It returns the client and its socket id. The client
// is closed when t (the subtest) ends.
func connectSID(t *testing.T, n *node, rooms ...string) (*testclient.Conn, string) {
	t.Helper()
	c := testclient.Dial(t, n.url, testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40")
	var connected struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(c.Expect(t, `40{"sid":*`), "40")), &connected); err != nil || connected.SID == "" {
		t.Fatalf("CONNECT reply: %v", err)
	}
	for i, r := range rooms {
		id := strconv.Itoa(i)
		c.SendText(t, `42`+id+`["join","`+r+`"]`)
		c.Expect(t, `43`+id+`["`+r+`"]`)
	}
	if err := n.a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, connected.SID
}

// waitUntil polls cond every millisecond, failing the test after 5s. Only for states
// that have no event to wait on.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func syncAll(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.a.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// expectBinaryEvent expects a binary event packet and its attachment.
func expectBinaryEvent(t *testing.T, c *testclient.Conn, header string, att []byte) {
	t.Helper()
	c.Expect(t, header)
	if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != string(att) {
		t.Fatalf("after %s: got attachment %+v, want binary %x", header, m, att)
	}
}

// answerAsk reads an event with an ack id whose data is want (after the id), and its
// attachments, and acknowledges it with reply (a JSON value).
func answerAsk(t *testing.T, c *testclient.Conn, want string, atts [][]byte, reply string) {
	t.Helper()
	m := c.NextText(t)
	rest, ok := strings.CutPrefix(m, "42")
	if len(atts) > 0 {
		rest, ok = strings.CutPrefix(m, "45"+strconv.Itoa(len(atts))+"-")
	}
	i := strings.IndexByte(rest, '[')
	if !ok || i <= 0 || rest[i:] != want {
		t.Fatalf("got %q, want an event with an ack id and data %s (%d attachments)", m, want, len(atts))
	}
	id := rest[:i]
	for _, a := range atts {
		if got := c.Next(t, 5*time.Second); !got.Binary || string(got.Data) != string(a) {
			t.Fatalf("after %q: got %+v, want binary %x", m, got, a)
		}
	}
	c.SendText(t, "43"+id+"["+reply+"]")
}

// sseCall is one call of a Herald OnServerSideEmit handler.
type sseCall struct {
	node, event, nsp string
	args             []string
	ack              bool
}

func nextSSE(t *testing.T, ch <-chan sseCall) sseCall {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no Herald OnServerSideEmit call within 5s")
	}
	return sseCall{}
}

func pollSSE(ch <-chan sseCall) (sseCall, bool) {
	select {
	case s := <-ch:
		return s, true
	default:
		return sseCall{}, false
	}
}

func drainSSE(ch <-chan sseCall) {
	for {
		if _, ok := pollSSE(ch); !ok {
			return
		}
	}
}

func compactJSON(raw []json.RawMessage) []string {
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func bin(hex string) map[string]string { return map[string]string{"$bin": hex} }

func decode(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}

// checkFast fails when a Node cluster request took so long that it must have waited
// for a node that never answered (the requests time out after 3s, emitWithAck after 2s).
func checkFast(t *testing.T, what string, r peerReply) {
	t.Helper()
	if r.Elapsed > 1000 {
		t.Errorf("Node's %s took %d ms: some node answered late or not at all", what, r.Elapsed)
	}
}

// ---- the Node peer ----

// interopClusterDir returns interop/cluster, failing when `npm ci` has not been run.
func interopClusterDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "interop", "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("%s has no node_modules: run `npm ci` in interop/cluster (%v)", dir, err)
	}
	return dir
}

// peer is a running interop/cluster/peer.mjs.
type peer struct {
	sid string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lockedBuffer
	quit   chan struct{} // closed at stop: the reader stops handing out lines
	exited chan struct{} // closed when the process has been reaped
	err    error         // the process's exit status, set before exited closes

	client chan peerEvent
	server chan peerEvent

	mu      sync.Mutex // guards the fields below
	nextID  int
	waiting map[int]chan peerReply
	errors  []string // lines the script printed with only "error" (it exits after them)
	stopped bool
}

type peerReply struct {
	Result    json.RawMessage
	Error     string
	Responses json.RawMessage
	Elapsed   int
}

type peerEvent struct {
	Event string
	Args  json.RawMessage
	Ack   bool
}

// startPeer starts peer.mjs and waits for its ready line. It is stopped (stdin closed,
// process waited for) when the test ends, if the test did not stop it.
func startPeer(t *testing.T, nodeBin, dir, redisURL string) *peer {
	t.Helper()
	cmd := exec.Command(nodeBin, "peer.mjs")
	cmd.Dir = dir
	// Only the private server: no REDIS_PORT or REDIS_URL from the environment.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REDIS_PORT=") || strings.HasPrefix(kv, "REDIS_URL=")
	})
	cmd.Env = append(cmd.Env, "REDIS_URL="+redisURL)
	p := &peer{cmd: cmd, stderr: &lockedBuffer{}, quit: make(chan struct{}), exited: make(chan struct{}),
		client: make(chan peerEvent, 256), server: make(chan peerEvent, 64), waiting: make(map[int]chan peerReply)}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan json.RawMessage, 1)
	go p.read(stdout, ready)
	t.Cleanup(func() { p.stop(t) })
	select {
	case line := <-ready:
		var r struct {
			SID string
			UID string
		}
		if err := json.Unmarshal(line, &r); err != nil || r.SID == "" {
			t.Fatalf("peer.mjs ready line %s: %v", line, err)
		}
		p.sid = r.SID
	case <-p.exited:
		t.Fatalf("peer.mjs exited before it was ready: %v %v\n%s", p.err, p.errorLines(), p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("peer.mjs not ready within 20s\n%s", p.stderr)
	}
	return p
}

// read owns stdout: it dispatches lines until EOF, then reaps the process.
func (p *peer) read(stdout io.Reader, ready chan<- json.RawMessage) {
	defer close(p.exited)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var line struct {
			ID     *int
			Ready  bool
			Error  string
			Client *peerEvent
			Server *peerEvent
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			p.addError("not JSON: " + sc.Text())
			continue
		}
		switch {
		case line.ID != nil:
			var r peerReply
			_ = json.Unmarshal(sc.Bytes(), &r)
			p.mu.Lock()
			ch := p.waiting[*line.ID]
			delete(p.waiting, *line.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- r // buffered
			}
		case line.Ready:
			ready <- json.RawMessage(sc.Text())
		case line.Client != nil:
			p.deliver(p.client, *line.Client)
		case line.Server != nil:
			p.deliver(p.server, *line.Server)
		case line.Error != "":
			p.addError(line.Error)
		}
	}
	p.err = p.cmd.Wait()
}

func (p *peer) deliver(ch chan peerEvent, e peerEvent) {
	select {
	case ch <- e:
	case <-p.quit:
	}
}

func (p *peer) addError(s string) {
	p.mu.Lock()
	p.errors = append(p.errors, s)
	p.mu.Unlock()
}

func (p *peer) errorLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errors)
}

// died fails the test because the script exited.
func (p *peer) died(t *testing.T, while string) {
	t.Helper()
	t.Fatalf("peer.mjs exited while %s: %v %q\n%s", while, p.err, p.errorLines(), p.stderr)
}

// send sends a command and returns the channel its reply will arrive on.
func (p *peer) send(t *testing.T, cmd string, params map[string]any) <-chan peerReply {
	t.Helper()
	msg := map[string]any{}
	for k, v := range params {
		msg[k] = v
	}
	ch := make(chan peerReply, 1)
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.waiting[id] = ch
	p.mu.Unlock()
	msg["id"], msg["cmd"] = id, cmd
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("sending %s to peer.mjs: %v", b, err)
	}
	return ch
}

// wait waits for a reply and fails the test if the command failed in Node.
func (p *peer) wait(t *testing.T, ch <-chan peerReply) peerReply {
	t.Helper()
	select {
	case r := <-ch:
		if r.Error != "" {
			t.Fatalf("Node: %s (after %d ms; responses so far: %s)", r.Error, r.Elapsed, r.Responses)
		}
		return r
	case <-p.exited:
		p.died(t, "a command was pending")
	case <-time.After(10 * time.Second):
		t.Fatal("peer.mjs did not answer within 10s")
	}
	return peerReply{}
}

// call sends a command and waits for its reply.
func (p *peer) call(t *testing.T, cmd string, params map[string]any) peerReply {
	t.Helper()
	return p.wait(t, p.send(t, cmd, params))
}

func (p *peer) next(t *testing.T, ch <-chan peerEvent, who string) peerEvent {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-p.exited:
		p.died(t, "waiting for an event of the "+who)
	case <-time.After(5 * time.Second):
		t.Fatalf("the Node %s received no event within 5s", who)
	}
	return peerEvent{}
}

// expectClient expects the Node client's next event, without an ack callback.
func (p *peer) expectClient(t *testing.T, event, args string) {
	t.Helper()
	p.expect(t, p.client, "client", event, args, false)
}

// expectClientAck expects the Node client's next event, with an ack callback.
func (p *peer) expectClientAck(t *testing.T, event, args string) {
	t.Helper()
	p.expect(t, p.client, "client", event, args, true)
}

// expectServer expects the Node server's next server-side event.
func (p *peer) expectServer(t *testing.T, event, args string, ack bool) {
	t.Helper()
	p.expect(t, p.server, "server", event, args, ack)
}

func (p *peer) expect(t *testing.T, ch <-chan peerEvent, who, event, args string, ack bool) {
	t.Helper()
	e := p.next(t, ch, who)
	if e.Event != event || !jsonEqual(e.Args, []byte(args)) || e.Ack != ack {
		t.Fatalf("the Node %s received %q %s (ack callback %v), want %q %s (ack callback %v)", who, e.Event, e.Args, e.Ack, event, args, ack)
	}
}

// join makes the Node client's socket join rooms and returns all its rooms, sorted.
func (p *peer) join(t *testing.T, rooms ...string) []string {
	t.Helper()
	var all []string
	decode(t, p.call(t, "join", map[string]any{"rooms": rooms}).Result, &all)
	return sorted(all...)
}

// rooms returns the Node client's socket's rooms (nil when it is disconnected).
func (p *peer) rooms(t *testing.T) []string {
	t.Helper()
	var all []string
	decode(t, p.call(t, "rooms", nil).Result, &all)
	return all
}

// drainClient returns the client events received so far and not yet consumed.
func (p *peer) drainClient() []peerEvent {
	var out []peerEvent
	for {
		select {
		case e := <-p.client:
			out = append(out, e)
		default:
			return out
		}
	}
}

// stop closes the script's stdin, which makes it disconnect, close and exit, and waits
// for it; it kills the process if it has not exited after 10s.
func (p *peer) stop(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	stopped := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if stopped {
		return
	}
	close(p.quit) // the reader drops events from now on, so it never stops reading
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("peer.mjs did not exit within 10s of its stdin closing; killing it\n%s", p.stderr)
		_ = p.cmd.Process.Kill() // by pid
		<-p.exited
	}
	if p.err != nil {
		t.Errorf("peer.mjs: %v %q\n%s", p.err, p.errorLines(), p.stderr)
	}
}

// lockedBuffer collects the script's stderr (os/exec writes from its own goroutine).
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
