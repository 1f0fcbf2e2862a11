// Package cluster joins Herald nodes, and Node.js socket.io servers that use
// @socket.io/redis-adapter 8 (classic pub/sub), into one cluster over a bus.
//
// An Adapter implements socketio.Adapter. A broadcast made on this node is delivered
// locally, then published once in the redis-adapter wire format (package bus/redis);
// a broadcast from another node, or from @socket.io/redis-emitter, is delivered to the
// local sockets through the same encode-once path.
//
// Interest routing: the adapter subscribes to a room's channel (key#nsp#room#) only
// while this node holds a member of that room, and to the namespace channel (key#nsp#)
// for namespace-wide traffic; it never PSUBSCRIBEs. A broadcast to one room that no
// local socket belongs to costs this node nothing. Node servers in the same cluster
// keep their pattern subscriptions and see everything, as before.
//
// Concurrency: the bus hands every message to the adapter's read handler, which never
// blocks: it queues the message to a worker chosen by a hash of the channel, so
// messages of one room keep their order; a full worker queue drops the message and
// counts it (Stats). Publishing goes through bounded queues too, one per publisher
// goroutine, chosen by channel, so a broadcaster never waits on the network.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/redis/wire"
	"github.com/heraldhq/herald/internal/base64id"
	"github.com/heraldhq/herald/socketio"
)

// Defaults.
const (
	DefaultWorkers        = 4
	DefaultQueueSize      = 4096
	DefaultRequestTimeout = 5 * time.Second
	publishTimeout        = 5 * time.Second
)

// Config configures an Adapter. The zero value is usable.
type Config struct {
	// Key is the channel prefix (the redis-adapter's "key" option). Empty means
	// "socket.io".
	Key string
	// UID identifies this node on the bus; it must be unique in the cluster. Empty
	// means a random one.
	UID string
	// Workers is the number of goroutines handling incoming messages, and of
	// publishers. Zero means 4.
	Workers int
	// QueueSize bounds each worker's and each publisher's queue. Zero means 4096.
	QueueSize int
	// RequestTimeout bounds cluster requests. Zero means 5s.
	RequestTimeout time.Duration
	// Address is what this node advertises in the membership list (e.g. its
	// host:port). Optional.
	Address string
	// HeartbeatInterval and HeartbeatTTL set how often this node renews its entry in
	// the membership list and how long the entry outlives the last renewal. Zero means
	// 2s and 3s. Used when the bus keeps a registry (bus.Registry).
	HeartbeatInterval, HeartbeatTTL time.Duration
	// Limits bound what the wire decoders accept.
	Limits wire.Limits
	// Logger; nil discards.
	Logger *slog.Logger
}

// Stats are an adapter's counters.
type Stats struct {
	Received       int64 // messages taken from the bus
	DroppedIn      int64 // incoming messages dropped because a worker queue was full
	DroppedOut     int64 // broadcasts not published because a publisher queue was full
	PublishErrors  int64 // publishes the bus refused
	DecodeErrors   int64 // malformed messages
	SkippedNoRoom  int64 // room broadcasts dropped undecoded: no local member
	Delivered      int64 // broadcasts from other nodes delivered locally
	RequestsServed int64 // requests from other nodes answered or applied
}

// Adapter connects one socketio.Server to the cluster.
type Adapter struct {
	cfg Config
	io  *socketio.Server
	bus bus.Bus
	uid string
	log *slog.Logger

	in     []chan bus.Message
	out    []chan outgoing
	outMu  sync.RWMutex   // enqueue holds it to send on out, Close to close out
	workWG sync.WaitGroup // the workers
	pubWG  sync.WaitGroup // the publishers
	hbWG   sync.WaitGroup // the heartbeat

	mu         sync.Mutex // guards namespaces
	namespaces map[string]wire.Channels

	reqMu    sync.Mutex // guards requests
	requests map[string]*pendingRequest

	sseMu sync.RWMutex // guards sse
	sse   map[string]ServerSideEmitHandler

	started    time.Time
	stop       chan struct{} // closed by Close: stops the heartbeat
	warnedBeat atomic.Bool

	closed atomic.Bool
	stats  struct {
		received, droppedIn, droppedOut, publishErrors, decodeErrors, skipped, delivered, served atomic.Int64
	}
	warnedIn, warnedOut atomic.Bool
}

type outgoing struct {
	channel string
	payload []byte
}

// NewBus creates the bus an Adapter uses, given the handler for incoming messages
// (e.g. a func calling redis.New(cfg, h) or hub.NewBus(h)).
type NewBus func(bus.Handler) (bus.Bus, error)

var _ socketio.Adapter = (*Adapter)(nil)

// New creates an adapter, connects its bus and installs it on io. Call it before io
// takes connections.
func New(io *socketio.Server, newBus NewBus, cfg Config) (*Adapter, error) {
	if cfg.Key == "" {
		cfg.Key = wire.DefaultKey
	}
	if cfg.UID == "" {
		cfg.UID = base64id.New()[:12]
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if cfg.HeartbeatTTL <= cfg.HeartbeatInterval {
		return nil, errors.New("cluster: HeartbeatTTL must be longer than HeartbeatInterval")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{cfg: cfg, io: io, uid: cfg.UID, log: cfg.Logger.With("node", cfg.UID), namespaces: make(map[string]wire.Channels),
		started: time.Now(), stop: make(chan struct{})}
	a.in = make([]chan bus.Message, cfg.Workers)
	a.out = make([]chan outgoing, cfg.Workers)
	for i := range a.in {
		a.in[i] = make(chan bus.Message, cfg.QueueSize)
		a.out[i] = make(chan outgoing, cfg.QueueSize)
	}
	b, err := newBus(a.onMessage)
	if err != nil {
		return nil, err
	}
	a.bus = b
	for i := range a.in {
		a.workWG.Add(1)
		a.pubWG.Add(1)
		go a.work(a.in[i])
		go a.publish(a.out[i])
	}
	io.SetAdapter(a)
	for _, n := range io.Namespaces() {
		a.channels(n.Name())
	}
	if reg, ok := b.(bus.Registry); ok {
		a.hbWG.Add(1)
		go a.heartbeat(reg)
	}
	return a, nil
}

// UID returns this node's id on the bus.
func (a *Adapter) UID() string { return a.uid }

// Bus returns the adapter's bus.
func (a *Adapter) Bus() bus.Bus { return a.bus }

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{
		Received: a.stats.received.Load(), DroppedIn: a.stats.droppedIn.Load(), DroppedOut: a.stats.droppedOut.Load(),
		PublishErrors: a.stats.publishErrors.Load(), DecodeErrors: a.stats.decodeErrors.Load(),
		SkippedNoRoom: a.stats.skipped.Load(), Delivered: a.stats.delivered.Load(), RequestsServed: a.stats.served.Load(),
	}
}

// Sync waits until the bus reflects every subscription change made so far.
func (a *Adapter) Sync(ctx context.Context) error { return a.bus.Sync(ctx) }

// Close detaches from the bus: it stops publishing (what is queued is sent first),
// closes the bus, then lets the workers finish what they had received. Broadcasts and
// answers made from then on are dropped.
func (a *Adapter) Close() error {
	a.outMu.Lock()
	already := a.closed.Swap(true)
	if !already {
		for _, q := range a.out {
			close(q)
		}
	}
	a.outMu.Unlock()
	if already {
		return nil
	}
	close(a.stop)
	a.hbWG.Wait()  // the heartbeat deregisters through the bus, so before closing it
	a.pubWG.Wait() // the queued messages are out
	err := a.bus.Close()
	for _, q := range a.in { // the bus calls onMessage no more
		close(q)
	}
	a.workWG.Wait()
	return err
}

// channels returns the namespace's channels, subscribing to its namespace-wide,
// request and response channels the first time. A node that subscribes to the request
// channel is counted by Node peers (PUBSUB NUMSUB), so it answers every request.
func (a *Adapter) channels(nsp string) wire.Channels {
	a.mu.Lock()
	ch, ok := a.namespaces[nsp]
	if !ok {
		ch = wire.NewChannels(a.cfg.Key, nsp)
		a.namespaces[nsp] = ch
	}
	a.mu.Unlock()
	if !ok {
		a.bus.Subscribe(ch.Broadcast, ch.Request, ch.Response, ch.SpecificResponse(a.uid))
	}
	return ch
}

// RoomCreated subscribes to the room's channel (socketio.Adapter).
func (a *Adapter) RoomCreated(nsp, room string) {
	a.bus.Subscribe(a.channels(nsp).Room(room))
}

// RoomDeleted unsubscribes from the room's channel (socketio.Adapter).
func (a *Adapter) RoomDeleted(nsp, room string) {
	a.bus.Unsubscribe(a.channels(nsp).Room(room))
}

// Publish publishes a broadcast made on this node (socketio.Adapter).
func (a *Adapter) Publish(b *socketio.Broadcast) {
	ch := a.channels(b.Namespace)
	msg := wire.Broadcast{UID: a.uid, Packet: wire.Packet{Nsp: b.Namespace, Data: eventData(b.Event, b.Args)},
		Opts: wire.Options{Rooms: b.Rooms, Except: b.Except}}
	payload, err := wire.EncodeBroadcast(&msg)
	if err != nil {
		a.stats.publishErrors.Add(1)
		a.log.Warn("cluster: broadcast not published: encoding failed", "nsp", b.Namespace, "err", err.Error())
		return
	}
	a.enqueue(ch.ForBroadcast(b.Rooms), payload)
}

// eventData is [event, ...args] as wire.Args.
func eventData(event string, args socketio.Args) wire.Args {
	name, _ := json.Marshal(event)
	raw := make([]json.RawMessage, 0, 1+len(args.Raw))
	raw = append(raw, name)
	raw = append(raw, args.Raw...)
	return wire.Args{Raw: raw, Attachments: args.Attachments}
}

// enqueue hands a message to the publisher owning its channel, dropping it (counted,
// warned once) when that publisher's queue is full.
func (a *Adapter) enqueue(channel string, payload []byte) {
	a.outMu.RLock()
	defer a.outMu.RUnlock()
	if a.closed.Load() {
		return
	}
	select {
	case a.out[shard(channel, len(a.out))] <- outgoing{channel, payload}:
	default:
		a.stats.droppedOut.Add(1)
		if !a.warnedOut.Swap(true) {
			a.log.Warn("cluster: publish queue full, dropping broadcasts (counted in Stats.DroppedOut)", "channel", channel)
		}
	}
}

// maxBatch bounds the messages one publisher sends in one round trip.
const maxBatch = 256

// publish sends what its queue holds: one message with Publish, or, when a backlog has
// built up and the bus can pipeline (bus.Batcher), everything queued in one round
// trip, in order. Measured on 2 nodes at 2 000 msg/s to one room: one PUBLISH per
// round trip could not keep up and the queue overflowed (BENCHMARKS.md).
func (a *Adapter) publish(q chan outgoing) {
	defer a.pubWG.Done()
	batcher, _ := a.bus.(bus.Batcher)
	batch := make([]bus.Message, 0, maxBatch)
	for m := range q {
		batch = append(batch[:0], bus.Message{Channel: m.channel, Payload: m.payload})
	drain:
		for batcher != nil && len(batch) < maxBatch {
			select {
			case next, ok := <-q:
				if !ok {
					break drain
				}
				batch = append(batch, bus.Message{Channel: next.channel, Payload: next.payload})
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		var err error
		if len(batch) == 1 {
			err = a.bus.Publish(ctx, batch[0].Channel, batch[0].Payload)
		} else {
			err = batcher.PublishBatch(ctx, batch)
		}
		cancel()
		if err != nil {
			a.stats.publishErrors.Add(1)
			a.log.Warn("cluster: publish failed", "messages", len(batch), "err", err.Error())
		}
		clear(batch)
	}
}

// onMessage is the bus handler: it only queues (the bus read loop must never block).
func (a *Adapter) onMessage(m bus.Message) {
	a.stats.received.Add(1)
	select {
	case a.in[shard(m.Channel, len(a.in))] <- m:
	default:
		a.stats.droppedIn.Add(1)
		if !a.warnedIn.Swap(true) {
			a.log.Warn("cluster: incoming queue full, dropping messages (counted in Stats.DroppedIn)", "channel", m.Channel)
		}
	}
}

func (a *Adapter) work(q chan bus.Message) {
	defer a.workWG.Done()
	for m := range q {
		a.handle(m)
	}
}

// handle routes one incoming message by its channel.
func (a *Adapter) handle(m bus.Message) {
	if nsp, room, ok := wire.ParseChannel(a.cfg.Key, m.Channel); ok {
		a.onBroadcast(nsp, room, m.Payload)
		return
	}
	a.onRequestOrResponse(m)
}

// onBroadcast delivers a broadcast from another node (RedisAdapter.onmessage).
func (a *Adapter) onBroadcast(nsp, room string, payload []byte) {
	ns := a.io.Namespace(nsp)
	if ns == nil {
		return
	}
	if room != "" && ns.RoomSize(room) == 0 {
		a.stats.skipped.Add(1) // subscribed a moment ago, or a Node peer's leftover
		return
	}
	b, err := wire.DecodeBroadcast(payload, a.cfg.Limits)
	if err != nil {
		a.decodeError("broadcast", err)
		return
	}
	if b.UID == a.uid || b.Opts.Flags.Local {
		return
	}
	if b.Packet.Nsp != nsp {
		return
	}
	event, ok := b.Packet.Event()
	if !ok {
		a.decodeError("broadcast", errors.New("cluster: event name is not a string"))
		return
	}
	ns.Deliver(&socketio.Broadcast{
		Namespace: nsp, Event: event,
		Args:  socketio.Args{Raw: b.Packet.Data.Raw[1:], Attachments: b.Packet.Data.Attachments},
		Rooms: b.Opts.Rooms, Except: b.Opts.Except,
	})
	a.stats.delivered.Add(1)
}

func (a *Adapter) decodeError(what string, err error) {
	if a.stats.decodeErrors.Add(1) == 1 || a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Warn("cluster: malformed "+what+" dropped (further ones are counted in Stats.DecodeErrors)", "err", err.Error())
	}
}

// shard picks one of n queues by an FNV-1a hash of key.
func shard(key string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
