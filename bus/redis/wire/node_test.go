package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/testredis"
)

// TestNodeCompat checks the codec against the real Node packages, over a redis-server
// of its own: @socket.io/redis-adapter 8.3.0 with socket.io 4.8.4,
// @socket.io/redis-emitter 5.1.0 and socket.io-client 4.8.4, installed by `npm ci` in
// interop/cluster. The Node scripts are interop/cluster/capture.mjs (Node publishes,
// Go decodes and answers) and receive.mjs (Go publishes, Node's clients receive).
func TestNodeCompat(t *testing.T) {
	start := time.Now()
	dir := clusterDir(t)
	nodeBin := lookPath(t, "node")
	addr := testredis.Start(t).Addr // its own redis-server on a free port, never 6379
	client := newRedisClient(t, addr)
	t.Run("NodeToGo", func(t *testing.T) { testNodeToGo(t, client, nodeBin, dir, addr) })
	t.Run("GoToNode", func(t *testing.T) { testGoToNode(t, client, nodeBin, dir, addr) })
	t.Logf("TestNodeCompat took %v", time.Since(start).Round(time.Millisecond))
}

// nodeMsg is one message the Node script publishes, decoded.
type nodeMsg struct {
	channel   string
	broadcast *Broadcast
	request   Request
	exact     bool // the codec re-encodes it to the very bytes Node published
}

// nodeToGoExpectations lists what capture.mjs publishes in phase A, in order. uid and
// adminUID are the adapter uids of "/" and "/admin".
func nodeToGoExpectations(uid, adminUID string) []nodeMsg {
	bc := func(uid, nsp string, data Args, opts Options) *Broadcast {
		return &Broadcast{UID: uid, Packet: Packet{Nsp: nsp, Data: data}, Opts: opts}
	}
	raws := func(s ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(s))
		for i := range s {
			out[i] = json.RawMessage(s[i])
		}
		return out
	}
	const all, room1, adminCh, request = "socket.io#/#", "socket.io#/#room1#", "socket.io#/admin#", "socket.io-request#/#"
	return []nodeMsg{
		{all, bc(uid, "/", jsonArgs(nil, `"hello"`, `"world"`), Options{}), nil, true},
		{room1, bc(uid, "/", jsonArgs(nil, `"to-room"`, `1`, `{"a":true}`), Options{Rooms: []string{"room1"}}), nil, true},
		{all, bc(uid, "/", jsonArgs([][]byte{{1, 2, 3}}, `"multi"`, `{"_placeholder":true,"num":0}`),
			Options{Rooms: []string{"room1", "room2"}, Except: []string{"room3"}, Flags: Flags{Volatile: true}}), nil, true},
		{all, bc(uid, "/", jsonArgs(nil, `"nested"`,
			`{"a":[1,2.5,-3,null,true,"x",{"b":{"c":[]}}],"big":1099511627776,"neg":-129,"f":1.5e-300,"s":"é`+"\u2028"+`<>&\"\n"}`),
			Options{}), nil, true},
		// 1e21, 2**64 and 1.5e300: notepack.io writes integral numbers from 2^64 up as a
		// uint64 taken modulo 2^64, so every receiver, Node included, reads these.
		{all, bc(uid, "/", jsonArgs(nil, `"wrapped"`, `3875820019684212736`, `0`, `0`), Options{}), nil, false},
		{all, bc(uid, "/", jsonArgs(nil, `"date"`, `"2024-01-02T03:04:05.678Z"`, `"1970-01-01T00:00:00.000Z"`,
			`"1969-12-31T23:59:59.999Z"`), Options{}), nil, false},
		{all, bc(uid, "/", jsonArgs([][]byte{[]byte("hi"), {}, bytes.Repeat([]byte{7}, 300), {5, 6}}, `"bin"`,
			`{"file":{"_placeholder":true,"num":0},"list":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}],"u8":{"_placeholder":true,"num":3}}`),
			Options{}), nil, true},
		{all, bc(uid, "/", jsonArgs(nil, `"nocompress"`), Options{Flags: Flags{Compress: ptr(false)}}), nil, true},
		{adminCh, bc(adminUID, "/admin", jsonArgs(nil, `"admin-ev"`, `"x"`), Options{}), nil, true},
		{all, bc(uid, "/", jsonArgs(nil, `"except-only"`), Options{Except: []string{"sid1"}}), nil, true},
		// The emitter writes rooms, flags, except: not the adapter's order.
		{all, bc("emitter", "/", jsonArgs(nil, `"from-emitter"`, `42`), Options{}), nil, false},
		{room1, bc("emitter", "/", jsonArgs(nil, `"from-emitter-room"`, `"r"`), Options{Rooms: []string{"room1"}}), nil, false},
		{adminCh, bc("emitter", "/admin", jsonArgs(nil, `"from-emitter-admin"`), Options{}), nil, false},
		{all, bc("emitter", "/", jsonArgs([][]byte{{9}}, `"em-multi"`, `{"_placeholder":true,"num":0}`),
			Options{Rooms: []string{"a", "b"}, Except: []string{"c"}, Flags: Flags{Volatile: true, Compress: ptr(true)}}), nil, false},
		{request, nil, &SocketsJoinRequest{Opts: Selector{Rooms: []string{"room1"}}, Rooms: []string{"room7", "room8"}}, true},
		{request, nil, &SocketsLeaveRequest{Rooms: []string{"room7"}}, true},
		{request, nil, &DisconnectSocketsRequest{Opts: Selector{Rooms: []string{"room1"}}, Close: true}, true},
		{request, nil, &ServerSideEmitRequest{UID: "emitter", Data: raws(`"ping-servers"`, `"x"`, `{"n":1}`)}, true},
		{request, nil, &SocketsJoinRequest{UID: uid, Rooms: []string{"room9"}}, true},
		{request, nil, &SocketsLeaveRequest{UID: uid, Opts: Selector{Rooms: []string{"room1"}}, Rooms: []string{"room9"}}, true},
		{request, nil, &DisconnectSocketsRequest{UID: uid, Opts: Selector{Rooms: []string{"room2"}}}, true},
		{request, nil, &ServerSideEmitRequest{UID: uid, Data: raws(`"hello-servers"`, `1`)}, true},
	}
}

// goSocket is the socket the Go side reports to Node's fetchSockets.
var goSocket = RemoteSocket{
	ID: "go-socket-1",
	Handshake: Handshake{
		Headers: json.RawMessage(`{"x-herald":"1"}`), Time: "Sun Nov 29 2026 10:00:00 GMT+0000 (Coordinated Universal Time)",
		Address: "127.0.0.1", Secure: true, Issued: 1796032800000, URL: "/socket.io/?EIO=4&transport=websocket",
		Query: json.RawMessage(`{"EIO":"4"}`), Auth: json.RawMessage(`{"token":"t"}`),
	},
	Rooms: []string{"go-socket-1", "go-room"},
	Data:  json.RawMessage(`{"user":"42"}`),
}

func testNodeToGo(t *testing.T, client rueidis.Client, nodeBin, dir, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// PSUBSCRIBE captures everything in publish order. The plain SUBSCRIBE to the
	// request channel makes the adapter count this test as a server (PUBSUB NUMSUB), so
	// that phase B's requests wait for its answers; its copies of the requests are
	// dropped.
	msgs := subscribe(t, ctx, client, "psubscribe", "socket.io*", "herald-test-*")
	subscribe(t, ctx, client, "subscribe", "socket.io-request#/#")
	node := startNode(t, ctx, nodeBin, dir, "capture.mjs", addr)

	var ready struct{ UID, AdminUID string }
	node.next(t, ctx, "ready", &ready)
	want := nodeToGoExpectations(ready.UID, ready.AdminUID)

	// Phase A.
	var got []rueidis.PubSubMessage
	for {
		m := receive(t, ctx, msgs)
		if m.Channel == "herald-test-done" {
			break
		}
		got = append(got, m)
	}
	if len(got) != len(want) {
		for _, m := range got {
			t.Logf("captured %s %q", m.Channel, m.Message)
		}
		t.Fatalf("captured %d messages, want %d", len(got), len(want))
	}
	for i, w := range want {
		checkNodeMessage(t, i, got[i], w)
	}

	// Phase B: answer each request as a Herald node would, until Node reports.
	results := map[string]json.RawMessage{}
	for results["done"] == nil {
		select {
		case m := <-msgs:
			if m.Channel == "socket.io-request#/#" {
				answerRequest(t, ctx, client, ready.UID, []byte(m.Message))
			}
		case line, ok := <-node.lines:
			if !ok {
				t.Fatalf("node exited early: %v\n%s", node.wait(), node.stderr())
			}
			for k, v := range line {
				results[k] = v
			}
			if line["error"] != nil {
				t.Fatalf("node: %s", line["error"])
			}
		case <-ctx.Done():
			t.Fatalf("phase B timed out with %v\n%s", keys(results), node.stderr())
		}
	}
	goJSON, err := EncodeResponse(&FetchSocketsResponse{Sockets: []RemoteSocket{goSocket}})
	if err != nil {
		t.Fatal(err)
	}
	var fetched struct{ Sockets json.RawMessage }
	if err := json.Unmarshal(goJSON, &fetched); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ key, want string }{
		{"fetchSockets", string(fetched.Sockets)},
		{"allRooms", `["go-room","go-socket-1"]`},
		{"serverSideEmitWithAck", `["go-answer"]`},
		{"emitWithAck", `[{"ok":true,"bin":{"$bin":"0a0b"}}]`},
	}
	for _, c := range checks {
		if !jsonEqual(results[c.key], []byte(c.want)) {
			t.Errorf("Node's %s = %s, want %s", c.key, results[c.key], c.want)
		}
	}
	if err := node.wait(); err != nil {
		t.Errorf("node: %v\n%s", err, node.stderr())
	}
}

// checkNodeMessage decodes captured message i and compares it with w.
func checkNodeMessage(t *testing.T, i int, m rueidis.PubSubMessage, w nodeMsg) {
	t.Helper()
	b := []byte(m.Message)
	if m.Channel != w.channel {
		t.Errorf("message %d: channel %q, want %q", i, m.Channel, w.channel)
	}
	var enc []byte
	if w.broadcast != nil {
		nsp, _, ok := ParseChannel("", m.Channel)
		got, err := DecodeBroadcast(b, Limits{})
		switch {
		case err != nil:
			t.Errorf("message %d: %v", i, err)
			return
		case !ok || nsp != got.Packet.Nsp:
			t.Errorf("message %d: channel %q does not name namespace %q", i, m.Channel, got.Packet.Nsp)
		case !reflect.DeepEqual(&got, w.broadcast):
			t.Errorf("message %d: decoded\n%+v\nwant\n%+v", i, got, *w.broadcast)
		}
		enc, err = EncodeBroadcast(&got)
		if err != nil {
			t.Errorf("message %d: encode: %v", i, err)
		}
	} else {
		got, err := DecodeRequest(b, Limits{})
		if err != nil {
			t.Errorf("message %d: %v", i, err)
			return
		}
		if !reflect.DeepEqual(got, w.request) {
			t.Errorf("message %d: decoded %#v, want %#v", i, got, w.request)
		}
		enc, err = EncodeRequest(got)
		if err != nil {
			t.Errorf("message %d: encode: %v", i, err)
		}
	}
	if w.exact && !bytes.Equal(enc, b) {
		t.Errorf("message %d: re-encoded\n%x\nNode published\n%x", i, enc, b)
	}
}

// answerRequest answers a phase B request of capture.mjs, checking it on the way.
func answerRequest(t *testing.T, ctx context.Context, client rueidis.Client, uid string, b []byte) {
	t.Helper()
	req, err := DecodeRequest(b, Limits{})
	if err != nil {
		t.Fatalf("request %q: %v", b, err)
	}
	const responses = "socket.io-response#/#"
	switch r := req.(type) {
	case *FetchSocketsRequest:
		if r.UID != uid || r.RequestID == "" || !reflect.DeepEqual(r.Opts, Selector{}) {
			t.Errorf("fetchSockets request %+v", r)
		}
		publishResponse(t, ctx, client, responses, &FetchSocketsResponse{RequestID: r.RequestID, Sockets: []RemoteSocket{goSocket}})
	case *AllRoomsRequest:
		publishResponse(t, ctx, client, responses, &AllRoomsResponse{RequestID: r.RequestID, Rooms: []string{"go-socket-1", "go-room"}})
	case *ServerSideEmitRequest:
		if r.RequestID == "" || !reflect.DeepEqual(r.Data, []json.RawMessage{json.RawMessage(`"ask-servers"`), json.RawMessage(`"q"`)}) {
			t.Errorf("serverSideEmitWithAck request %+v", r)
		}
		publishResponse(t, ctx, client, responses, &ServerSideEmitResponse{RequestID: r.RequestID, Data: json.RawMessage(`"go-answer"`)})
	case *BroadcastRequest:
		want := BroadcastRequest{UID: uid, RequestID: r.RequestID,
			Packet: Packet{Nsp: "/", Data: jsonArgs([][]byte{{7}}, `"ask-clients"`, `{"_placeholder":true,"num":0}`)},
			Opts:   Options{Flags: Flags{Timeout: ms(5000)}}}
		if !reflect.DeepEqual(*r, want) {
			t.Errorf("emitWithAck request\n%+v\nwant\n%+v", *r, want)
		}
		if enc, err := EncodeRequest(r); err != nil || !bytes.Equal(enc, b) {
			t.Errorf("emitWithAck request re-encoded as %x, %v; Node published %x", enc, err, b)
		}
		publishResponse(t, ctx, client, responses, &BroadcastClientCountResponse{RequestID: r.RequestID, ClientCount: 1})
		publishResponse(t, ctx, client, responses, &BroadcastAckResponse{RequestID: r.RequestID,
			Packet: jsonArgs([][]byte{{10, 11}}, `{"ok":true,"bin":{"_placeholder":true,"num":0}}`)})
	default:
		t.Errorf("unexpected request %#v", req)
	}
}

func testGoToNode(t *testing.T, client rueidis.Client, nodeBin, dir, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	responses := subscribe(t, ctx, client, "psubscribe", "socket.io-response#*")
	node := startNode(t, ctx, nodeBin, dir, "receive.mjs", addr)
	var ready struct {
		UID  string
		Sids map[string]string
	}
	node.next(t, ctx, "ready", &ready)

	main, admin := NewChannels("", "/"), NewChannels("", "/admin")
	bin256 := make([]byte, 256)
	for i := range bin256 {
		bin256[i] = byte(i)
	}
	send := func(ch string, b []byte) {
		t.Helper()
		n, err := client.Do(ctx, client.B().Publish().Channel(ch).Message(rueidis.BinaryString(b)).Build()).AsInt64()
		if err != nil || n < 1 {
			t.Fatalf("PUBLISH %s: %d receivers, %v", ch, n, err)
		}
	}
	broadcast := func(c Channels, uid string, data Args, opts Options) {
		t.Helper()
		b, err := EncodeBroadcast(&Broadcast{UID: uid, Packet: Packet{Nsp: c.Nsp, Data: data}, Opts: opts})
		if err != nil {
			t.Fatal(err)
		}
		send(c.ForBroadcast(opts.Rooms), b)
	}
	request := func(r Request) {
		t.Helper()
		b, err := EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		send(main.Request, b)
	}
	const goUID = "go-node"
	broadcast(main, goUID, jsonArgs(nil, `"all-ev"`, `"text"`, `1`, `2.5`, `{"nested":[true,null]}`), Options{})
	broadcast(main, goUID, jsonArgs([][]byte{{1, 2, 3}}, `"r1-ev"`, `{"_placeholder":true,"num":0}`, `{"k":"v"}`),
		Options{Rooms: []string{"r1"}})
	broadcast(main, goUID, jsonArgs([][]byte{[]byte("x"), bin256}, `"multi-ev"`, `{"_placeholder":true,"num":1}`, `[{"_placeholder":true,"num":0}]`),
		Options{Rooms: []string{"r1", "r2"}, Except: []string{"r3"}})
	broadcast(admin, goUID, jsonArgs(nil, `"admin-ev"`, `{"n":1}`), Options{})
	request(&SocketsJoinRequest{UID: goUID, Opts: Selector{Rooms: []string{"r2"}}, Rooms: []string{"r9"}})
	broadcast(main, goUID, jsonArgs(nil, `"r9-ev"`), Options{Rooms: []string{"r9"}})
	request(&ServerSideEmitRequest{UID: goUID, Data: []json.RawMessage{json.RawMessage(`"go-hello"`), json.RawMessage(`"from-go"`), json.RawMessage(`{"x":1}`)}})
	broadcast(main, goUID, jsonArgs(nil, `"except-ev"`), Options{Except: []string{ready.Sids["A"]}, Flags: Flags{Compress: ptr(false)}})
	broadcast(main, ready.UID, jsonArgs(nil, `"self-ev"`), Options{})                        // Node's own uid: dropped
	broadcast(main, goUID, jsonArgs(nil, `"nobody-ev"`), Options{Rooms: []string{"nobody"}}) // no such room: dropped unread
	request(&FetchSocketsRequest{UID: goUID, RequestID: "gofetch1", Opts: Selector{Rooms: []string{"r1"}}})
	request(&AllRoomsRequest{UID: goUID, RequestID: "goall1"})
	request(&ServerSideEmitRequest{UID: goUID, RequestID: "goack1", Data: []json.RawMessage{json.RawMessage(`"go-ask"`), json.RawMessage(`21`)}})
	bcReq := &BroadcastRequest{UID: goUID, RequestID: "gobc1",
		Packet: Packet{Nsp: "/", Data: jsonArgs([][]byte{{1}}, `"go-ack-ev"`, `{"_placeholder":true,"num":0}`)},
		Opts:   Options{Rooms: []string{"r2"}, Flags: Flags{Timeout: ms(5000)}}}
	request(bcReq)
	broadcast(main, goUID, jsonArgs(nil, `"marker"`), Options{})
	broadcast(admin, goUID, jsonArgs(nil, `"marker"`), Options{})

	// Collect until every client has its marker and every answer is in.
	events := map[string][]string{} // client → JSON [event, args]
	var server []string
	got := map[string]Response{}
	pending := func(id string) (RequestType, bool) {
		switch id {
		case "gofetch1":
			return TypeRemoteFetch, true
		case "goall1":
			return TypeAllRooms, true
		}
		return 0, false
	}
	markers := 0
	for markers < 4 || len(server) < 1 || len(got) < 5 {
		select {
		case m := <-responses:
			resp, err := DecodeResponse([]byte(m.Message), Limits{}, pending)
			if err != nil {
				t.Fatalf("response %q: %v", m.Message, err)
			}
			key := fmt.Sprintf("%T", resp)
			got[key] = resp
			if enc, err := EncodeResponse(resp); err != nil || !bytes.Equal(enc, []byte(m.Message)) {
				t.Errorf("%s re-encoded as %q, %v; Node published %q", key, enc, err, m.Message)
			}
		case line, ok := <-node.lines:
			if !ok {
				t.Fatalf("node exited early: %v\n%s", node.wait(), node.stderr())
			}
			if line["error"] != nil {
				t.Fatalf("node: %s", line["error"])
			}
			var ev struct {
				Client, Event, Server string
				Args                  json.RawMessage
			}
			if err := json.Unmarshal(mustJSON(t, line), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Server != "" {
				server = append(server, fmt.Sprintf(`[%q,%s]`, ev.Server, ev.Args))
				continue
			}
			events[ev.Client] = append(events[ev.Client], fmt.Sprintf(`[%q,%s]`, ev.Event, ev.Args))
			if ev.Event == "marker" {
				markers++
			}
		case <-ctx.Done():
			t.Fatalf("timed out: %d markers, server %v, responses %v, events %v\n%s", markers, server, keys(got), events, node.stderr())
		}
	}
	if err := node.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	node.next(t, ctx, "done", nil)
	if err := node.wait(); err != nil {
		t.Errorf("node: %v\n%s", err, node.stderr())
	}

	hex256 := fmt.Sprintf("%x", bin256)
	wantEvents := map[string][]string{
		"A": {
			`["all-ev",["text",1,2.5,{"nested":[true,null]}]]`,
			`["r1-ev",[{"$bin":"010203"},{"k":"v"}]]`,
			`["multi-ev",[{"$bin":"` + hex256 + `"},[{"$bin":"78"}]]]`,
			`["marker",[]]`,
		},
		"B": {
			`["all-ev",["text",1,2.5,{"nested":[true,null]}]]`,
			`["multi-ev",[{"$bin":"` + hex256 + `"},[{"$bin":"78"}]]]`,
			`["r9-ev",[]]`,
			`["except-ev",[]]`,
			`["go-ack-ev",[{"$bin":"01"},"$fn"]]`,
			`["marker",[]]`,
		},
		"C": {
			`["all-ev",["text",1,2.5,{"nested":[true,null]}]]`,
			`["r1-ev",[{"$bin":"010203"},{"k":"v"}]]`,
			`["except-ev",[]]`,
			`["marker",[]]`,
		},
		"D": {`["admin-ev",[{"n":1}]]`, `["marker",[]]`},
	}
	for name, want := range wantEvents {
		if !slices.EqualFunc(events[name], want, func(a, b string) bool { return jsonEqual([]byte(a), []byte(b)) }) {
			t.Errorf("client %s received\n%s\nwant\n%s", name, strings.Join(events[name], "\n"), strings.Join(want, "\n"))
		}
	}
	if want := []string{`["go-hello",["from-go",{"x":1}]]`}; !slices.EqualFunc(server, want, func(a, b string) bool { return jsonEqual([]byte(a), []byte(b)) }) {
		t.Errorf("server-side events %v, want %v", server, want)
	}
	checkNodeResponses(t, got, ready.Sids)
}

// checkNodeResponses checks Node's answers to the Go requests of testGoToNode.
func checkNodeResponses(t *testing.T, got map[string]Response, sids map[string]string) {
	t.Helper()
	if r, ok := got["*wire.FetchSocketsResponse"].(*FetchSocketsResponse); !ok || r.RequestID != "gofetch1" || len(r.Sockets) != 2 {
		t.Errorf("fetchSockets response %#v, want sockets A and C", got["*wire.FetchSocketsResponse"])
	} else {
		for _, s := range r.Sockets {
			name := map[string]string{sids["A"]: "A", sids["C"]: "C"}[s.ID]
			rooms := map[string][]string{"A": {sids["A"], "r1"}, "C": {sids["C"], "r1", "r3"}}[name]
			if name == "" || !reflect.DeepEqual(s.Rooms, rooms) || !jsonEqual(s.Data, []byte(`{"name":"`+name+`"}`)) ||
				!jsonEqual(s.Handshake.Auth, []byte(fmt.Sprintf(`{"name":%q,"rooms":%s}`, name, mustJSON(t, rooms[1:])))) ||
				s.Handshake.Issued == 0 || s.Handshake.Address == "" || !strings.HasPrefix(s.Handshake.URL, "/socket.io/?EIO=4") {
				t.Errorf("fetched socket %+v", s)
			}
		}
	}
	wantRooms := []string{sids["A"], sids["B"], sids["C"], "r1", "r2", "r3", "r9"}
	slices.Sort(wantRooms)
	if r, ok := got["*wire.AllRoomsResponse"].(*AllRoomsResponse); !ok || !reflect.DeepEqual(slices.Sorted(slices.Values(r.Rooms)), wantRooms) {
		t.Errorf("allRooms response %#v, want rooms %v", got["*wire.AllRoomsResponse"], wantRooms)
	}
	wants := []Response{
		&ServerSideEmitResponse{RequestID: "goack1", Data: json.RawMessage(`42`)},
		&BroadcastClientCountResponse{RequestID: "gobc1", ClientCount: 1},
		&BroadcastAckResponse{RequestID: "gobc1", Packet: jsonArgs([][]byte{{0xbe, 0xef}}, `{"got":1,"from":"B","bin":{"_placeholder":true,"num":0}}`)},
	}
	for _, want := range wants {
		key := fmt.Sprintf("%T", want)
		if !reflect.DeepEqual(got[key], want) {
			t.Errorf("%s = %#v, want %#v", key, got[key], want)
		}
	}
}

// publishResponse encodes r and publishes it on channel.
func publishResponse(t *testing.T, ctx context.Context, client rueidis.Client, channel string, r Response) {
	t.Helper()
	b, err := EncodeResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Do(ctx, client.B().Publish().Channel(channel).Message(rueidis.BinaryString(b)).Build()).Error(); err != nil {
		t.Fatalf("PUBLISH %s: %v", channel, err)
	}
}

// clusterDir returns interop/cluster, whose node_modules `npm ci` must have installed.
func clusterDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "interop", "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("%s has no node_modules: run `npm ci` in interop/cluster (%v)", dir, err)
	}
	return dir
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("TestNodeCompat needs %s on PATH: %v", name, err)
	}
	return p
}

// tailBuffer keeps the last 32 KiB written to it, for error messages. It is safe for
// concurrent use (os/exec writes from its own goroutine).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 32<<10; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// newRedisClient returns a rueidis client for addr, closed when the test ends.
func newRedisClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// subscribe runs a (P)SUBSCRIBE of the topics until the test ends, and returns the
// messages. It returns once Redis has confirmed every topic. The Receive goroutine is
// stopped and waited for in cleanup, before the client is closed.
func subscribe(t *testing.T, ctx context.Context, client rueidis.Client, kind string, topics ...string) <-chan rueidis.PubSubMessage {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	msgs := make(chan rueidis.PubSubMessage, 1024)
	confirmed := make(chan struct{})
	var mu sync.Mutex
	n := 0
	ctx = rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		mu.Lock()
		defer mu.Unlock()
		if s.Kind == kind {
			if n++; n == len(topics) {
				close(confirmed)
			}
		}
	})
	cmd := client.B().Subscribe().Channel(topics...).Build()
	if kind == "psubscribe" {
		cmd = client.B().Psubscribe().Pattern(topics...).Build()
	}
	done := make(chan error, 1)
	go func() {
		done <- client.Receive(ctx, cmd, func(m rueidis.PubSubMessage) {
			select { // never block rueidis's pipeline once the test stops reading
			case msgs <- m:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Receive %v: %v", topics, err)
		}
	})
	select {
	case <-confirmed:
	case err := <-done:
		t.Fatalf("%s %v: %v", kind, topics, err)
	case <-ctx.Done():
		t.Fatalf("%s %v: not confirmed", kind, topics)
	}
	return msgs
}

func receive(t *testing.T, ctx context.Context, msgs <-chan rueidis.PubSubMessage) rueidis.PubSubMessage {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-ctx.Done():
		t.Fatal("timed out waiting for a message from Redis")
		return rueidis.PubSubMessage{}
	}
}

// nodeProc is a running Node script. Its stdout lines are JSON objects.
type nodeProc struct {
	lines  chan map[string]json.RawMessage
	stdin  interface{ Close() error }
	errOut *tailBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

// startNode runs script in dir with REDIS_PORT set for addr. The process is killed and
// waited for when the test ends.
func startNode(t *testing.T, ctx context.Context, nodeBin, dir, script, addr string) *nodeProc {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(nodeBin, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_PORT="+port)
	p := &nodeProc{lines: make(chan map[string]json.RawMessage, 256), errOut: &tailBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader goroutine owns stdout and reaps the process after EOF, as os/exec
	// requires (Wait only after reading is done).
	go func() {
		defer close(p.exited)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				msg, _ := json.Marshal("not JSON: " + sc.Text())
				line = map[string]json.RawMessage{"error": msg}
			}
			select {
			case p.lines <- line:
			case <-ctx.Done():
			}
		}
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by pid; a no-op once it has exited
		<-p.exited
	})
	return p
}

// next waits for the next line, which must have key; it decodes the line into v.
func (p *nodeProc) next(t *testing.T, ctx context.Context, key string, v any) {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("node exited before %q: %v\n%s", key, p.wait(), p.stderr())
		}
		if line[key] == nil {
			t.Fatalf("node printed %s, want %q\n%s", mustJSON(t, line), key, p.stderr())
		}
		if v != nil {
			if err := json.Unmarshal(mustJSON(t, line), v); err != nil {
				t.Fatal(err)
			}
		}
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %q from node\n%s", key, p.stderr())
	}
}

// wait waits for the process to exit and returns its error.
func (p *nodeProc) wait() error {
	<-p.exited
	return p.err
}

func (p *nodeProc) stderr() string { return p.errOut.String() }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
