package herald_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/socketio"
	"github.com/lxzan/gws"
)

func ExampleNew() {
	node, err := herald.New(herald.Config{})
	if err != nil {
		panic(err)
	}
	// Handlers on the Socket.IO namespace serve Socket.IO clients (on /socket.io/) and
	// plain WebSocket clients (on /ws) alike.
	node.IO().Of("/").On("echo", func(s *socketio.Socket, ev *socketio.Event) {
		_ = ev.Ack(ev.Args)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- node.Serve(ln) }()

	c := dial("ws://" + ln.Addr().String() + "/ws")
	c.send(`{"event":"echo","data":"hi"}`)
	fmt.Println(c.next())

	// Shutdown tells every client to reconnect elsewhere and waits for them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", node.Shutdown(ctx))
	fmt.Println("client closed:", c.closed())
	fmt.Println("serve:", <-served)
	// Output:
	// {"event":"echo","data":"hi"}
	// shutdown: <nil>
	// client closed: 1001 server shutting down
	// serve: <nil>
}

// client is a bare WebSocket client for the example.
type client struct {
	ws   *gws.Conn
	msgs chan string
	done chan struct{}
	err  error // why the connection closed, once done is closed
}

type handler struct {
	gws.BuiltinEventHandler
	c *client
}

func (h handler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	h.c.msgs <- m.Data.String()
}

func (h handler) OnClose(_ *gws.Conn, err error) {
	h.c.err = err
	close(h.c.done)
}

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

// closed waits for the server to close the connection and describes its close frame.
func (c *client) closed() string {
	<-c.done
	var ce *gws.CloseError
	if errors.As(c.err, &ce) {
		return fmt.Sprint(ce.Code, " ", string(ce.Reason))
	}
	return fmt.Sprint(c.err)
}
