// Package bus defines the wire between Herald nodes: publish/subscribe of opaque
// payloads on named channels, with at-most-once delivery, as Redis pub/sub and core
// NATS provide. Implementations: bus/memory (nodes in one process), bus/redis.
// Package cluster decides what travels on it.
package bus

import (
	"context"
	"time"
)

// Message is one payload received on a channel.
type Message struct {
	Channel string
	Payload []byte
}

// Handler receives messages. A bus calls it from its read goroutine, one message at a
// time, so it must not block: hand the message to a worker and return.
type Handler func(Message)

// Bus is a publish/subscribe connection. Its methods are safe for concurrent use.
type Bus interface {
	// Publish sends payload to every subscriber of channel, this node's included.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe and Unsubscribe change the set of channels whose messages reach the
	// Handler. They do not wait for the network: the bus applies the change in the
	// background and re-applies the whole set after a reconnect. Sync waits until
	// every change made before it has been applied.
	Subscribe(channels ...string)
	Unsubscribe(channels ...string)
	Sync(ctx context.Context) error
	// Close stops the bus and waits for its goroutines.
	Close() error
}

// Batcher is implemented by buses that can send several messages in one round trip,
// in order (Redis pipelining). A publisher with a backlog uses it instead of one
// Publish per message, which would cap a busy channel at one message per round trip.
type Batcher interface {
	PublishBatch(ctx context.Context, msgs []Message) error
}

// Registry is implemented by buses that can keep the list of live nodes: each node
// registers itself with a time to live and renews it; a node that stops renewing
// (killed, partitioned) drops out when its TTL runs out. Lists are named by set so
// several clusters can share one bus.
type Registry interface {
	// Register adds or renews id in set for ttl, with info (opaque to the bus).
	Register(ctx context.Context, set, id string, info []byte, ttl time.Duration) error
	// Deregister removes id from set at once.
	Deregister(ctx context.Context, set, id string) error
	// Members returns the live entries of set: id → info.
	Members(ctx context.Context, set string) (map[string][]byte, error)
}
