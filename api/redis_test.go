package api_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/internal/testredis"
)

// TestPresenceAfterKill: node 2 is a herald process on the same Redis; its sockets
// count in node 1's presence answers until it is SIGKILLed, then stop counting (its
// Redis connection drops at once; its membership entry within the 3s TTL).
func TestPresenceAfterKill(t *testing.T) {
	redis := testredis.Start(t)
	n1, addr1 := startNode(t, herald.Config{RedisURL: redis.Addr, APIKeys: []string{key}})
	base := "http://" + addr1 + "/api/v1/"
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "HERALD_REDIS_URL="+redis.Addr, "HERALD_HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port),
		"HERALD_LOG_LEVEL=warn", "HERALD_JWT_SECRET="+string(secret))
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
	addr2 := fmt.Sprintf("127.0.0.1:%d", port)
	testclient.WaitFor(t, func() bool {
		c, err := net.Dial("tcp", addr2)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	sioClient(t, "a1", addr1, token(t, "A"))
	sioClient(t, "a2", addr2, token(t, "A"))
	plainClient(t, "a3", addr2, token(t, "A"))
	users := func() float64 {
		st, out, _ := call(t, "GET", base+"users/A", key, "")
		if st != http.StatusOK {
			t.Fatalf("users/A: %d %v", st, out)
		}
		return out["sockets"].(float64)
	}
	nodes := func() int {
		st, out, _ := call(t, "GET", base+"nodes", key, "")
		if st != http.StatusOK {
			t.Fatalf("nodes: %d %v", st, out)
		}
		return len(out["nodes"].([]any))
	}
	testclient.WaitFor(t, func() bool { return users() == 3 && nodes() == 2 })
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	killed = true
	killedAt := time.Now()
	testclient.WaitFor(t, func() bool { return users() == 1 })
	testclient.WaitFor(t, func() bool { return nodes() == 1 })
	if d := time.Since(killedAt); d > 4*time.Second {
		t.Fatalf("the killed node counted for %v (TTL 3s)", d)
	}
	_ = n1
}

// TestBusDown: with Redis gone, emits and disconnects answer 503 and presence answers
// 503, instead of dropping silently; they work again once Redis is back.
func TestBusDown(t *testing.T) {
	redis := testredis.Start(t)
	_, addr := startNode(t, herald.Config{RedisURL: redis.Addr, APIKeys: []string{key}})
	base := "http://" + addr + "/api/v1/"
	c := sioClient(t, "c", addr, token(t, "A"))
	if st, _, _ := call(t, "POST", base+"emit", key, `{"event":"before","to":{"all":true}}`); st != 202 {
		t.Fatalf("emit: %d", st)
	}
	c.conn.Expect(t, `42["before"]`)
	_, _ = redis.Command("SHUTDOWN", "NOSAVE") // Redis goes away; its clients see the connection drop
	// The API probes the bus at most once a second while it looks healthy, so an emit
	// or two may still be accepted (and delivered on this node only) before the 503s.
	var accepted []string
	var out map[string]any
	for i := 0; ; i++ {
		ev := fmt.Sprintf("during%d", i)
		var st int
		st, out, _ = call(t, "POST", base+"emit", key, `{"event":"`+ev+`","to":{"all":true}}`)
		if st == http.StatusServiceUnavailable {
			break
		}
		if st != http.StatusAccepted || i > 100 {
			t.Fatalf("emit %d with Redis down: %d %v", i, st, out)
		}
		accepted = append(accepted, ev)
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d emits accepted before the API saw Redis down", len(accepted))
	if out["error"] != "cluster bus is down; nothing was emitted" {
		t.Fatalf("emit with Redis down: %v", out)
	}
	// Once refused, refused until Redis is back.
	if st, _, _ := call(t, "POST", base+"emit", key, `{"event":"refused","to":{"all":true}}`); st != 503 {
		t.Fatalf("second emit with Redis down: %d", st)
	}
	if st, out, _ := call(t, "POST", base+"disconnect", key, `{"to":{"all":true}}`); st != 503 {
		t.Fatalf("disconnect with Redis down: %d %v", st, out)
	}
	if st, out, _ := call(t, "GET", base+"nodes", key, ""); st != 503 || out["error"] != "cluster bus is down" {
		t.Fatalf("nodes with Redis down: %d %v", st, out)
	}
	redis.Restart(t)
	testclient.WaitFor(t, func() bool {
		st, _, _ := call(t, "POST", base+"emit", key, `{"event":"after","to":{"all":true}}`)
		return st == http.StatusAccepted
	})
	for _, ev := range accepted {
		c.conn.Expect(t, `42["`+ev+`"]`)
	}
	c.conn.Expect(t, `42["after"]`) // no refused emit reached the socket
}
