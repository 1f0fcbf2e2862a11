package socketio_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/socketio"
	"github.com/lxzan/gws"
)

// The examples talk to the server with raw Engine.IO/Socket.IO frames so that the
// output shows exactly what a client receives. A real application uses a Socket.IO
// client library (socket.io-client in JavaScript) instead.

func ExampleServer() {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		panic(err)
	}
	chat := io.Of("/chat")
	// A middleware runs for every connection attempt; an error refuses it.
	chat.Use(func(s *socketio.Socket) error {
		var auth struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Name == "" {
			return &socketio.ConnectError{Message: "a name is required"}
		}
		s.SetData(auth.Name)
		return nil
	})
	chat.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("welcome", "hello, "+s.Data().(string))
	})
	chat.On("add", func(s *socketio.Socket, ev *socketio.Event) {
		var a, b int
		_ = ev.Decode(0, &a)
		_ = ev.Decode(1, &b)
		_ = ev.Ack(a + b)
	})

	ts := httptest.NewServer(io) // mount io on "/socket.io/" in a real server
	defer ts.Close()
	defer io.Close()

	c := dial(ts.URL)
	defer c.close()
	fmt.Println(c.next())            // Engine.IO open packet
	c.send(`40/chat,{}`)             // CONNECT to /chat without auth
	fmt.Println(c.next())            // CONNECT_ERROR
	c.send(`40/chat,{"name":"Ada"}`) // CONNECT with auth
	fmt.Println(c.next())            // CONNECT reply
	fmt.Println(c.next())            // the OnConnection handler's emit
	c.send(`42/chat,7["add",40,2]`)  // EVENT with ack id 7
	fmt.Println(c.next())            // ACK 7
	// Output:
	// 0{"sid":"<sid>","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
	// 44/chat,{"message":"a name is required"}
	// 40/chat,{"sid":"<sid>"}
	// 42/chat,["welcome","hello, Ada"]
	// 43/chat,7[42]
}

func ExampleNamespace_To() {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		panic(err)
	}
	nsp := io.Of("/")
	nsp.On("join", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Join(room)
		_ = ev.Ack(room)
	})
	ts := httptest.NewServer(io)
	defer ts.Close()
	defer io.Close()

	alice, bob := connect(ts.URL), connect(ts.URL)
	defer alice.close()
	defer bob.close()
	alice.send(`421["join","news"]`)
	fmt.Println("alice:", alice.next()) // the ack: she is in the room

	fmt.Println("members of news:", nsp.RoomSize("news"))
	_ = nsp.To("news").Emit("headline", "Go 1.26 released")
	_ = nsp.Except("news").Emit("notice", "join news for headlines")
	_ = nsp.Emit("bye") // everyone

	fmt.Println("alice:", alice.next())
	fmt.Println("alice:", alice.next())
	fmt.Println("bob:", bob.next())
	fmt.Println("bob:", bob.next())
	// Output:
	// alice: 431["news"]
	// members of news: 1
	// alice: 42["headline","Go 1.26 released"]
	// alice: 42["bye"]
	// bob: 42["notice","join news for headlines"]
	// bob: 42["bye"]
}

func ExampleSocket_EmitWithAck() {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		panic(err)
	}
	answers := make(chan string, 1)
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		// Handlers run on the connection's read goroutine, which is the one that
		// will receive the client's answer: wait for it in another goroutine.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ans, err := s.EmitWithAck(ctx, "question", "6*7?")
			if err != nil {
				answers <- err.Error()
				return
			}
			var n int
			_ = ans.Decode(0, &n)
			answers <- fmt.Sprint("the client answered ", n)
		}()
	})
	ts := httptest.NewServer(io)
	defer ts.Close()
	defer io.Close()

	c := connect(ts.URL)
	defer c.close()
	fmt.Println(c.next()) // EVENT with ack id 0
	c.send(`430[42]`)     // the client's ACK 0
	fmt.Println(<-answers)
	// Output:
	// 420["question","6*7?"]
	// the client answered 42
}

// Binary arguments travel as attachments; an Args value passed to Emit or Ack sends
// the arguments it holds, binary included, so forwarding what arrived is one call.
func ExampleArgs() {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		panic(err)
	}
	io.Of("/").On("upload", func(s *socketio.Socket, ev *socketio.Event) {
		b, _ := ev.Bytes(1)
		name, _ := ev.String(0)
		_ = ev.Ack(ev.Args)                              // the same arguments back
		_ = s.Emit("stored", name, len(b), []byte{0xff}) // []byte: a new attachment
	})
	ts := httptest.NewServer(io)
	defer ts.Close()
	defer io.Close()

	c := connect(ts.URL)
	defer c.close()
	// BINARY_EVENT with one attachment and ack id 3, then the attachment.
	c.send(`451-3["upload","a.bin",{"_placeholder":true,"num":0}]`)
	c.sendBinary([]byte{1, 2, 3})
	for range 4 {
		fmt.Println(c.next())
	}
	// Output:
	// 461-3["a.bin",{"_placeholder":true,"num":0}]
	// binary 010203
	// 451-["stored","a.bin",3,{"_placeholder":true,"num":0}]
	// binary ff
}

// rawClient is a bare WebSocket client for the examples.
type rawClient struct {
	ws   *gws.Conn
	msgs chan string
	done chan struct{}
}

type rawHandler struct {
	gws.BuiltinEventHandler
	c *rawClient
}

func (h rawHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	if m.Opcode == gws.OpcodeBinary {
		h.c.msgs <- "binary " + hex.EncodeToString(m.Bytes())
		return
	}
	h.c.msgs <- m.Data.String()
}

func (h rawHandler) OnClose(*gws.Conn, error) { close(h.c.done) }

// dial opens an Engine.IO WebSocket session to the server at base (http://host:port).
func dial(base string) *rawClient {
	c := &rawClient{msgs: make(chan string, 16), done: make(chan struct{})}
	url := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := gws.NewClient(rawHandler{c: c}, &gws.ClientOption{Addr: url})
	if err != nil {
		panic(err)
	}
	c.ws = ws
	go ws.ReadLoop()
	return c
}

// connect dials and joins the main namespace.
func connect(base string) *rawClient {
	c := dial(base)
	c.next() // open packet
	c.send("40")
	c.next() // 40{"sid":...}
	return c
}

func (c *rawClient) send(s string) {
	if err := c.ws.WriteString(s); err != nil {
		panic(err)
	}
}

func (c *rawClient) sendBinary(b []byte) {
	if err := c.ws.WriteMessage(gws.OpcodeBinary, b); err != nil {
		panic(err)
	}
}

var sidRE = regexp.MustCompile(`"sid":"[^"]*"`)

// next returns the next message with session and socket ids masked, answering
// Engine.IO pings on the way.
func (c *rawClient) next() string {
	for {
		select {
		case m := <-c.msgs:
			if m == "2" {
				c.send("3")
				continue
			}
			return sidRE.ReplaceAllString(m, `"sid":"<sid>"`)
		case <-time.After(5 * time.Second):
			panic("no message within 5s")
		}
	}
}

// close closes the connection and waits for its read loop to end.
func (c *rawClient) close() {
	_ = c.ws.WriteClose(1000, nil)
	<-c.done
}
