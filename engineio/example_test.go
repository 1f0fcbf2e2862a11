package engineio_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldhq/herald/engineio"
)

// echo is an engineio.Handler that sends every message back to its session.
type echo struct{}

func (echo) OnOpen(s *engineio.Session) { fmt.Println("open:", s.Transport()) }

func (echo) OnMessage(s *engineio.Session, data []byte, binary bool) {
	// data is only valid during the call; SendMessage and SendBinary copy it.
	if binary {
		_ = s.SendBinary(data)
		return
	}
	_ = s.SendMessage(data)
}

func (echo) OnClose(_ *engineio.Session, r engineio.Reason) { fmt.Println("close:", r.String()) }

func ExampleNew() {
	srv, err := engineio.New(engineio.Config{PingInterval: 10 * time.Second}, echo{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer srv.Close()

	// The long-polling handshake: a GET answered with the open packet, "0" + JSON.
	client := ts.Client()
	body := do(client.Get(ts.URL + "/engine.io/?EIO=4&transport=polling"))
	var open struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(body, "0")), &open); err != nil {
		panic(err)
	}
	fmt.Printf("upgrades=%v pingInterval=%d pingTimeout=%d maxPayload=%d\n",
		open.Upgrades, open.PingInterval, open.PingTimeout, open.MaxPayload)

	// Messages go up in a POST ("4" is a text message, "b" a base64 binary one,
	// separated by \x1e) and come back in the next GET.
	session := ts.URL + "/engine.io/?EIO=4&transport=polling&sid=" + open.SID
	fmt.Println(do(client.Post(session, "text/plain", strings.NewReader("4hello\x1ebAQID"))))
	fmt.Printf("%q\n", do(client.Get(session)))
	fmt.Println(do(client.Post(session, "text/plain", strings.NewReader("1")))) // close packet
	// Output:
	// open: polling
	// upgrades=[websocket] pingInterval=10000 pingTimeout=20000 maxPayload=1000000
	// ok
	// "4hello\x1ebAQID"
	// close: transport close
	// ok
}

// do returns the body of a successful response.
func do(resp *http.Response, err error) string {
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		panic(fmt.Sprint(resp.Status, string(b), err))
	}
	return string(b)
}

// A session keeps the headers of the request that opened it, except those of the
// HTTP exchange and the WebSocket upgrade; HeaderValue reads one without building a
// map, Header builds the whole http.Header.
func ExampleHandshake_HeaderValue() {
	r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=websocket", nil)
	r.Header.Set("Cookie", "sid=abc")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	hs := engineio.NewHandshake(r)
	fmt.Printf("cookie %q, upgrade %q\n", hs.HeaderValue("cookie"), hs.HeaderValue("Upgrade"))
	fmt.Println(hs.Header())
	// Output:
	// cookie "sid=abc", upgrade ""
	// map[Cookie:[sid=abc]]
}
