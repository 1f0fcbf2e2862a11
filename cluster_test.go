package herald_test

import (
	"context"
	"fmt"
	redisbus "github.com/heraldhq/herald/bus/redis"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestKilledNodeLeaves: a node killed with SIGKILL drops out of the membership list
// within its TTL, and cluster requests stop waiting for it.
func TestKilledNodeLeaves(t *testing.T) {
	redis := testredis.Start(t)
	n1, _ := startNode(t, redis.Addr)
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "HERALD_REDIS_URL="+redis.Addr, "HERALD_HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "HERALD_LOG_LEVEL=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ctx := context.Background()
	testclient.WaitFor(t, func() bool {
		nodes, _ := n1.Cluster().Nodes(ctx)
		return len(nodes) == 2
	})
	// A socket on the other node shows up in a cluster-wide fetch.
	var c *testclient.Conn
	testclient.WaitFor(t, func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	c = testclient.Dial(t, fmt.Sprintf("ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket", port), testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40")
	c.Expect(t, `40{"sid":*`)
	socks, err := n1.Cluster().FetchSockets(ctx, "/", nil, nil)
	if err != nil || len(socks) != 1 {
		t.Fatalf("fetch before the kill: %d sockets, %v", len(socks), err)
	}
	_ = cmd.Process.Kill() // SIGKILL: no goodbye, no deregistration
	_ = cmd.Wait()
	killed = true
	killedAt := time.Now()
	testclient.WaitFor(t, func() bool {
		nodes, _ := n1.Cluster().Nodes(ctx)
		return len(nodes) == 1
	})
	if d := time.Since(killedAt); d > 4*time.Second {
		t.Fatalf("the killed node stayed listed for %v (TTL 3s)", d)
	}
	start := time.Now()
	socks, err = n1.Cluster().FetchSockets(ctx, "/", nil, nil)
	if err != nil || len(socks) != 0 {
		t.Fatalf("fetch after the kill: %d sockets, %v", len(socks), err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("fetch after the kill took %v: it waited for the dead node", d)
	}
}

// TestRedisRestart: Redis is killed and restarted on the same port while a node
// broadcasts; both nodes resubscribe on their own and delivery resumes.
func TestRedisRestart(t *testing.T) {
	redis := testredis.Start(t)
	n1, _ := startNode(t, redis.Addr)
	n2, url2 := startNode(t, redis.Addr)
	c := testclient.Dial(t, url2+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "40")
	c.Expect(t, `40{"sid":*`)
	c.SendText(t, `421["join","live"]`)
	c.Expect(t, `431["live"]`)
	ctx := context.Background()
	_ = n2.Cluster().Sync(ctx)
	_ = n1.IO().Of("/").To("live").Emit("tick", 0)
	c.Expect(t, `42["tick",0]`)

	redis.Restart(t)
	restarted := time.Now()
	// Broadcast every 20ms until one gets through (those sent during the gap are lost:
	// pub/sub is at most once).
	for i := 1; ; i++ {
		_ = n1.IO().Of("/").To("live").Emit("tick", i)
		select {
		case m := <-c.Messages():
			if strings.HasPrefix(string(m.Data), `42["tick",`) {
				resumed := time.Since(restarted)
				t.Logf("delivery resumed %v after the restart (reconnects: node 1 %d, node 2 %d)", resumed,
					n1.Cluster().Bus().(*redisbus.Bus).Reconnects(), n2.Cluster().Bus().(*redisbus.Bus).Reconnects())
				if resumed > 5*time.Second {
					t.Fatalf("delivery resumed only after %v", resumed)
				}
				return
			}
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(restarted) > 10*time.Second {
			t.Fatal("delivery did not resume within 10s of the Redis restart")
		}
	}
}
