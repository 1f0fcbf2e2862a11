package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/apps/chat"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/engineio"
)

// settings are Herald's environment variables. Each also has a flag named after it
// (HERALD_PING_INTERVAL → -ping-interval) that overrides it.
type settings struct {
	Port               int           `env:"PORT" envDefault:"3000" help:"listen port (NODE_PORT is accepted too)"`
	Host               string        `env:"HERALD_HOST" help:"listen host; empty means every interface"`
	Path               string        `env:"HERALD_PATH" envDefault:"/socket.io/" help:"Engine.IO / Socket.IO path"`
	WSPath             string        `env:"HERALD_WS_PATH" envDefault:"/ws" help:"plain WebSocket {event,data} endpoint (also served on / for upgrades)"`
	WSNamespace        string        `env:"HERALD_WS_NAMESPACE" envDefault:"/" help:"namespace that plain WebSocket connections join"`
	PingInterval       time.Duration `env:"HERALD_PING_INTERVAL" envDefault:"25s" help:"Engine.IO ping interval"`
	PingTimeout        time.Duration `env:"HERALD_PING_TIMEOUT" envDefault:"20s" help:"Engine.IO ping timeout"`
	MaxPayload         int           `env:"HERALD_MAX_PAYLOAD" envDefault:"1000000" help:"largest message or polling body, bytes"`
	ConnectTimeout     time.Duration `env:"HERALD_CONNECT_TIMEOUT" envDefault:"45s" help:"time a connection has to join a namespace"`
	CORSOrigins        []string      `env:"HERALD_CORS_ORIGINS" envSeparator:"," help:"origins allowed for cross-origin polling, comma-separated; * for any"`
	Transports         []string      `env:"HERALD_TRANSPORTS" envDefault:"websocket,polling" envSeparator:"," help:"enabled transports"`
	WriteQueue         int           `env:"HERALD_WRITE_QUEUE_BYTES" envDefault:"1048576" help:"per-socket queue of unsent bytes; overflow disconnects (slow consumer)"`
	EpollReads         bool          `env:"HERALD_EPOLL_READS" envDefault:"true" help:"read WebSockets from one epoll loop instead of a goroutine per connection (Linux; an idle connection costs ~3.5 KB instead of ~9.6); false: a gws read loop per connection"`
	WriteWorkers       int           `env:"HERALD_WRITE_WORKERS" envDefault:"0" help:"goroutines that write WebSocket backlogs, shared by all connections; 0: GOMAXPROCS"`
	WriteDelay         time.Duration `env:"HERALD_WRITE_DELAY" envDefault:"30ms" help:"least time between two writes to one WebSocket while the server is busy writing (see HERALD_WRITE_DELAY_ADAPTIVE); messages queued meanwhile go out in one write (less CPU, up to this much more latency); 0s: none"`
	WriteDelayAdaptive bool          `env:"HERALD_WRITE_DELAY_ADAPTIVE" envDefault:"true" help:"apply HERALD_WRITE_DELAY only while writing each message on its own would keep the write goroutines at least half busy, until that falls to a quarter (light load: every message at once); false: always"`
	ShutdownGrace      time.Duration `env:"HERALD_SHUTDOWN_GRACE" envDefault:"10s" help:"how long shutdown waits for clients to leave"`
	LogLevel           string        `env:"HERALD_LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	DebugAddr          string        `env:"HERALD_DEBUG_ADDR" help:"if set, serve Go's /debug/pprof/ on this address (keep it private, e.g. 127.0.0.1:6060)"`
	RedisURL           string        `env:"HERALD_REDIS_URL" help:"join a cluster over Redis: host:port or redis[s]://[user:pass@]host:port/db (REDIS_URL, or REDIS_HOST+REDIS_PORT, are accepted too); empty: a single node, nothing to install"`
	ClusterKey         string        `env:"HERALD_CLUSTER_KEY" envDefault:"socket.io" help:"bus channel prefix, the @socket.io/redis-adapter key"`
	JWTSecret          string        `env:"HERALD_JWT_SECRET" help:"HS256/384/512 secret for client JWTs (at least 32 bytes)"`
	JWTPublicKeyFile   string        `env:"HERALD_JWT_PUBLIC_KEY_FILE" help:"PEM public key file for RS*/PS*/ES*/EdDSA client JWTs"`
	JWKSURL            string        `env:"HERALD_JWT_JWKS_URL" help:"JWKS URL for client JWTs (refreshed in the background)"`
	JWTIssuer          string        `env:"HERALD_JWT_ISSUER" help:"required iss of client JWTs"`
	JWTAudience        string        `env:"HERALD_JWT_AUDIENCE" help:"required aud of client JWTs"`
	JWTUserClaim       string        `env:"HERALD_JWT_USER_CLAIM" envDefault:"sub" help:"claim holding the user id"`
	TokenCookie        string        `env:"HERALD_TOKEN_COOKIE" envDefault:"token" help:"cookie a JWT may come in"`
	SessionSecrets     []string      `env:"HERALD_SESSION_SECRET" envSeparator:"," help:"express-session secret(s), comma-separated, newest first; enables session auth (needs HERALD_REDIS_URL)"`
	SessionCookie      string        `env:"HERALD_SESSION_COOKIE" envDefault:"connect.sid" help:"express-session cookie name"`
	SessionPrefix      string        `env:"HERALD_SESSION_PREFIX" envDefault:"sess:" help:"connect-redis key prefix"`
	SessionUserPath    string        `env:"HERALD_SESSION_USER_PATH" envDefault:"passport.user" help:"dot path of the user id in the session"`
	ExpiryDisconnect   bool          `env:"HERALD_DISCONNECT_ON_TOKEN_EXPIRY" envDefault:"false" help:"disconnect a socket when its JWT expires (reason \"token expired\")"`
	AllowAnonymous     bool          `env:"HERALD_ALLOW_ANONYMOUS" envDefault:"true" help:"admit sockets without credentials (they join no audience room)"`
	UserRoomPrefix     string        `env:"HERALD_USER_ROOM_PREFIX" envDefault:"user:" help:"room prefix of a user's sockets"`
	AuthenticatedRoom  string        `env:"HERALD_AUTHENTICATED_ROOM" envDefault:"authenticated" help:"room of every authenticated socket"`
	APIKeys            []string      `env:"HERALD_API_KEYS" envSeparator:"," help:"bearer keys of the HTTP API for backends, comma-separated (several, to rotate); empty disables the API"`
	APIAddr            string        `env:"HERALD_API_ADDR" help:"if set, serve the HTTP API on this address only (e.g. an internal 127.0.0.1:3001); empty: under /api/v1/ on the main port"`
	jwtPublicKey       []byte        // read from JWTPublicKeyFile by loadSettings
	Bench              bool          `env:"HERALD_BENCH" envDefault:"false" help:"register the load-test namespace /bench (for herald-bench; off in production)"`
	Demo               bool          `env:"HERALD_DEMO" envDefault:"true" help:"serve the chat demo: the page at /, the /chat namespace and a demo login (not for production: set false)"`
	DemoSecret         string        `env:"HERALD_DEMO_SECRET" help:"secret of the demo login's tokens, the same on every node of a demo cluster (at least 32 bytes); empty: random per process"`
	demoKey            []byte        // the demo login's HS256 key, set by loadSettings when the demo login is on
}

// loadSettings reads the environment, then the flags in args, which override it.
// Errors name the variable (or flag) at fault.
func loadSettings(args []string, environ []string, out io.Writer) (settings, error) {
	var s settings
	params, err := env.GetFieldParams(&s)
	if err != nil {
		return s, err
	}
	vars := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if _, ok := vars["PORT"]; !ok {
		if v, ok := vars["NODE_PORT"]; ok {
			vars["PORT"] = v
		}
	}
	// The seed's names for Redis: REDIS_URL, or REDIS_HOST + REDIS_PORT.
	if _, ok := vars["HERALD_REDIS_URL"]; !ok {
		if v, ok := vars["REDIS_URL"]; ok {
			vars["HERALD_REDIS_URL"] = v
		} else if host, ok := vars["REDIS_HOST"]; ok {
			port := vars["REDIS_PORT"]
			if port == "" {
				port = "6379"
			}
			vars["HERALD_REDIS_URL"] = net.JoinHostPort(host, port)
		}
	}
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	fs.SetOutput(out)
	help := helpTexts()
	bools := boolSettings()
	for _, p := range params {
		name := flagName(p.Key)
		key := p.Key
		usage := fmt.Sprintf("%s (env %s, default %q)", help[key], key, p.DefaultValue)
		set := func(v string) error {
			vars[key] = v
			return nil
		}
		if bools[key] {
			fs.BoolFunc(name, usage, set) // -bench alone means true; -bench=false works too
		} else {
			fs.Func(name, usage, set)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: herald [flags]\n\nHerald serves Socket.IO (Engine.IO v4 + Socket.IO v5) and plain WebSocket clients.\n"+
			"Every setting is an environment variable; the flag of the same name overrides it.\n\n")
		for _, p := range params {
			def := p.DefaultValue
			if def == "" {
				def = "(empty)"
			}
			fmt.Fprintf(out, "  %-26s -%-18s default %-18s %s\n", p.Key, flagName(p.Key), def, help[p.Key])
		}
	}
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := env.ParseWithOptions(&s, env.Options{Environment: vars}); err != nil {
		return s, explain(err)
	}
	if s.JWTPublicKeyFile != "" {
		b, err := os.ReadFile(s.JWTPublicKeyFile)
		if err != nil {
			return s, fmt.Errorf("HERALD_JWT_PUBLIC_KEY_FILE: %w", err)
		}
		s.jwtPublicKey = b
	}
	if err := s.validate(); err != nil {
		return s, err
	}
	if s.Demo && s.identitySource() == "" {
		secret := []byte(s.DemoSecret)
		if len(secret) == 0 {
			secret = chat.NewDemoSecret()
		}
		s.demoKey = chat.DemoKey(secret)
	}
	return s, nil
}

// identitySource names the configured real source of identities (a JWT key or
// Express sessions), "" when there is none. With one, the demo login is off: it must
// never mint tokens for users that the real source vouches for.
func (s settings) identitySource() string {
	switch {
	case s.JWTSecret != "":
		return "HERALD_JWT_SECRET"
	case s.JWTPublicKeyFile != "":
		return "HERALD_JWT_PUBLIC_KEY_FILE"
	case s.JWKSURL != "":
		return "HERALD_JWT_JWKS_URL"
	case len(s.SessionSecrets) > 0:
		return "HERALD_SESSION_SECRET"
	}
	return ""
}

func flagName(key string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(key, "HERALD_")), "_", "-")
}

// helpTexts maps each variable to its help tag.
func helpTexts() map[string]string {
	out := make(map[string]string)
	t := reflectSettings()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		out[f.Tag.Get("env")] = f.Tag.Get("help")
	}
	return out
}

// boolSettings is the set of variables whose field is a bool.
func boolSettings() map[string]bool {
	out := make(map[string]bool)
	t := reflectSettings()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Type.Kind() == reflect.Bool {
			out[t.Field(i).Tag.Get("env")] = true
		}
	}
	return out
}

// explain rewrites env's errors, which name Go fields, to name the variables.
func explain(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	keys := make(map[string]string)
	t := reflectSettings()
	for i := 0; i < t.NumField(); i++ {
		keys[t.Field(i).Name] = t.Field(i).Tag.Get("env")
	}
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			msgs = append(msgs, fmt.Sprintf("%s: %v", keys[pe.Name], pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (s settings) validate() error {
	var errs []error
	check := func(ok bool, key, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
		}
	}
	check(s.Port > 0 && s.Port < 65536, "PORT", "must be 1-65535, got %d", s.Port)
	check(strings.HasPrefix(s.Path, "/"), "HERALD_PATH", "must start with /, got %q", s.Path)
	check(strings.HasPrefix(s.WSPath, "/") && s.WSPath != "/", "HERALD_WS_PATH", "must start with / and not be /, got %q", s.WSPath)
	check(s.PingInterval > 0, "HERALD_PING_INTERVAL", "must be positive, got %v", s.PingInterval)
	check(s.PingTimeout > 0, "HERALD_PING_TIMEOUT", "must be positive, got %v", s.PingTimeout)
	check(s.MaxPayload > 0, "HERALD_MAX_PAYLOAD", "must be positive, got %d", s.MaxPayload)
	check(s.ConnectTimeout > 0, "HERALD_CONNECT_TIMEOUT", "must be positive, got %v", s.ConnectTimeout)
	check(s.WriteQueue > 0, "HERALD_WRITE_QUEUE_BYTES", "must be positive, got %d", s.WriteQueue)
	check(s.WriteWorkers >= 0, "HERALD_WRITE_WORKERS", "must not be negative, got %d", s.WriteWorkers)
	check(s.WriteDelay >= 0 && s.WriteDelay <= time.Second, "HERALD_WRITE_DELAY", "must be between 0 and 1s, got %v", s.WriteDelay)
	check(s.ShutdownGrace >= 0, "HERALD_SHUTDOWN_GRACE", "must not be negative, got %v", s.ShutdownGrace)
	check(s.ClusterKey != "" && !strings.ContainsAny(s.ClusterKey, "#*?[] "), "HERALD_CLUSTER_KEY", "must be non-empty without # * ? [ ] or spaces, got %q", s.ClusterKey)
	keySources := []string{}
	for key, set := range map[string]bool{"HERALD_JWT_SECRET": s.JWTSecret != "", "HERALD_JWT_PUBLIC_KEY_FILE": s.JWTPublicKeyFile != "", "HERALD_JWT_JWKS_URL": s.JWKSURL != ""} {
		if set {
			keySources = append(keySources, key)
		}
	}
	slices.Sort(keySources)
	check(len(keySources) <= 1, strings.Join(keySources, ", "), "set only one JWT key source")
	check(s.JWTSecret == "" || len(s.JWTSecret) >= 32, "HERALD_JWT_SECRET", "must be at least 32 bytes")
	check(len(s.SessionSecrets) == 0 || s.RedisURL != "", "HERALD_SESSION_SECRET", "sessions are read from Redis: set HERALD_REDIS_URL too")
	check(s.AllowAnonymous || len(keySources) > 0 || len(s.SessionSecrets) > 0, "HERALD_ALLOW_ANONYMOUS", "false needs a JWT key source or HERALD_SESSION_SECRET")
	check(len(s.Transports) > 0, "HERALD_TRANSPORTS", "must name at least one transport")
	for _, t := range s.Transports {
		check(t == engineio.TransportWebSocket || t == engineio.TransportPolling, "HERALD_TRANSPORTS", "unknown transport %q (want websocket, polling)", t)
	}
	for i, k := range s.APIKeys {
		// Never echo a key: name it by position.
		check(strings.TrimSpace(k) != "", "HERALD_API_KEYS", "key %d of %d is empty", i+1, len(s.APIKeys))
	}
	check(s.APIAddr == "" || len(s.APIKeys) > 0, "HERALD_API_ADDR", "the API is disabled without keys: set HERALD_API_KEYS too")
	if s.APIAddr != "" {
		_, _, err := net.SplitHostPort(s.APIAddr)
		check(err == nil, "HERALD_API_ADDR", "want host:port, got %q", s.APIAddr)
	}
	if s.DemoSecret != "" {
		check(len(s.DemoSecret) >= 32, "HERALD_DEMO_SECRET", "must be at least 32 bytes (e.g. openssl rand -hex 16)")
		check(s.Demo, "HERALD_DEMO_SECRET", "the demo is off (HERALD_DEMO=false): unset it")
		src := s.identitySource()
		check(src == "", "HERALD_DEMO_SECRET", "unused: the demo login is off when %s is set", src)
	}
	var lvl slog.Level
	check(lvl.UnmarshalText([]byte(s.LogLevel)) == nil, "HERALD_LOG_LEVEL", "unknown level %q (want debug, info, warn, error)", s.LogLevel)
	return errors.Join(errs...)
}

// config turns settings into the library's Config.
func (s settings) config(log *slog.Logger) herald.Config {
	return herald.Config{
		Addr:             fmt.Sprintf("%s:%d", s.Host, s.Port),
		Path:             s.Path,
		PlainWSPath:      s.WSPath,
		PlainWSNamespace: s.WSNamespace,
		Engine: engineio.Config{
			PingInterval:       s.PingInterval,
			PingTimeout:        s.PingTimeout,
			MaxPayload:         s.MaxPayload,
			Transports:         s.Transports,
			AllowedOrigins:     s.CORSOrigins,
			WriteQueueBytes:    s.WriteQueue,
			WriteDelay:         s.WriteDelay,
			AdaptiveWriteDelay: s.WriteDelayAdaptive,
			WriteWorkers:       s.WriteWorkers,
			EpollReads:         s.EpollReads,
		},
		ConnectTimeout: s.ConnectTimeout,
		ShutdownGrace:  s.ShutdownGrace,
		RedisURL:       s.RedisURL,
		ClusterKey:     s.ClusterKey,
		Auth: auth.Config{
			JWT: auth.JWTConfig{
				Secret: s.jwtSecret(), PublicKeyPEM: s.jwtPublicKey, JWKSURL: s.JWKSURL,
				Issuer: s.JWTIssuer, Audience: s.JWTAudience, UserClaim: s.JWTUserClaim,
			},
			TokenCookie: s.TokenCookie, UserRoomPrefix: s.UserRoomPrefix, AuthenticatedRoom: s.AuthenticatedRoom,
			DisconnectOnExpiry: s.ExpiryDisconnect,
		},
		Session:     s.session(),
		RequireAuth: !s.AllowAnonymous,
		APIKeys:     s.apiKeys(),
		APIAddr:     s.APIAddr,
		Logger:      log,
	}
}

// jwtSecret is the HS256 secret the node verifies tokens with: HERALD_JWT_SECRET, or
// the demo key when the demo login is on (there is no real source then).
func (s settings) jwtSecret() []byte {
	if s.demoKey != nil {
		return s.demoKey
	}
	return []byte(s.JWTSecret)
}

// apiKeys returns the API keys with surrounding spaces trimmed ("a, b" is two keys).
func (s settings) apiKeys() []string {
	var out []string
	for _, k := range s.APIKeys {
		out = append(out, strings.TrimSpace(k))
	}
	return out
}

// session returns the Express session settings, or nil when sessions are off.
func (s settings) session() *auth.SessionConfig {
	if len(s.SessionSecrets) == 0 {
		return nil
	}
	return &auth.SessionConfig{CookieName: s.SessionCookie, Secrets: s.SessionSecrets, Prefix: s.SessionPrefix, UserPath: s.SessionUserPath}
}

func (s settings) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(s.LogLevel))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
