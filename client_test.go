package herald_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testclient"
)

// A node serves the socket.io-client bundle under its Engine.IO path, as Node's
// socket.io does, unless DisableClient; the Engine.IO endpoint and a page the
// application mounts at "/" keep working beside it.
func TestServeClient(t *testing.T) {
	for _, tc := range []struct {
		cfg    herald.Config
		bundle string
		served bool
	}{
		{herald.Config{}, "/socket.io/socket.io.min.js", true},
		{herald.Config{Path: "/rt"}, "/rt/socket.io.min.js", true},
		{herald.Config{DisableClient: true}, "/socket.io/socket.io.min.js", false},
	} {
		node, err := herald.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		node.Mux().HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) })
		ts := httptest.NewServer(node.Handler())
		get := func(path string) (int, string, http.Header) {
			t.Helper()
			res, err := http.Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b strings.Builder
			buf := make([]byte, 64)
			n, _ := res.Body.Read(buf)
			b.Write(buf[:n])
			return res.StatusCode, b.String(), res.Header
		}
		code, body, hdr := get(tc.bundle)
		if tc.served && (code != http.StatusOK || !strings.HasPrefix(body, "/*!\n * Socket.IO v4.8.4") || hdr.Get("ETag") == "" ||
			!strings.HasPrefix(hdr.Get("Content-Type"), "application/javascript")) {
			t.Errorf("%+v: GET %s: %d %q %v", tc.cfg, tc.bundle, code, body, hdr)
		}
		if !tc.served && code == http.StatusOK {
			t.Errorf("DisableClient: GET %s: %d %q", tc.bundle, code, body)
		}
		if code, _, _ := get(tc.bundle + ".map"); (code == http.StatusOK) != tc.served {
			t.Errorf("%+v: source map: %d", tc.cfg, code)
		}
		path := strings.TrimSuffix(tc.bundle, "socket.io.min.js")
		if code, body, _ := get(path + "?EIO=4&transport=polling"); code != http.StatusOK || !strings.HasPrefix(body, "0{") {
			t.Errorf("%+v: Engine.IO handshake: %d %q", tc.cfg, code, body)
		}
		if code, body, _ := get("/"); code != http.StatusOK || body != "page" {
			t.Errorf("GET /: %d %q", code, body)
		}
		// WebSocket upgrades to "/" reach the plain endpoint, not the page.
		c := testclient.Dial(t, "ws"+strings.TrimPrefix(ts.URL, "http")+"/", testclient.Options{})
		testclient.WaitFor(t, func() bool { return node.IO().Of("/").Count() == 1 })
		c.Close()
		testclient.WaitFor(t, func() bool { return node.IO().Of("/").Count() == 0 })
		_ = node.Shutdown(context.Background())
		ts.Close()
	}
}
