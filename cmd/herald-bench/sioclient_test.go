package main

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/socketio"
)

func selfPIDForTest() int { return os.Getpid() }

func TestParsePacket(t *testing.T) {
	cases := []struct {
		in          string
		eio, sio    byte
		attachments int
		nsp         string // "" = not a Socket.IO packet
		ack         int64
		data        string
	}{
		{`0{"sid":"a","pingInterval":25000}`, '0', 0, 0, "", -1, `{"sid":"a","pingInterval":25000}`},
		{`1`, '1', 0, 0, "", -1, ``},
		{`2`, '2', 0, 0, "", -1, ``},
		{`2probe`, '2', 0, 0, "", -1, `probe`},
		{`3`, '3', 0, 0, "", -1, ``},
		{`6`, '6', 0, 0, "", -1, ``},
		{`40`, '4', '0', 0, "/", -1, ``},
		{`40{"sid":"x1"}`, '4', '0', 0, "/", -1, `{"sid":"x1"}`},
		{`40/admin,{"sid":"x1"}`, '4', '0', 0, "/admin", -1, `{"sid":"x1"}`},
		{`40/admin,`, '4', '0', 0, "/admin", -1, ``},
		{`40/admin`, '4', '0', 0, "/admin", -1, ``},
		{`41`, '4', '1', 0, "/", -1, ``},
		{`41/admin,`, '4', '1', 0, "/admin", -1, ``},
		{`42["bench",{"n":1}]`, '4', '2', 0, "/", -1, `["bench",{"n":1}]`},
		{`42/chat,["a"]`, '4', '2', 0, "/chat", -1, `["a"]`},
		{`4217["echo",1]`, '4', '2', 0, "/", 17, `["echo",1]`},
		{`42/chat,17["a"]`, '4', '2', 0, "/chat", 17, `["a"]`},
		{`4317["ok"]`, '4', '3', 0, "/", 17, `["ok"]`},
		{`44{"message":"Invalid namespace"}`, '4', '4', 0, "/", -1, `{"message":"Invalid namespace"}`},
		{`451-["ev",{"_placeholder":true,"num":0}]`, '4', '5', 1, "/", -1, `["ev",{"_placeholder":true,"num":0}]`},
		{`4512-/nsp,3["ev"]`, '4', '5', 12, "/nsp", 3, `["ev"]`},
		{`462-9[]`, '4', '6', 2, "/", 9, `[]`},
	}
	for _, c := range cases {
		p, err := ParsePacket([]byte(c.in))
		if err != nil {
			t.Errorf("ParsePacket(%q): %v", c.in, err)
			continue
		}
		if p.EIO != c.eio || p.SIO != c.sio || p.Attachments != c.attachments ||
			string(p.Nsp) != c.nsp || p.AckID != c.ack || string(p.Data) != c.data {
			t.Errorf("ParsePacket(%q) = {EIO %q SIO %q att %d nsp %q ack %d data %q}, want {%q %q %d %q %d %q}",
				c.in, p.EIO, p.SIO, p.Attachments, p.Nsp, p.AckID, p.Data,
				c.eio, c.sio, c.attachments, c.nsp, c.ack, c.data)
		}
	}
}

func TestParsePacketErrors(t *testing.T) {
	for _, in := range []string{"", "7", "x", "4", "47", "4a", "45", "45-", "45x-[]", "45-1[]"} {
		if p, err := ParsePacket([]byte(in)); err == nil {
			t.Errorf("ParsePacket(%q) = %+v, want error", in, p)
		}
	}
}

func TestEncoding(t *testing.T) {
	if got := connectPacket("/", nil); got != "40" {
		t.Errorf("connectPacket(/) = %q", got)
	}
	if got := connectPacket("/bench", nil); got != "40/bench," {
		t.Errorf("connectPacket(/bench) = %q", got)
	}
	if got := connectPacket("/bench", []byte(`{"token":"a.b.c"}`)); got != `40/bench,{"token":"a.b.c"}` {
		t.Errorf("connectPacket(/bench, auth) = %q", got)
	}
	if got := connectPacket("/", []byte(`{"token":"a.b.c"}`)); got != `40{"token":"a.b.c"}` {
		t.Errorf("connectPacket(/, auth) = %q", got)
	}
	got, err := EncodeEvent("/", "join", "room-1")
	if err != nil || got != `42["join","room-1"]` {
		t.Errorf("EncodeEvent = %q, %v", got, err)
	}
	got, err = EncodeEvent("/bench", "broadcast", nil, map[string]int{"n": 1})
	if err != nil || got != `42/bench,["broadcast",null,{"n":1}]` {
		t.Errorf("EncodeEvent(nsp) = %q, %v", got, err)
	}
	// What we send must parse back to the same thing.
	p, err := ParsePacket([]byte(got))
	if err != nil || string(p.Nsp) != "/bench" || string(p.Data) != `["broadcast",null,{"n":1}]` {
		t.Errorf("round trip: %+v, %v", p, err)
	}
}

func TestParseTarget(t *testing.T) {
	ok := []struct{ in, path, want string }{
		{"http://127.0.0.1:3000", "/socket.io/", "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"},
		{"http://127.0.0.1:3000/", "/socket.io/", "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"},
		{"ws://127.9.8.7:80", "/socket.io", "ws://127.9.8.7:80/socket.io/?EIO=4&transport=websocket"},
		{"http://localhost:3000", "/socket.io/", "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"},
		{"http://LOCALHOST", "/socket.io/", "ws://127.0.0.1:80/socket.io/?EIO=4&transport=websocket"},
		{"http://[::1]:3000", "/socket.io/", "ws://[::1]:3000/socket.io/?EIO=4&transport=websocket"},
		{"http://[::ffff:127.0.0.1]:3000", "/socket.io/", "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"},
		{"127.0.0.1:3000", "/socket.io/", "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"},
		{"http://127.0.0.1:3000/custom/", "/socket.io/", "ws://127.0.0.1:3000/custom/?EIO=4&transport=websocket"},
	}
	for _, c := range ok {
		tg, err := ParseTarget(c.in, c.path)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", c.in, err)
			continue
		}
		if tg.WSURL != c.want || tg.Base != c.in {
			t.Errorf("ParseTarget(%q) = %+v, want WSURL %q", c.in, tg, c.want)
		}
	}

	bad := []struct{ in, why string }{
		{"http://10.0.0.1:3000", "non-loopback"},
		{"http://192.168.1.10:3000", "non-loopback"},
		{"http://172.16.0.1:3000", "non-loopback"},
		{"http://8.8.8.8:80", "non-loopback"},
		{"http://0.0.0.0:3000", "non-loopback"},
		{"http://[::]:3000", "non-loopback"},
		{"http://[2001:db8::1]:3000", "non-loopback"},
		{"http://[fe80::1%25lo]:3000", "non-loopback"},
		{"http://[::ffff:10.0.0.1]:3000", "non-loopback"},
		{"http://example.com:3000", "loopback IP literal"},
		{"http://localhost.example.com", "loopback IP literal"},
		{"http://127.0.0.1.nip.io", "loopback IP literal"},
		{"https://127.0.0.1:3000", "TLS"},
		{"ftp://127.0.0.1:3000", "scheme"},
		{"http://", "missing host"},
		{"10.0.0.1:3000", "non-loopback"},
		{"http://127.0.0.1:99999", "bad port"},
	}
	for _, c := range bad {
		tg, err := ParseTarget(c.in, "/socket.io/")
		if err == nil {
			t.Errorf("ParseTarget(%q) = %+v, want error", c.in, tg)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseTarget(%q) error %q, want it to mention %q", c.in, err, c.why)
		}
	}
}

// FuzzParsePacket: no input panics, and a decoded packet only points into
// its frame: Data is always a suffix, and a namespace starts with '/'.
func FuzzParsePacket(f *testing.F) {
	for _, s := range []string{`0{"sid":"a"}`, "2", "2probe", "40", `40/admin,{"sid":"x"}`,
		`42["bench",1]`, `42/chat,17["a"]`, `451-["ev",{"_placeholder":true,"num":0}]`, `4512-/nsp,3["ev"]`, "45-", "4"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := ParsePacket(frame)
		if err != nil {
			return
		}
		if !strings.HasSuffix(string(frame), string(p.Data)) {
			t.Fatalf("Data %q is not a suffix of %q", p.Data, frame)
		}
		if p.EIO == eioMessage && (len(p.Nsp) == 0 || p.Nsp[0] != '/') {
			t.Fatalf("namespace %q of %q", p.Nsp, frame)
		}
	})
}

// A client on each read path against Herald: Call gets its ack (also one larger
// than a poller's read buffer), Close ends the connection without counting a
// disconnect, and Wait returns.
func TestClientCallEcho(t *testing.T) {
	tg := startHerald(t, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		d := &Dialer{Namespace: "/bench", Epoll: epoll}
		c, err := d.Dial(context.Background(), tg.WSURL)
		if err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("b", 100_000)
		for _, arg := range []string{"hi", big} {
			ack, err := c.Call(context.Background(), "echo", arg, 2)
			if want := `["` + arg + `",2]`; err != nil || string(ack) != want {
				t.Errorf("echo ack %.40q (%d bytes), %v; want %.40q", ack, len(ack), err, want)
			}
		}
		if !c.Connected() || c.SID() == "" {
			t.Errorf("connected %v, sid %q", c.Connected(), c.SID())
		}
		c.Close()
		d.Wait()
		if c.Connected() || d.Stats.Acks.Load() != 2 || d.Stats.Disconnects.Load() != 0 {
			t.Errorf("after Close: connected %v, acks %d, disconnects %d", c.Connected(), d.Stats.Acks.Load(), d.Stats.Disconnects.Load())
		}
		if _, err := c.Call(context.Background(), "echo", 1); err == nil {
			t.Error("Call after Close succeeded")
		}
	})
}

// The server closes the connection: the client counts a disconnect on either
// read path.
func TestClientServerCloses(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		srv, err := socketio.New(socketio.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		tg, err := ParseTarget(ts.URL, "/socket.io/")
		if err != nil {
			t.Fatal(err)
		}
		d := &Dialer{Epoll: epoll}
		c, err := d.Dial(context.Background(), tg.WSURL)
		if err != nil {
			t.Fatal(err)
		}
		_ = srv.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the client did not see the server close")
		}
		d.Wait()
		if c.Connected() || d.Stats.Disconnects.Load() != 1 {
			t.Errorf("connected %v, disconnects %d", c.Connected(), d.Stats.Disconnects.Load())
		}
	})
}
