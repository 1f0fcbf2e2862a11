package bench_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/apps/bench"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/socketio"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peerURL, when set (HERALD_BENCH_PEER=ws://127.0.0.1:3200/socket.io/?EIO=4&transport=websocket),
// runs these tests against another server, such as the Node peer in
// bench/peers/socketio-node, to check that it behaves the same. Checks that need
// Herald's internals, or its verbatim forwarding (Node re-encodes JSON), are skipped.
var peerURL = os.Getenv("HERALD_BENCH_PEER")

// start returns the bench namespace of a fresh in-process Herald and its URL, or a
// nil namespace and the peer's URL.
func start(t *testing.T) (*socketio.Namespace, string) {
	t.Helper()
	if peerURL != "" {
		return nil, peerURL
	}
	srv, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nsp := bench.Register(srv)
	if nsp.Name() != "/bench" {
		t.Fatalf("namespace %q", nsp.Name())
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return nsp, "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
}

// connect opens a session on /bench and returns it with its socket id.
func connect(t *testing.T, url string) (*testclient.Conn, string) {
	t.Helper()
	c := testclient.Dial(t, url, testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40/bench,")
	reply := c.Expect(t, `40/bench,{"sid":"*`)
	var v struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "40/bench,")), &v); err != nil || v.SID == "" {
		t.Fatalf("connect reply %q", reply)
	}
	return c, v.SID
}

// join puts c in room and waits for the ack.
func join(t *testing.T, c *testclient.Conn, room string) {
	t.Helper()
	c.SendText(t, `42/bench,900["join",`+quote(room)+`]`)
	c.Expect(t, `43/bench,900["ok"]`)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestJoin(t *testing.T) {
	nsp, url := start(t)
	tests := []struct {
		name, send, reply string
		joined            []string // rooms the socket is in afterwards (own id aside)
	}{
		{"room", `42/bench,1["join","r1"]`, `43/bench,1["ok"]`, []string{"r1"}},
		{"empty room acks but joins nothing", `42/bench,2["join",""]`, `43/bench,2["ok"]`, nil},
		{"non-string room acks but joins nothing", `42/bench,3["join",7]`, `43/bench,3["ok"]`, nil},
		{"no arguments", `42/bench,4["join"]`, `43/bench,4["ok"]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sid := connect(t, url)
			c.SendText(t, tt.send)
			c.Expect(t, tt.reply)
			if nsp == nil {
				return // a peer: the rooms are not visible from here
			}
			s := nsp.Socket(sid)
			if s == nil {
				t.Fatal("socket gone")
			}
			got := s.Rooms()[1:] // Rooms lists the own id first
			if strings.Join(got, ",") != strings.Join(tt.joined, ",") {
				t.Errorf("rooms %v, want %v", got, tt.joined)
			}
		})
	}
}

func TestJoinWithoutAck(t *testing.T) {
	nsp, url := start(t)
	c, sid := connect(t, url)
	c.SendText(t, `42/bench,["join","quiet"]`)
	// An echo behind it: frames of one connection are handled in order, so once its
	// ack is here the join has been handled, and it sent nothing.
	c.SendText(t, `42/bench,5["echo"]`)
	c.Expect(t, `43/bench,5[]`)
	if nsp != nil && !nsp.Socket(sid).In("quiet") {
		t.Error("not in room quiet")
	}
}

func TestBroadcast(t *testing.T) {
	_, url := start(t)
	tests := []struct {
		name      string
		send      string // from the sender, which is in room "r"
		ack       string // the sender's ack, "" for none
		inRoom    string // what the sender and the other member of "r" receive, "" for nothing
		outsider  string // what a socket in no room receives, "" for nothing
		reencoded string // what a peer that re-encodes JSON (Node) sends instead of inRoom, "" when the same
	}{
		{"to a room, sender included", `42/bench,1["broadcast","r",{"t":1,"seq":2}]`, `43/bench,1["ok"]`,
			`42/bench,["bench",{"t":1,"seq":2}]`, "", ""},
		{"null room: whole namespace", `42/bench,2["broadcast",null,"hi"]`, `43/bench,2["ok"]`,
			`42/bench,["bench","hi"]`, `42/bench,["bench","hi"]`, ""},
		{"no ack asked", `42/bench,["broadcast","r",[1,2]]`, "",
			`42/bench,["bench",[1,2]]`, "", ""},
		{"payload verbatim, spacing and key order kept", `42/bench,3["broadcast","r", {"b":1, "a":"\u00e9"}]`, `43/bench,3["ok"]`,
			`42/bench,["bench",{"b":1, "a":"\u00e9"}]`, "", `42/bench,["bench",{"b":1,"a":"é"}]`},
		{"missing payload is null", `42/bench,4["broadcast","r"]`, `43/bench,4["ok"]`,
			`42/bench,["bench",null]`, "", ""},
		{"extra arguments dropped", `42/bench,5["broadcast","r",1,2,3]`, `43/bench,5["ok"]`,
			`42/bench,["bench",1]`, "", ""},
		{"room nobody is in", `42/bench,6["broadcast","nobody",1]`, `43/bench,6["ok"]`, "", "", ""},
		{"non-string room reaches nobody", `42/bench,7["broadcast",["r"],1]`, `43/bench,7["ok"]`, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.reencoded != "" && peerURL != "" {
				tt.inRoom = tt.reencoded // Herald forwards verbatim; Node re-encodes
			}
			sender, _ := connect(t, url)
			member, _ := connect(t, url)
			outsider, _ := connect(t, url)
			join(t, sender, "r")
			join(t, member, "r")
			sender.SendText(t, tt.send)
			// Frames to one connection keep their order: the broadcast (if any) is
			// queued before the ack; an echo after it marks "nothing else came".
			if tt.inRoom != "" {
				sender.Expect(t, tt.inRoom)
			}
			if tt.ack != "" {
				sender.Expect(t, tt.ack)
			}
			for name, c := range map[string]*testclient.Conn{"member": member, "outsider": outsider} {
				want := tt.inRoom
				if name == "outsider" {
					want = tt.outsider
				}
				if want != "" {
					c.Expect(t, want)
				}
				c.SendText(t, `42/bench,99["echo","end"]`)
				c.Expect(t, `43/bench,99["end"]`)
			}
			sender.SendText(t, `42/bench,99["echo","end"]`)
			sender.Expect(t, `43/bench,99["end"]`)
		})
	}
}

func TestBroadcastBinaryPayload(t *testing.T) {
	_, url := start(t)
	a, _ := connect(t, url)
	b, _ := connect(t, url)
	join(t, a, "r")
	join(t, b, "r")
	a.SendText(t, `451-/bench,1["broadcast","r",{"_placeholder":true,"num":0}]`)
	a.SendBinary(t, []byte{1, 2, 3})
	for _, c := range []*testclient.Conn{a, b} {
		c.Expect(t, `451-/bench,["bench",{"_placeholder":true,"num":0}]`)
		if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != "\x01\x02\x03" {
			t.Fatalf("attachment %+v", m)
		}
	}
	a.Expect(t, `43/bench,1["ok"]`)
}

func TestEcho(t *testing.T) {
	_, url := start(t)
	c, _ := connect(t, url)
	tests := []struct {
		send, reply string
		verbatim    bool
	}{
		{`42/bench,1["echo"]`, `43/bench,1[]`, false},
		{`42/bench,2["echo","a",1,null,{"x":[true]}]`, `43/bench,2["a",1,null,{"x":[true]}]`, false},
		{`42/bench,3["echo", {"k" : 1}]`, `43/bench,3[{"k" : 1}]`, true},
	}
	for _, tt := range tests {
		if tt.verbatim && peerURL != "" {
			continue
		}
		c.SendText(t, tt.send)
		c.Expect(t, tt.reply)
	}
	// Binary both ways: the ack carries the same attachment.
	c.SendText(t, `451-/bench,4["echo",{"_placeholder":true,"num":0}]`)
	c.SendBinary(t, []byte{9, 8})
	c.Expect(t, `461-/bench,4[{"_placeholder":true,"num":0}]`)
	if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != "\x09\x08" {
		t.Fatalf("attachment %+v", m)
	}
	// Without an ack id, nothing comes back.
	c.SendText(t, `42/bench,["echo","x"]`)
	c.SendText(t, `42/bench,5["echo","y"]`)
	c.Expect(t, `43/bench,5["y"]`)
}
