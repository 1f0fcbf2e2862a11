// Package redis is the Redis bus: Redis pub/sub through github.com/redis/rueidis, which
// pipelines concurrent publishes automatically. Subscriptions live on one dedicated
// connection that a manager goroutine owns: it applies subscription changes in batches
// and, when the connection breaks, reconnects with backoff and subscribes to the whole
// wanted set again. Pub/sub is at most once: messages published while the subscription
// connection is down are lost (Reconnects counts the gaps).
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/redis/rueidis"
)

// Defaults.
const (
	DefaultDialTimeout = 5 * time.Second
	// batchSize bounds the channels of one SUBSCRIBE or UNSUBSCRIBE command.
	batchSize  = 512
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// DefaultProbeInterval is how long the subscription connection may stay silent before
// the bus checks it with a probe.
const DefaultProbeInterval = 5 * time.Second

// Config configures a Bus.
type Config struct {
	// URL is the Redis address: "host:port", or a redis:// or rediss:// URL
	// (redis://[user:pass@]host:port/db). Required.
	URL string
	// ProbeInterval: when the subscription connection has received nothing for this
	// long, the bus publishes a probe to a channel of its own; if the probe does not
	// come back within another ProbeInterval, the connection is considered dead (a
	// failover can leave a connection open that no longer receives) and is replaced.
	// Zero means 5s; negative turns probing off.
	ProbeInterval time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Bus is a bus.Bus on Redis pub/sub.
type Bus struct {
	client  rueidis.Client
	handler bus.Handler
	log     *slog.Logger
	probe   string        // this bus's probe channel
	every   time.Duration // probe interval; 0: off

	lastRecv atomic.Int64 // unix nanos of the last message on the subscription connection
	probeAck chan struct{}
	probes   sync.WaitGroup // probe publishes in flight

	mu        sync.Mutex // guards the fields below
	want      map[string]bool
	pending   map[string]bool // channel → subscribe (true) or unsubscribe (false), not yet applied
	gen       uint64          // counts changes to want
	applied   uint64          // the gen the subscription connection reflects
	appliedCh chan struct{}   // closed when applied advances

	kick       chan struct{}
	closing    chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	reconnects atomic.Int64
}

var _ bus.Bus = (*Bus)(nil)

// New connects to Redis and starts the subscription manager. Messages go to h.
func New(cfg Config, h bus.Handler) (*Bus, error) {
	if cfg.URL == "" {
		return nil, errors.New("redis: Config.URL is required")
	}
	opt, err := clientOption(cfg.URL)
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis: connecting to %s: %w", cfg.URL, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	b := &Bus{
		client: client, handler: h, log: cfg.Logger,
		probe: "herald-probe#" + randomID() + "#", every: max(cfg.ProbeInterval, 0), probeAck: make(chan struct{}, 1),
		want: make(map[string]bool), pending: make(map[string]bool), appliedCh: make(chan struct{}),
		kick: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b, nil
}

func clientOption(u string) (rueidis.ClientOption, error) {
	if strings.Contains(u, "://") {
		opt, err := rueidis.ParseURL(u)
		if err != nil {
			return opt, fmt.Errorf("redis: bad URL %q: %w", u, err)
		}
		return opt, nil
	}
	return rueidis.ClientOption{InitAddress: []string{u}, Dialer: netDialer()}, nil
}

// Client returns the underlying rueidis client, for commands other than pub/sub.
func (b *Bus) Client() rueidis.Client { return b.client }

// Reconnects returns how many times the subscription connection was re-established
// after a failure; each one may have lost messages.
func (b *Bus) Reconnects() int64 { return b.reconnects.Load() }

// Publish sends payload on channel. Concurrent calls are pipelined.
func (b *Bus) Publish(ctx context.Context, channel string, payload []byte) error {
	cmd := b.client.B().Publish().Channel(channel).Message(rueidis.BinaryString(payload)).Build()
	return b.client.Do(ctx, cmd).Error()
}

// PublishBatch sends msgs in one pipelined round trip, in order.
func (b *Bus) PublishBatch(ctx context.Context, msgs []bus.Message) error {
	cmds := make(rueidis.Commands, 0, len(msgs))
	for _, m := range msgs {
		cmds = append(cmds, b.client.B().Publish().Channel(m.Channel).Message(rueidis.BinaryString(m.Payload)).Build())
	}
	var errs []error
	for _, r := range b.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ bus.Batcher = (*Bus)(nil)

// NumSub returns the number of subscribers of channel (PUBSUB NUMSUB).
func (b *Bus) NumSub(ctx context.Context, channel string) (int64, error) {
	m, err := b.client.Do(ctx, b.client.B().PubsubNumsub().Channel(channel).Build()).AsIntMap()
	if err != nil {
		return 0, err
	}
	return m[channel], nil
}

// Subscribe adds channels to the wanted set.
func (b *Bus) Subscribe(channels ...string) { b.change(channels, true) }

// Unsubscribe removes channels from the wanted set.
func (b *Bus) Unsubscribe(channels ...string) { b.change(channels, false) }

func (b *Bus) change(channels []string, sub bool) {
	b.mu.Lock()
	changed := false
	for _, c := range channels {
		if b.want[c] == sub {
			continue
		}
		if sub {
			b.want[c] = true
		} else {
			delete(b.want, c)
		}
		b.pending[c] = sub
		changed = true
	}
	if changed {
		b.gen++
	}
	b.mu.Unlock()
	if changed {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// Sync waits until the subscription connection reflects every change made before it.
func (b *Bus) Sync(ctx context.Context) error {
	b.mu.Lock()
	target := b.gen
	b.mu.Unlock()
	for {
		b.mu.Lock()
		if b.applied >= target {
			b.mu.Unlock()
			return nil
		}
		ch := b.appliedCh
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return errors.New("redis: bus closed")
		}
	}
}

// Close stops the manager, closes the connections and waits.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() { close(b.closing) })
	<-b.done
	b.probes.Wait()
	b.client.Close()
	return nil
}

func (b *Bus) markApplied(gen uint64) {
	b.mu.Lock()
	if gen > b.applied {
		b.applied = gen
		close(b.appliedCh)
		b.appliedCh = make(chan struct{})
	}
	b.mu.Unlock()
}

// run owns the subscription connection.
func (b *Bus) run() {
	defer close(b.done)
	backoff := minBackoff
	for first := true; ; first = false {
		if !first {
			b.reconnects.Add(1)
			select {
			case <-b.closing:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
		}
		// The subscription connection is closed, never handed back to rueidis's pool:
		// releasing it would first unsubscribe over it, which hangs on a dead link.
		c, _ := b.client.Dedicate()
		wait := c.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: b.onMessage})
		b.mu.Lock()
		all := make([]string, 0, len(b.want)+1)
		for ch := range b.want {
			all = append(all, ch)
		}
		if b.every > 0 {
			all = append(all, b.probe)
		}
		clear(b.pending)
		gen := b.gen
		b.mu.Unlock()
		if err := b.do(c, "SUBSCRIBE", all); err != nil {
			b.log.Warn("redis: subscribing failed, retrying", "err", err.Error(), "backoff", backoff.String())
			c.Close()
			continue
		}
		b.markApplied(gen)
		if !first {
			b.log.Info("redis: subscription connection restored", "channels", len(all))
		}
		backoff = minBackoff
		alive := b.serve(c, wait)
		c.Close()
		if !alive {
			return
		}
	}
}

// serve applies subscription changes until the connection breaks (false: closing).
func (b *Bus) serve(c rueidis.DedicatedClient, wait <-chan error) bool {
	b.lastRecv.Store(time.Now().UnixNano())
	var tick <-chan time.Time
	if b.every > 0 {
		t := time.NewTicker(b.every)
		defer t.Stop()
		tick = t.C
	}
	var probeSent time.Time // zero: no probe outstanding
	for {
		select {
		case <-b.closing:
			return false
		case <-b.probeAck:
			probeSent = time.Time{}
		case now := <-tick:
			switch {
			case !probeSent.IsZero() && now.Sub(probeSent) >= b.every:
				b.log.Warn("redis: subscription connection silent, probe lost; reconnecting", "silent", now.Sub(time.Unix(0, b.lastRecv.Load())).String())
				return true
			case probeSent.IsZero() && now.Sub(time.Unix(0, b.lastRecv.Load())) >= b.every:
				probeSent = now
				b.probes.Add(1)
				go func() { // through the command connection; never block this loop
					defer b.probes.Done()
					ctx, cancel := context.WithTimeout(context.Background(), b.every)
					defer cancel()
					_ = b.Publish(ctx, b.probe, nil)
				}()
			}
		case err := <-wait:
			b.log.Warn("redis: subscription connection lost, resubscribing", "err", fmt.Sprint(err))
			return true
		case <-b.kick:
			b.mu.Lock()
			var subs, unsubs []string
			for ch, sub := range b.pending {
				if sub {
					subs = append(subs, ch)
				} else {
					unsubs = append(unsubs, ch)
				}
			}
			clear(b.pending)
			gen := b.gen
			b.mu.Unlock()
			if b.do(c, "SUBSCRIBE", subs) != nil || b.do(c, "UNSUBSCRIBE", unsubs) != nil {
				b.log.Warn("redis: subscription change failed, reconnecting")
				return true
			}
			b.markApplied(gen)
		}
	}
}

// do sends SUBSCRIBE or UNSUBSCRIBE for channels in batches.
func (b *Bus) do(c rueidis.DedicatedClient, verb string, channels []string) error {
	slices.Sort(channels)
	for len(channels) > 0 {
		n := min(len(channels), batchSize)
		var cmd rueidis.Completed
		if verb == "SUBSCRIBE" {
			cmd = c.B().Subscribe().Channel(channels[:n]...).Build()
		} else {
			cmd = c.B().Unsubscribe().Channel(channels[:n]...).Build()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Do(ctx, cmd).Error()
		cancel()
		if err != nil {
			return err
		}
		channels = channels[n:]
	}
	return nil
}

func (b *Bus) onMessage(m rueidis.PubSubMessage) {
	b.lastRecv.Store(time.Now().UnixNano())
	if m.Channel == b.probe {
		select {
		case b.probeAck <- struct{}{}:
		default:
		}
		return
	}
	b.handler(bus.Message{Channel: m.Channel, Payload: []byte(m.Message)})
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
