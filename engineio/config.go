package engineio

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Defaults, matching Node's engine.io 6.x where it has the same setting.
const (
	DefaultPingInterval    = 25 * time.Second
	DefaultPingTimeout     = 20 * time.Second
	DefaultUpgradeTimeout  = 10 * time.Second
	DefaultMaxPayload      = 1_000_000
	DefaultWriteQueueBytes = 1 << 20
	DefaultWriteTimeout    = 10 * time.Second
	DefaultReadBufferSize  = 512
	// minTimer is the floor for every duration setting: a smaller value would turn the
	// heartbeat into a busy loop.
	minTimer = time.Millisecond
)

// Transport names as they appear in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Config configures a Server. The zero value is usable: every zero field takes the
// default named in its doc. New copies the Config; it never writes into the caller's.
type Config struct {
	// PingInterval is how often the server pings each session. Zero means 25s
	// (engine.io pingInterval).
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong before closing the session
	// with "ping timeout". Zero means 20s (engine.io pingTimeout).
	PingTimeout time.Duration
	// UpgradeTimeout bounds the polling→websocket upgrade: a probing WebSocket that has
	// not sent the upgrade packet by then is closed. Zero means 10s.
	UpgradeTimeout time.Duration
	// MaxPayload is the largest message or polling POST body accepted, in bytes
	// (engine.io maxHttpBufferSize). Larger input closes the session. Zero means 1 MB.
	MaxPayload int
	// Transports lists the enabled transports, from TransportPolling and
	// TransportWebSocket. Empty means both.
	Transports []string
	// AllowedOrigins lists the origins allowed to make cross-origin polling requests
	// (CORS with credentials). "*" allows any origin. Empty means no CORS headers, so
	// browsers allow only same-origin polling. WebSocket upgrades are not restricted.
	AllowedOrigins []string
	// AllowRequest, when set, is called for every handshake; an error refuses it with
	// 403 and engine.io's "Forbidden" error code.
	AllowRequest func(r *http.Request) error
	// WriteQueueBytes bounds each session's queue of unsent bytes. A session whose
	// queue would grow beyond it is closed with ReasonSlowConsumer; one frame is
	// always accepted into an empty queue. Zero means 1 MiB.
	WriteQueueBytes int
	// WriteTimeout bounds one write to a WebSocket. A peer that accepts nothing for this
	// long is closed with ReasonTransportError. Zero means 10s.
	WriteTimeout time.Duration
	// WriteWorkers is the number of goroutines, shared by all WebSocket sessions, that
	// write queued frames: each takes a session with a backlog, writes the whole backlog
	// in one non-blocking writev and moves on; a session whose socket is full gets a
	// goroutine of its own until it drains. Zero means GOMAXPROCS. Connections that do
	// not expose their file descriptor (syscall.Conn: TLS, in-memory) and platforms
	// other than Linux use a goroutine per flushing session instead.
	WriteWorkers int
	// WriteDelay is the least time between two rounds of the write pool, so the least
	// time between two writes to one WebSocket: frames queued meanwhile go out together
	// in one write. A larger delay spends less CPU per message at high message rates
	// (fewer system calls for the server and the clients) and adds up to the delay to
	// each message's latency; a message that finds no round begun within the last
	// WriteDelay goes out at once, and a broadcast's sockets go out in the same round.
	// Zero means no delay: rounds follow one another, and frames gather only while the
	// server is busy writing.
	WriteDelay time.Duration
	// AdaptiveWriteDelay applies WriteDelay only while the server is busy writing: from
	// when writing every queued frame on its own would keep the write goroutines busy
	// at least half the time, until that estimate falls to a quarter (measured over
	// windows of 100 ms or more from the frames queued and the time a write takes). A
	// lightly loaded server then sends each message at once, and a busy one writes
	// each WebSocket at most once per WriteDelay.
	AdaptiveWriteDelay bool
	// EpollReads reads WebSocket sessions from one shared epoll loop (Linux) instead of
	// a goroutine per connection: an idle connection then holds no goroutine stack
	// and no read buffer (a readable socket gets a goroutine and a pooled 16 KB buffer
	// until it has nothing more to read); sessions upgraded from polling move onto it
	// too. Connections without a file descriptor (TLS), a client that sends before the
	// upgrade is answered, and other platforms keep gws's read loop.
	EpollReads bool
	// ReadBufferSize is the read buffer per WebSocket connection, in bytes; it is the
	// largest part of an idle connection's memory. Zero means 512.
	ReadBufferSize int
	// Logger receives lifecycle and misbehaviour logs. Nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	c.PingInterval = durationOr(c.PingInterval, DefaultPingInterval)
	c.PingTimeout = durationOr(c.PingTimeout, DefaultPingTimeout)
	c.UpgradeTimeout = durationOr(c.UpgradeTimeout, DefaultUpgradeTimeout)
	c.WriteTimeout = durationOr(c.WriteTimeout, DefaultWriteTimeout)
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxPayload < 0 {
		return c, fmt.Errorf("engineio: MaxPayload must be positive, got %d", c.MaxPayload)
	}
	if c.WriteQueueBytes == 0 {
		c.WriteQueueBytes = DefaultWriteQueueBytes
	}
	if c.WriteQueueBytes < 0 {
		return c, fmt.Errorf("engineio: WriteQueueBytes must be positive, got %d", c.WriteQueueBytes)
	}
	if c.WriteDelay < 0 {
		return c, fmt.Errorf("engineio: WriteDelay must not be negative, got %s", c.WriteDelay)
	}
	if c.WriteWorkers < 0 {
		return c, fmt.Errorf("engineio: WriteWorkers must not be negative, got %d", c.WriteWorkers)
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	} else {
		c.Transports = slices.Clone(c.Transports)
	}
	for _, t := range c.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return c, fmt.Errorf("engineio: unknown transport %q (want polling or websocket)", t)
		}
	}
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// durationOr returns d, or def when d is zero; positive values below the floor are
// raised to it, and negative ones are an error caught by the callers' config checks.
func durationOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < minTimer:
		return minTimer
	}
	return d
}

func (c *Config) allows(transport string) bool { return slices.Contains(c.Transports, transport) }

// ErrServerClosed is returned for work attempted after Shutdown or Close.
var ErrServerClosed = errors.New("engineio: server closed")
