package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/apps/chat"
	"github.com/heraldhq/herald/internal/testclient"
)

func TestDefaults(t *testing.T) {
	s, err := loadSettings(nil, nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != 3000 || s.PingInterval != 25*time.Second || s.PingTimeout != 20*time.Second ||
		s.MaxPayload != 1_000_000 || s.ConnectTimeout != 45*time.Second || s.ShutdownGrace != 10*time.Second ||
		strings.Join(s.Transports, ",") != "websocket,polling" || s.Path != "/socket.io/" || s.WSPath != "/ws" {
		t.Fatalf("defaults %+v", s)
	}
	cfg := s.config(nil)
	// The binary reads WebSockets from epoll and delays writes by 30 ms under load
	// unless told otherwise (the library's engineio.Config leaves both off).
	if cfg.Addr != ":3000" || cfg.Engine.MaxPayload != 1_000_000 || !cfg.Engine.EpollReads ||
		cfg.Engine.WriteDelay != 30*time.Millisecond || !cfg.Engine.AdaptiveWriteDelay {
		t.Fatalf("config %+v", cfg)
	}
}

func TestEnvAndFlags(t *testing.T) {
	env := []string{"NODE_PORT=4000", "HERALD_PING_INTERVAL=5s", "HERALD_CORS_ORIGINS=http://a,http://b", "HERALD_TRANSPORTS=websocket", "HERALD_WRITE_DELAY=20ms", "HERALD_WRITE_DELAY_ADAPTIVE=false", "HERALD_EPOLL_READS=false"}
	s, err := loadSettings([]string{"-ping-timeout", "3s", "-max-payload=500"}, env, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != 4000 || s.PingInterval != 5*time.Second || s.PingTimeout != 3*time.Second || s.MaxPayload != 500 ||
		len(s.CORSOrigins) != 2 || len(s.Transports) != 1 || s.config(nil).Engine.WriteDelay != 20*time.Millisecond || s.config(nil).Engine.AdaptiveWriteDelay || s.config(nil).Engine.EpollReads {
		t.Fatalf("settings %+v", s)
	}
	// PORT wins over NODE_PORT; a flag wins over both.
	s, _ = loadSettings(nil, []string{"PORT=5000", "NODE_PORT=4000"}, new(bytes.Buffer))
	if s.Port != 5000 {
		t.Fatalf("PORT %d", s.Port)
	}
	s, _ = loadSettings([]string{"-port", "6000"}, []string{"PORT=5000"}, new(bytes.Buffer))
	if s.Port != 6000 {
		t.Fatalf("flag port %d", s.Port)
	}
}

// Bad configuration is refused with a message that names the variable.
func TestBadConfigNamesTheVariable(t *testing.T) {
	tests := []struct {
		env  string
		args []string
		want string
	}{
		{env: "PORT=abc", want: "PORT:"},
		{env: "PORT=70000", want: "PORT: must be 1-65535"},
		{env: "HERALD_PING_INTERVAL=soon", want: "HERALD_PING_INTERVAL:"},
		{env: "HERALD_PING_TIMEOUT=-1s", want: "HERALD_PING_TIMEOUT: must be positive"},
		{env: "HERALD_MAX_PAYLOAD=0", want: "HERALD_MAX_PAYLOAD: must be positive"},
		{env: "HERALD_WRITE_DELAY=2s", want: "HERALD_WRITE_DELAY: must be between 0 and 1s"},
		{env: "HERALD_WRITE_WORKERS=-1", want: "HERALD_WRITE_WORKERS: must not be negative"},
		{env: "HERALD_TRANSPORTS=websocket,carrier-pigeon", want: `HERALD_TRANSPORTS: unknown transport "carrier-pigeon"`},
		{env: "HERALD_LOG_LEVEL=loud", want: "HERALD_LOG_LEVEL: unknown level"},
		{env: "HERALD_WS_PATH=/", want: "HERALD_WS_PATH:"},
		{args: []string{"-connect-timeout", "x"}, want: "HERALD_CONNECT_TIMEOUT:"},
		{args: []string{"stray"}, want: `unexpected argument "stray"`},
	}
	for _, tt := range tests {
		var env []string
		if tt.env != "" {
			env = []string{tt.env}
		}
		_, err := loadSettings(tt.args, env, new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: error %v, want it to contain %q", tt.env, tt.args, err, tt.want)
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := loadSettings([]string{"-help"}, nil, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, v := range []string{"PORT", "HERALD_PING_INTERVAL", "HERALD_PING_TIMEOUT", "HERALD_MAX_PAYLOAD", "HERALD_CONNECT_TIMEOUT",
		"HERALD_CORS_ORIGINS", "HERALD_TRANSPORTS", "HERALD_SHUTDOWN_GRACE", "-ping-interval", "default 25s"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("help lacks %q:\n%s", v, out.String())
		}
	}
}

// HERALD_BENCH is off by default, read from the environment, and -bench (a bool flag,
// so the bare flag means true) overrides it.
func TestBenchSetting(t *testing.T) {
	tests := []struct {
		env  []string
		args []string
		want bool
	}{
		{nil, nil, false},
		{[]string{"HERALD_BENCH=true"}, nil, true},
		{[]string{"HERALD_BENCH=1"}, nil, true},
		{nil, []string{"-bench"}, true},
		{nil, []string{"-bench=true"}, true},
		{[]string{"HERALD_BENCH=true"}, []string{"-bench=false"}, false},
		{nil, []string{"-bench", "-port", "4000"}, true},
	}
	for _, tt := range tests {
		s, err := loadSettings(tt.args, tt.env, new(bytes.Buffer))
		if err != nil || s.Bench != tt.want {
			t.Errorf("env %v args %v: Bench %v, %v; want %v", tt.env, tt.args, s.Bench, err, tt.want)
		}
	}
	_, err := loadSettings(nil, []string{"HERALD_BENCH=maybe"}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "HERALD_BENCH:") {
		t.Errorf("HERALD_BENCH=maybe: error %v, want it to name HERALD_BENCH", err)
	}
	var help bytes.Buffer
	_, _ = loadSettings([]string{"-help"}, nil, &help)
	if !strings.Contains(help.String(), "register the load-test namespace /bench (for herald-bench; off in production)") {
		t.Errorf("help lacks HERALD_BENCH:\n%s", help.String())
	}
}

// With HERALD_BENCH the node serves /bench; without it the namespace does not exist.
func TestNewNodeBench(t *testing.T) {
	for _, on := range []bool{false, true} {
		s, err := loadSettings(nil, []string{fmt.Sprintf("HERALD_BENCH=%v", on)}, new(bytes.Buffer))
		if err != nil {
			t.Fatal(err)
		}
		node, stop, err := newNode(s, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(node.Handler())
		c := testclient.Dial(t, "ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
		c.Expect(t, "0{*")
		c.SendText(t, "40/bench,")
		if on {
			c.Expect(t, `40/bench,{"sid":"*`)
			c.SendText(t, `42/bench,1["echo","x"]`)
			c.Expect(t, `43/bench,1["x"]`)
		} else {
			c.Expect(t, `44/bench,{"message":"Invalid namespace"}`)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = node.Shutdown(ctx)
		cancel()
		stop()
		ts.Close()
	}
}

func TestRedisSettings(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, ""},
		{[]string{"HERALD_REDIS_URL=redis://a:6380/2"}, "redis://a:6380/2"},
		{[]string{"REDIS_URL=rediss://u:p@b:6390/1"}, "rediss://u:p@b:6390/1"},
		{[]string{"REDIS_HOST=cache", "REDIS_PORT=6400"}, "cache:6400"},
		{[]string{"REDIS_HOST=cache"}, "cache:6379"},
		{[]string{"HERALD_REDIS_URL=x:1", "REDIS_URL=y:2"}, "x:1"},
	}
	for _, tt := range tests {
		s, err := loadSettings(nil, tt.env, new(bytes.Buffer))
		if err != nil || s.RedisURL != tt.want || s.config(nil).RedisURL != tt.want {
			t.Errorf("%v: RedisURL %q, %v; want %q", tt.env, s.RedisURL, err, tt.want)
		}
	}
	if _, err := loadSettings(nil, []string{"HERALD_CLUSTER_KEY=a#b"}, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "HERALD_CLUSTER_KEY") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestAuthSettings(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	s, err := loadSettings(nil, []string{"HERALD_JWT_SECRET=" + secret, "HERALD_ALLOW_ANONYMOUS=false", "HERALD_JWT_USER_CLAIM=uid"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.config(nil)
	if string(cfg.Auth.JWT.Secret) != secret || !cfg.RequireAuth || cfg.Auth.JWT.UserClaim != "uid" || cfg.Session != nil {
		t.Fatalf("config %+v", cfg)
	}
	s, err = loadSettings(nil, []string{"HERALD_SESSION_SECRET=new,old", "HERALD_REDIS_URL=127.0.0.1:6390", "HERALD_SESSION_USER_PATH=userId"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if sc := s.config(nil).Session; sc == nil || len(sc.Secrets) != 2 || sc.UserPath != "userId" || sc.CookieName != "connect.sid" || sc.Prefix != "sess:" {
		t.Fatalf("session %+v", sc)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"HERALD_JWT_SECRET=" + secret, "HERALD_JWT_JWKS_URL=http://x/jwks"}, "HERALD_JWT_JWKS_URL, HERALD_JWT_SECRET: set only one JWT key source"},
		{[]string{"HERALD_JWT_SECRET=short"}, "HERALD_JWT_SECRET: must be at least 32 bytes"},
		{[]string{"HERALD_SESSION_SECRET=x"}, "HERALD_SESSION_SECRET: sessions are read from Redis"},
		{[]string{"HERALD_ALLOW_ANONYMOUS=false"}, "HERALD_ALLOW_ANONYMOUS: false needs a JWT key source"},
		{[]string{"HERALD_JWT_PUBLIC_KEY_FILE=/nonexistent/key.pem"}, "HERALD_JWT_PUBLIC_KEY_FILE:"},
	} {
		if _, err := loadSettings(nil, tt.env, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
}

func TestAPISettings(t *testing.T) {
	s, err := loadSettings(nil, nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.config(nil); cfg.APIKeys != nil || cfg.APIAddr != "" {
		t.Fatalf("API on by default: %+v", cfg)
	}
	s, err = loadSettings(nil, []string{"HERALD_API_KEYS=new-key, old-key", "HERALD_API_ADDR=127.0.0.1:3001"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.config(nil); strings.Join(cfg.APIKeys, "|") != "new-key|old-key" || cfg.APIAddr != "127.0.0.1:3001" {
		t.Fatalf("config %q %q", cfg.APIKeys, cfg.APIAddr)
	}
	s, err = loadSettings([]string{"-api-keys", "flag-key"}, []string{"HERALD_API_KEYS=env-key"}, new(bytes.Buffer))
	if err != nil || strings.Join(s.config(nil).APIKeys, "|") != "flag-key" {
		t.Fatalf("flag over env: %q %v", s.APIKeys, err)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"HERALD_API_KEYS=a,,b"}, "HERALD_API_KEYS: key 2 of 3 is empty"},
		{[]string{"HERALD_API_KEYS=a, "}, "HERALD_API_KEYS: key 2 of 2 is empty"},
		{[]string{"HERALD_API_ADDR=:3001"}, "HERALD_API_ADDR: the API is disabled without keys"},
		{[]string{"HERALD_API_KEYS=a", "HERALD_API_ADDR=3001"}, `HERALD_API_ADDR: want host:port, got "3001"`},
	} {
		_, err := loadSettings(nil, tt.env, new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "b,") {
			t.Errorf("error echoes a key: %v", err)
		}
	}
	// newNode mounts the API on the main routes.
	s, _ = loadSettings(nil, []string{"HERALD_API_KEYS=k"}, new(bytes.Buffer))
	node, stop, err := newNode(s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	defer func() { _ = node.Shutdown(context.Background()) }()
	if node.API() == nil {
		t.Fatal("API not built")
	}
}

// HERALD_DEMO is on by default; its tokens' key is random per process, or derived from
// HERALD_DEMO_SECRET (the same on every node of a demo cluster); a real identity
// source turns the demo login off.
func TestDemoSettings(t *testing.T) {
	load := func(args []string, env ...string) settings {
		t.Helper()
		s, err := loadSettings(args, env, new(bytes.Buffer))
		if err != nil {
			t.Fatalf("%v %v: %v", args, env, err)
		}
		return s
	}
	s1, s2 := load(nil), load(nil)
	if !s1.Demo || len(s1.demoKey) != 32 || string(s1.demoKey) == string(s2.demoKey) {
		t.Fatalf("default: demo %v, keys %x %x", s1.Demo, s1.demoKey, s2.demoKey)
	}
	if cfg := s1.config(nil); string(cfg.Auth.JWT.Secret) != string(s1.demoKey) {
		t.Fatal("the node does not verify with the demo key")
	}
	secret := "demo secret shared by two nodes, 32+ bytes"
	s1, s2 = load(nil, "HERALD_DEMO_SECRET="+secret), load(nil, "HERALD_DEMO_SECRET="+secret)
	if string(s1.demoKey) != string(s2.demoKey) || string(s1.demoKey) != string(chat.DemoKey([]byte(secret))) || string(s1.demoKey) == secret {
		t.Fatalf("HERALD_DEMO_SECRET: keys %x %x", s1.demoKey, s2.demoKey)
	}
	jwtSecret := "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		args []string
		env  []string
	}{
		{nil, []string{"HERALD_DEMO=false"}},
		{[]string{"-demo=false"}, nil},
		{nil, []string{"HERALD_JWT_SECRET=" + jwtSecret}},
		{nil, []string{"HERALD_SESSION_SECRET=s", "HERALD_REDIS_URL=127.0.0.1:1"}},
	} {
		s := load(tc.args, tc.env...)
		if s.demoKey != nil {
			t.Errorf("%v %v: demo login on", tc.args, tc.env)
		}
		if got := string(s.config(nil).Auth.JWT.Secret); got != s.JWTSecret {
			t.Errorf("%v %v: node secret %q", tc.args, tc.env, got)
		}
	}
	if s := load([]string{"-demo=false"}); s.Demo {
		t.Fatal("-demo=false")
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"HERALD_DEMO_SECRET=short"}, "HERALD_DEMO_SECRET: must be at least 32 bytes"},
		{[]string{"HERALD_DEMO=false", "HERALD_DEMO_SECRET=" + secret}, "HERALD_DEMO_SECRET: the demo is off (HERALD_DEMO=false): unset it"},
		{[]string{"HERALD_JWT_SECRET=" + jwtSecret, "HERALD_DEMO_SECRET=" + secret}, "HERALD_DEMO_SECRET: unused: the demo login is off when HERALD_JWT_SECRET is set"},
		{[]string{"HERALD_DEMO=perhaps"}, "HERALD_DEMO:"},
	} {
		if _, err := loadSettings(nil, tc.env, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
	var help bytes.Buffer
	_, _ = loadSettings([]string{"-help"}, nil, &help)
	for _, want := range []string{"HERALD_DEMO ", "-demo ", "HERALD_DEMO_SECRET", "not for production: set false"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// The demo as newNode builds it: the page, /chat and the demo login by default, with a
// warning; none of it with HERALD_DEMO=false; no login with a real key.
func TestNewNodeDemo(t *testing.T) {
	for _, tc := range []struct {
		env               []string
		page, chat, login bool
		log               string
	}{
		{nil, true, true, true, `level=WARN msg="herald: chat demo on: the page at /, the namespace /chat and a demo login; not for production; HERALD_DEMO=false turns it off" login=true`},
		{[]string{"HERALD_DEMO=false"}, false, false, false, ""},
		{[]string{"HERALD_JWT_SECRET=0123456789abcdef0123456789abcdef"}, true, true, false, `msg="herald: demo login off: identities come from a real source" source=HERALD_JWT_SECRET`},
	} {
		s, err := loadSettings(nil, tc.env, new(bytes.Buffer))
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		node, stop, err := newNode(s, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(node.Handler())
		status := func(method, path, body string) int {
			t.Helper()
			req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			return res.StatusCode
		}
		code := func(on bool) int {
			if on {
				return http.StatusOK
			}
			return http.StatusNotFound
		}
		if got := status("GET", "/", ""); got != code(tc.page) {
			t.Errorf("%v: GET / %d", tc.env, got)
		}
		if got := status("POST", "/demo/login", `{"user":"alice"}`); got != code(tc.login) {
			t.Errorf("%v: POST /demo/login %d", tc.env, got)
		}
		if got := status("GET", "/socket.io/socket.io.min.js", ""); got != http.StatusOK {
			t.Errorf("%v: the client bundle: %d", tc.env, got)
		}
		c := testclient.Dial(t, "ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", testclient.Options{})
		c.Expect(t, "0{*")
		c.SendText(t, "40/chat,")
		if tc.chat {
			c.Expect(t, `40/chat,{"sid":"*`)
		} else {
			c.Expect(t, `44/chat,{"message":"Invalid namespace"}`)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = node.Shutdown(ctx)
		cancel()
		stop()
		ts.Close()
		if !strings.Contains(logs.String(), tc.log) || (tc.log == "" && strings.Contains(logs.String(), "chat demo")) {
			t.Errorf("%v: logs\n%s\nwant %q", tc.env, logs.String(), tc.log)
		}
	}
}
