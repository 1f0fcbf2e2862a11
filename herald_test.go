package herald_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/socketio"
)

func TestNodeRoutes(t *testing.T) {
	node, err := herald.New(herald.Config{})
	if err != nil {
		t.Fatal(err)
	}
	node.IO().Of("/").On("echo", func(s *socketio.Socket, ev *socketio.Event) { _ = ev.Ack(ev.Args) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- node.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	for path, want := range map[string]int{"/healthz": 200, "/": 404, "/socket.io/?EIO=4&transport=polling": 200, "/socket.io/?EIO=3&transport=polling": 400} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d %q, want %d", path, resp.StatusCode, b, want)
		}
	}
	// A NestJS WsAdapter client connects to the bare host; /ws works too.
	for _, path := range []string{"/", "/ws"} {
		c := testclient.Dial(t, "ws://"+ln.Addr().String()+path, testclient.Options{})
		c.SendText(t, `{"event":"echo","data":"hi"}`)
		c.Expect(t, `{"event":"echo","data":"hi"}`)
	}
	sio := testclient.Dial(t, "ws://"+ln.Addr().String()+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
	sio.Expect(t, "0{*")
	sio.SendText(t, "40")
	sio.Expect(t, `40{"sid":*`)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := node.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := testclient.CloseCode(sio.Closed(t, 5*time.Second)); code != 1001 {
		t.Fatalf("Socket.IO client close code %d, want 1001 (going away: reconnect elsewhere)", code)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestListenAndServeStopsOnContext(t *testing.T) {
	node, err := herald.New(herald.Config{Addr: "127.0.0.1:0", ShutdownGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.ListenAndServe(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if _, err := herald.New(herald.Config{Engine: engineConfigWithBadTransport()}); err == nil || !strings.Contains(err.Error(), "transport") {
		t.Fatalf("bad config: %v", err)
	}
}

func engineConfigWithBadTransport() (c engineio.Config) {
	c.Transports = []string{"smoke-signals"}
	return c
}
