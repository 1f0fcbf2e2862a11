package plainws_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldhq/herald/plainws"
	"github.com/heraldhq/herald/socketio"
	"github.com/lxzan/gws"
)

func ExampleNew() {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		panic(err)
	}
	// Plain WebSocket connections are sockets of the namespace, like Socket.IO ones:
	// the same handlers serve both.
	nsp := io.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) { _ = s.Emit("welcome", "hi") })
	nsp.On("echo", func(s *socketio.Socket, ev *socketio.Event) {
		_ = ev.Ack(ev.Args) // a plain client receives the ack as {"event":"echo","data":...}
	})
	plain, err := plainws.New(io, plainws.Config{})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(plain) // mount plain on "/ws" in a real server
	defer ts.Close()
	defer io.Close()
	defer func() { _ = plain.Shutdown(context.Background()) }()

	c := dial("ws" + strings.TrimPrefix(ts.URL, "http"))
	defer c.close()
	fmt.Println(c.next())
	c.send(`{"event":"echo","data":1}`)
	fmt.Println(c.next())
	// Output:
	// {"event":"welcome","data":"hi"}
	// {"event":"echo","data":1}
}

// client is a bare WebSocket client for the example.
type client struct {
	ws   *gws.Conn
	msgs chan string
	done chan struct{}
}

type handler struct {
	gws.BuiltinEventHandler
	c *client
}

func (h handler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	h.c.msgs <- m.Data.String()
}

func (h handler) OnClose(*gws.Conn, error) { close(h.c.done) }

func dial(url string) *client {
	c := &client{msgs: make(chan string, 16), done: make(chan struct{})}
	ws, _, err := gws.NewClient(handler{c: c}, &gws.ClientOption{Addr: url})
	if err != nil {
		panic(err)
	}
	c.ws = ws
	go ws.ReadLoop()
	return c
}

func (c *client) send(s string) {
	if err := c.ws.WriteString(s); err != nil {
		panic(err)
	}
}

func (c *client) next() string {
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		panic("no message within 5s")
	}
}

func (c *client) close() {
	_ = c.ws.WriteClose(1000, nil)
	<-c.done
}
