package herald_test

import (
	"context"
	"net"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/internal/testredis"
	"github.com/heraldhq/herald/socketio"
)

// startNode runs a Herald node joined to the Redis at url.
func startNode(t *testing.T, url string) (*herald.Node, string) {
	t.Helper()
	node, err := herald.New(herald.Config{RedisURL: url})
	if err != nil {
		t.Fatal(err)
	}
	node.IO().Of("/").On("join", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Join(room)
		_ = ev.Ack(room)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Serve(ln) }()
	t.Cleanup(func() {
		_ = node.Shutdown(context.Background())
		<-done
	})
	return node, "ws://" + ln.Addr().String()
}

// TestTwoNodesOverRedis: a user's two devices on two nodes both get an event sent to
// the user's room from either node, and a socket elsewhere does not.
func TestTwoNodesOverRedis(t *testing.T) {
	redis := testredis.Start(t)
	n1, url1 := startNode(t, redis.Addr)
	n2, url2 := startNode(t, "redis://"+redis.Addr)
	connect := func(url, room string) *testclient.Conn {
		c := testclient.Dial(t, url+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
		c.Expect(t, "0{*")
		c.SendText(t, "40")
		c.Expect(t, `40{"sid":*`)
		c.SendText(t, `421["join","`+room+`"]`)
		c.Expect(t, `431["`+room+`"]`)
		return c
	}
	phone := connect(url1, "user:42")
	laptop := connect(url2, "user:42")
	other := connect(url2, "user:7")
	plain := testclient.Dial(t, url1+"/ws", testclient.Options{})
	plain.SendText(t, `{"event":"join","data":"user:42"}`)
	plain.Expect(t, `{"event":"join","data":"user:42"}`)
	for _, n := range []*herald.Node{n1, n2} {
		if err := n.Cluster().Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_ = n2.IO().Of("/").To("user:42").Emit("notify", map[string]int{"n": 1})
	phone.Expect(t, `42["notify",{"n":1}]`)
	laptop.Expect(t, `42["notify",{"n":1}]`)
	plain.Expect(t, `{"event":"notify","data":{"n":1}}`)
	_ = n1.IO().Of("/").To("user:42").Emit("notify", 2)
	phone.Expect(t, `42["notify",2]`)
	laptop.Expect(t, `42["notify",2]`)
	_ = n1.IO().Of("/").Emit("marker")
	other.Expect(t, `42["marker"]`) // and nothing for user 42 before it
}
