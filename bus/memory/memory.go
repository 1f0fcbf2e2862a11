// Package memory is an in-process bus: several nodes in one process (tests, examples)
// share a Hub. Delivery is asynchronous and bounded like a network bus: each
// subscriber has a queue of QueueSize messages, and a message that finds it full is
// dropped and counted.
package memory

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/bus"
)

// QueueSize is each bus's queue of undelivered messages.
const QueueSize = 4096

// ErrClosed is returned by a closed bus.
var ErrClosed = errors.New("memory: bus closed")

// Hub connects the buses created from it.
type Hub struct {
	mu      sync.RWMutex // guards subs and members
	subs    map[string][]*Bus
	members map[string]map[string]member
}

type member struct {
	info    []byte
	expires time.Time
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[string][]*Bus), members: make(map[string]map[string]member)}
}

// NewBus returns a bus on the hub that delivers to h. Close it when done.
func (hub *Hub) NewBus(h bus.Handler) *Bus {
	b := &Bus{hub: hub, handler: h, queue: make(chan bus.Message, QueueSize), done: make(chan struct{})}
	go b.run()
	return b
}

// Bus is one node's connection to a Hub.
type Bus struct {
	hub      *Hub
	handler  bus.Handler
	queue    chan bus.Message
	done     chan struct{}
	closed   atomic.Bool
	closeMu  sync.Mutex // serialises Close with deliveries that might send on queue
	dropped  atomic.Int64
	channels sync.Map // channel → struct{}, this bus's subscriptions
}

var (
	_ bus.Bus      = (*Bus)(nil)
	_ bus.Registry = (*Bus)(nil)
)

// Register adds or renews id in set until ttl from now.
func (b *Bus) Register(_ context.Context, set, id string, info []byte, ttl time.Duration) error {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if b.hub.members[set] == nil {
		b.hub.members[set] = make(map[string]member)
	}
	b.hub.members[set][id] = member{info: slices.Clone(info), expires: time.Now().Add(ttl)}
	return nil
}

// Deregister removes id from set.
func (b *Bus) Deregister(_ context.Context, set, id string) error {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	delete(b.hub.members[set], id)
	return nil
}

// Members returns the unexpired entries of set.
func (b *Bus) Members(_ context.Context, set string) (map[string][]byte, error) {
	b.hub.mu.RLock()
	defer b.hub.mu.RUnlock()
	out := make(map[string][]byte)
	now := time.Now()
	for id, m := range b.hub.members[set] {
		if m.expires.After(now) {
			out[id] = m.info
		}
	}
	return out, nil
}

func (b *Bus) run() {
	defer close(b.done)
	for m := range b.queue {
		b.handler(m)
	}
}

// Dropped returns how many messages were dropped because the queue was full.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

// Publish delivers payload to every bus subscribed to channel.
func (b *Bus) Publish(_ context.Context, channel string, payload []byte) error {
	if b.closed.Load() {
		return ErrClosed
	}
	b.hub.mu.RLock()
	subs := b.hub.subs[channel]
	b.hub.mu.RUnlock()
	for _, s := range subs {
		s.deliver(bus.Message{Channel: channel, Payload: payload})
	}
	return nil
}

func (b *Bus) deliver(m bus.Message) {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed.Load() {
		return
	}
	select {
	case b.queue <- m:
	default:
		b.dropped.Add(1)
	}
}

// NumSub returns the number of buses subscribed to channel (PUBSUB NUMSUB).
func (b *Bus) NumSub(_ context.Context, channel string) (int64, error) {
	b.hub.mu.RLock()
	defer b.hub.mu.RUnlock()
	return int64(len(b.hub.subs[channel])), nil
}

// Subscribe adds channels; it is applied at once.
func (b *Bus) Subscribe(channels ...string) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, c := range channels {
		if _, dup := b.channels.LoadOrStore(c, struct{}{}); !dup {
			b.hub.subs[c] = append(slices.Clip(b.hub.subs[c]), b)
		}
	}
}

// Unsubscribe removes channels; it is applied at once.
func (b *Bus) Unsubscribe(channels ...string) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, c := range channels {
		if _, ok := b.channels.LoadAndDelete(c); ok {
			b.hub.subs[c] = slices.DeleteFunc(slices.Clone(b.hub.subs[c]), func(x *Bus) bool { return x == b })
			if len(b.hub.subs[c]) == 0 {
				delete(b.hub.subs, c)
			}
		}
	}
}

// Sync returns at once: subscriptions apply synchronously.
func (b *Bus) Sync(context.Context) error { return nil }

// Close unsubscribes everything and waits for the delivery goroutine.
func (b *Bus) Close() error {
	var all []string
	b.channels.Range(func(k, _ any) bool {
		all = append(all, k.(string))
		return true
	})
	b.Unsubscribe(all...)
	b.closeMu.Lock()
	if !b.closed.Swap(true) {
		close(b.queue)
	}
	b.closeMu.Unlock()
	<-b.done
	return nil
}
