package main

// Publish paths: how the fanout and users scenarios get a message to the server.
//
//	client   a publisher connection emits broadcast(room, payload) on /bench and the
//	         server broadcasts "bench"(payload) to the room (apps/bench)
//	api      POST /api/v1/emit {"namespace","event":"bench","data":payload,"to":…}
//	         with Authorization: Bearer <key> (docs/API.md), on keep-alive connections
//	emitter  PUBLISH on the cluster's Redis in the @socket.io/redis-emitter format
//	         (bus/redis/wire): [uid "emitter", packet, {rooms, except, flags}] on
//	         key#nsp# or, for exactly one room, key#nsp#room#
//
// Every message carries its send stamp (benchframe.go), taken just before the
// message is encoded and handed over, so latency is end to end on every path.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/bus/redis/wire"
	"github.com/redis/rueidis"
)

// Publish paths.
const (
	PublishClient  = "client"
	PublishAPI     = "api"
	PublishEmitter = "emitter"
)

// emitterUID is the uid @socket.io/redis-emitter publishes under; no adapter has
// it, so every node delivers the message.
const emitterUID = "emitter"

// PublishConfig chooses and configures the publish path. The scenario's
// Publishers is how many senders work at once: client, publisher connections
// (messages round-robin over them from one goroutine); api, HTTP requests in
// flight, each on its keep-alive connection; emitter, PUBLISHes in flight on one
// pipelined Redis connection. The emitter publishes on the scenario's RedisAddr.
type PublishConfig struct {
	// Path is PublishClient (when empty), PublishAPI or PublishEmitter.
	Path string
	// APIURLs are the HTTP API's base URLs (loopback), sender j using URL j mod
	// len; the scenario's targets when empty.
	APIURLs []string
	// APIKey is the bearer key of the api path.
	APIKey string
	// ClusterKey is the channel prefix; "socket.io" when empty.
	ClusterKey string
	// APIWait adds "wait": true to the api path's emits: each answer then carries the
	// cluster's delivery count, summed in APIStats.Counted.
	APIWait bool
}

// APIStats describes the api path's answers: the round trip of each emit request
// (send to answer) and, with APIWait, the delivery counts the answers reported.
type APIStats struct {
	Answer     LatencySummary
	Counted    int64 // sum of the answers' "sockets"
	Incomplete int64 // answers with "complete": false
}

func (p *PublishConfig) normalize() {
	if p.Path == "" {
		p.Path = PublishClient
	}
	if p.ClusterKey == "" {
		p.ClusterKey = wire.DefaultKey
	}
}

func (p *PublishConfig) validate(redisAddr string) error {
	switch p.Path {
	case "", PublishClient:
	case PublishAPI:
		if p.APIKey == "" {
			return errors.New("-publish=api needs -api-key")
		}
		for _, u := range p.APIURLs {
			if _, err := apiEmitURL(u); err != nil {
				return err
			}
		}
	case PublishEmitter:
		if redisAddr == "" {
			return errors.New("-publish=emitter needs -redis")
		}
	default:
		return fmt.Errorf("-publish %q: want client, api or emitter", p.Path)
	}
	if p.APIWait && p.Path != PublishAPI {
		return errors.New("-api-wait goes with -publish=api")
	}
	return nil
}

// apiEmitURL turns a base URL (http://127.0.0.1:3000, or HOST:PORT) into its
// loopback http://IP:PORT/api/v1/emit.
func apiEmitURL(raw string) (string, error) {
	t, err := ParseTarget(raw, "/")
	if err != nil {
		return "", err
	}
	u, err := url.Parse(t.WSURL)
	if err != nil {
		return "", err
	}
	return "http://" + u.Host + "/api/v1/emit", nil
}

// audience is who one message goes to: a room (the whole namespace when room
// and user are empty) or a user. The api path sends {"users":[user]} for a
// user; the client and emitter paths send to room, which is then the user's
// room ("user:<id>").
type audience struct {
	room, user string
}

// publisher sends bench messages. send(w, …) is only ever called from worker w
// (0 ≤ w < workers()), so per-worker buffers need no lock.
type publisher interface {
	// workers is how many goroutines send at once; with 1 the pacer sends itself.
	workers() int
	// prepare opens what the first send would otherwise open (connections).
	prepare(ctx context.Context) error
	// send sends message seq to its audience, stamped with the clock when it is
	// handed over, and returns the stamp.
	send(ctx context.Context, w int, seq int64) (stamp int64, err error)
	close()
}

// publishSpec is what every publisher needs from the scenario.
type publishSpec struct {
	clock        stampClock
	nsp          string
	payloadBytes int
	audiences    []audience
	pick         func(seq int64) int // seq → index into audiences
}

// ---------------------------------------------------------------------------
// client

// clientPublisher writes broadcast frames on the scenario's publisher
// connections, message k on connection k mod len.
type clientPublisher struct {
	spec   publishSpec
	conns  []*Client
	frames []*BroadcastFrame // by audience, built on first use
}

func newClientPublisher(spec publishSpec, conns []*Client) *clientPublisher {
	return &clientPublisher{spec: spec, conns: conns, frames: make([]*BroadcastFrame, len(spec.audiences))}
}

func (p *clientPublisher) workers() int                  { return 1 }
func (p *clientPublisher) prepare(context.Context) error { return nil }
func (p *clientPublisher) close()                        {} // the scenario owns the connections

func (p *clientPublisher) send(_ context.Context, _ int, seq int64) (int64, error) {
	i := p.spec.pick(seq)
	f := p.frames[i]
	if f == nil {
		f = NewBroadcastFrame(p.spec.nsp, p.spec.audiences[i].room, p.spec.payloadBytes)
		p.frames[i] = f
	}
	now := p.spec.clock.now()
	return now, p.conns[seq%int64(len(p.conns))].WriteText(f.Append(now, seq))
}

// ---------------------------------------------------------------------------
// api

// apiPublisher POSTs /api/v1/emit, worker w to URL w mod len, one request in
// flight per worker, each on its keep-alive connection.
type apiPublisher struct {
	spec   publishSpec
	n      int
	urls   []string
	auth   string
	client *http.Client
	heads  [][]byte // by audience: the body up to "data":
	wait   bool

	answers             Histogram // request round trips
	minNS, maxNS, sumNS atomic.Int64
	counted, incomplete atomic.Int64
}

// maxAPIAnswer bounds how much of an answer is read (the emit answer is a small
// JSON object; an error body is quoted, truncated).
const maxAPIAnswer = 64 << 10

func newAPIPublisher(spec publishSpec, cfg PublishConfig, n int, targets []Target) (*apiPublisher, error) {
	p := &apiPublisher{spec: spec, n: n, auth: "Bearer " + cfg.APIKey, wait: cfg.APIWait}
	p.minNS.Store(math.MaxInt64)
	bases := cfg.APIURLs
	if len(bases) == 0 {
		for _, t := range targets {
			bases = append(bases, t.Base)
		}
	}
	for _, b := range bases {
		u, err := apiEmitURL(b)
		if err != nil {
			return nil, err
		}
		p.urls = append(p.urls, u)
	}
	p.client = &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: p.n,
			MaxConnsPerHost:     p.n,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
	nsp, _ := json.Marshal(spec.nsp)
	for _, a := range spec.audiences {
		var to []byte
		switch {
		case a.user != "":
			to, _ = json.Marshal(map[string][]string{"users": {a.user}})
		case a.room != "":
			to, _ = json.Marshal(map[string][]string{"rooms": {a.room}})
		default:
			to = []byte(`{"all":true}`)
		}
		wait := ""
		if p.wait {
			wait = `"wait":true,`
		}
		head := fmt.Appendf(nil, `{"namespace":%s,"event":"bench",%s"to":%s,"data":`, nsp, wait, to)
		p.heads = append(p.heads, head)
	}
	return p, nil
}

func (p *apiPublisher) workers() int { return p.n }

// prepare opens one keep-alive connection per worker with a GET on the emit URL
// (405 on Herald; the answer does not matter, only the connection).
func (p *apiPublisher) prepare(ctx context.Context) error {
	errs := make([]error, p.n)
	var wg sync.WaitGroup
	for w := range p.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.urls[w%len(p.urls)], nil)
			if err != nil {
				errs[w] = err
				return
			}
			resp, err := p.client.Do(req)
			if err != nil {
				errs[w] = fmt.Errorf("api: %w", err)
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAPIAnswer))
			_ = resp.Body.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *apiPublisher) send(ctx context.Context, w int, seq int64) (int64, error) {
	h := p.heads[p.spec.pick(seq)]
	now := p.spec.clock.now()
	// A new body each time: the transport may still hold the previous one.
	body := make([]byte, 0, len(h)+p.spec.payloadBytes+48)
	body = append(body, h...)
	body = AppendPayload(body, now, seq, p.spec.payloadBytes)
	body = append(body, '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.urls[w%len(p.urls)], bytes.NewReader(body))
	if err != nil {
		return now, err
	}
	req.Header.Set("Authorization", p.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return now, fmt.Errorf("api: %w", err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return now, fmt.Errorf("api: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(truncate(answer)))
	}
	if err != nil {
		return now, fmt.Errorf("api: reading the answer: %w", err)
	}
	rt := p.spec.clock.now() - now
	p.answers.Record(rt)
	p.sumNS.Add(rt)
	for v := p.minNS.Load(); rt < v && !p.minNS.CompareAndSwap(v, rt); v = p.minNS.Load() {
	}
	for v := p.maxNS.Load(); rt > v && !p.maxNS.CompareAndSwap(v, rt); v = p.maxNS.Load() {
	}
	if p.wait {
		var d struct {
			Sockets  *int64 `json:"sockets"`
			Complete bool   `json:"complete"`
		}
		if err := json.Unmarshal(answer, &d); err != nil || d.Sockets == nil {
			return now, fmt.Errorf("api: a wait answer without a delivery count: %s", strings.TrimSpace(truncate(answer)))
		}
		p.counted.Add(*d.Sockets)
		if !d.Complete {
			p.incomplete.Add(1)
		}
	}
	return now, nil
}

func (p *apiPublisher) close() { p.client.CloseIdleConnections() }

// stats returns what the answers said so far.
func (p *apiPublisher) stats() APIStats {
	var c HistCounts
	p.answers.AddTo(&c)
	return APIStats{Answer: c.Summary(p.minNS.Load(), p.maxNS.Load(), p.sumNS.Load()),
		Counted: p.counted.Load(), Incomplete: p.incomplete.Load()}
}

// ---------------------------------------------------------------------------
// emitter

// emitterPublisher PUBLISHes @socket.io/redis-emitter messages with Herald's
// own encoder. Workers share one rueidis client, which pipelines their commands.
type emitterPublisher struct {
	spec     publishSpec
	n        int
	client   rueidis.Client
	channels []string   // by audience
	rooms    [][]string // by audience; nil for the whole namespace
	bufs     []emitterBuf
}

// emitterBuf is one worker's scratch space.
type emitterBuf struct {
	payload []byte
	msg     []byte
	raw     []json.RawMessage
}

var benchEventName = json.RawMessage(`"bench"`)

func newEmitterPublisher(spec publishSpec, cfg PublishConfig, n int, redisAddr string) (*emitterPublisher, error) {
	client, err := newRedisClient(redisAddr)
	if err != nil {
		return nil, err
	}
	p := &emitterPublisher{spec: spec, n: n, client: client, bufs: make([]emitterBuf, n)}
	ch := wire.NewChannels(cfg.ClusterKey, spec.nsp)
	for _, a := range spec.audiences {
		if a.room == "" {
			p.channels = append(p.channels, ch.Broadcast)
			p.rooms = append(p.rooms, nil)
			continue
		}
		p.channels = append(p.channels, ch.Room(a.room))
		p.rooms = append(p.rooms, []string{a.room})
	}
	return p, nil
}

// newRedisClient connects to a loopback Redis with rueidis, without client-side
// caching (nothing here reads keys).
func newRedisClient(addr string) (rueidis.Client, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{addr},
		DisableCache: true,
		Dialer:       net.Dialer{Timeout: 5 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return c, nil
}

func (p *emitterPublisher) workers() int { return p.n }

func (p *emitterPublisher) prepare(ctx context.Context) error {
	return p.client.Do(ctx, p.client.B().Ping().Build()).Error()
}

func (p *emitterPublisher) send(ctx context.Context, w int, seq int64) (int64, error) {
	i := p.spec.pick(seq)
	b := &p.bufs[w]
	now := p.spec.clock.now()
	b.payload = AppendPayload(b.payload[:0], now, seq, p.spec.payloadBytes)
	b.raw = append(b.raw[:0], benchEventName, b.payload)
	msg := wire.Broadcast{UID: emitterUID, Packet: wire.Packet{Nsp: p.spec.nsp, Data: wire.Args{Raw: b.raw}},
		Opts: wire.Options{Rooms: p.rooms[i]}}
	var err error
	if b.msg, err = wire.AppendBroadcast(b.msg[:0], &msg); err != nil {
		return now, fmt.Errorf("emitter: encoding: %w", err)
	}
	// Do returns once Redis has answered, so b.msg is free again afterwards.
	cmd := p.client.B().Publish().Channel(p.channels[i]).Message(rueidis.BinaryString(b.msg)).Build()
	if err := p.client.Do(ctx, cmd).Error(); err != nil {
		return now, fmt.Errorf("emitter: %w", err)
	}
	return now, nil
}

func (p *emitterPublisher) close() { p.client.Close() }

// ---------------------------------------------------------------------------
// pacing

// pacer sends message 0..planned-1 at rate: message k is due k/rate after the
// start. A ticker (one tick per message, but at least 1 ms apart) wakes it; each
// wake sends whatever is due, so a late wake catches up instead of stretching
// the run. With one worker the pacer sends itself; with more it hands messages
// to the workers through a small queue, and waits when they fall behind.
type pacer struct {
	clock   stampClock
	rate    float64
	planned int64
	pub     publisher
	sent    atomic.Int64    // messages sent so far (progress)
	ok      []atomic.Uint64 // bit per seq: sent without error
	// onSent, when set, is called after each message sent without error, from
	// the sending goroutine (several at once with several workers).
	onSent func(seq int64)
}

func newPacer(clock stampClock, rate float64, planned int64, pub publisher) *pacer {
	return &pacer{clock: clock, rate: rate, planned: planned, pub: pub, ok: make([]atomic.Uint64, (planned+63)/64)}
}

// wasSent reports whether message seq was sent without error.
func (p *pacer) wasSent(seq int64) bool {
	return seq >= 0 && seq < p.planned && p.ok[seq>>6].Load()&(1<<(seq&63)) != 0
}

// paceResult is what a pacer run did.
type paceResult struct {
	sent        int64     // messages sent without error
	failed      int64     // messages whose send failed
	first, last time.Time // stamps of the first and the last message sent
	err         error     // the first send error (publishing stopped there), or ctx's
}

func (p *pacer) markSent(seq int64) {
	p.ok[seq>>6].Or(1 << (seq & 63))
	if p.onSent != nil {
		p.onSent(seq)
	}
	p.sent.Add(1)
}

// run publishes until every message is sent, a send fails or ctx ends.
func (p *pacer) run(ctx context.Context) paceResult {
	n := p.pub.workers()
	if n <= 1 {
		return p.runInline(ctx)
	}
	return p.runWorkers(ctx, n)
}

// due calls fn for every message due by now, in order, until fn returns false;
// between wakes it waits for the ticker. It returns ctx's error if ctx ended.
func (p *pacer) due(ctx context.Context, fn func(seq int64) bool) error {
	interval := max(time.Duration(float64(time.Second)/p.rate), time.Millisecond)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	start := time.Now()
	for seq := int64(0); seq < p.planned; {
		due := min(p.planned, int64(time.Since(start).Seconds()*p.rate)+1)
		for ; seq < due; seq++ {
			if !fn(seq) {
				return nil
			}
		}
		if seq == p.planned {
			break
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p *pacer) runInline(ctx context.Context) paceResult {
	var res paceResult
	err := p.due(ctx, func(seq int64) bool {
		stamp, err := p.pub.send(ctx, 0, seq)
		if err != nil {
			res.failed++
			res.err = err
			return false
		}
		t := p.clock.time(stamp)
		if res.sent == 0 {
			res.first = t
		}
		res.last = t
		res.sent++
		p.markSent(seq)
		return true
	})
	if res.err == nil {
		res.err = err
	}
	return res
}

func (p *pacer) runWorkers(ctx context.Context, n int) paceResult {
	jobs := make(chan int64, 4*n)
	var stop atomic.Bool // set by the first failed send: nothing more is sent
	var firstErr error
	var errOnce sync.Once
	type span struct {
		sent, failed int64
		first, last  int64
	}
	spans := make([]span, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &spans[w]
			for seq := range jobs {
				if stop.Load() {
					continue
				}
				stamp, err := p.pub.send(ctx, w, seq)
				if err != nil {
					s.failed++
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					continue
				}
				if s.sent == 0 || stamp < s.first {
					s.first = stamp
				}
				s.last = max(s.last, stamp)
				s.sent++
				p.markSent(seq)
			}
		}()
	}
	err := p.due(ctx, func(seq int64) bool {
		if stop.Load() {
			return false
		}
		select {
		case jobs <- seq:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(jobs)
	wg.Wait()
	var res paceResult
	var first, last int64
	for _, s := range spans {
		if s.sent > 0 {
			if res.sent == 0 || s.first < first {
				first = s.first
			}
			last = max(last, s.last)
		}
		res.sent += s.sent
		res.failed += s.failed
	}
	if res.sent > 0 {
		res.first, res.last = p.clock.time(first), p.clock.time(last)
	}
	res.err = firstErr
	if res.err == nil {
		res.err = err
		if res.err == nil && ctx.Err() != nil && res.sent < p.planned {
			res.err = ctx.Err()
		}
	}
	return res
}

// newPublisher builds the publisher of cfg.Path with n senders. conns are the
// client path's publisher connections (unused otherwise).
func newPublisher(cfg PublishConfig, n int, spec publishSpec, redisAddr string, targets []Target, conns []*Client) (publisher, error) {
	switch cfg.Path {
	case PublishAPI:
		return newAPIPublisher(spec, cfg, n, targets)
	case PublishEmitter:
		return newEmitterPublisher(spec, cfg, n, redisAddr)
	default:
		if len(conns) == 0 {
			return nil, errors.New("client publish path without publisher connections")
		}
		return newClientPublisher(spec, conns), nil
	}
}

// formatPublishers describes the senders of a path for the table.
func formatPublishers(path string, n int) string {
	switch path {
	case PublishAPI:
		return strconv.Itoa(n) + " HTTP request(s) in flight"
	case PublishEmitter:
		return strconv.Itoa(n) + " PUBLISH(es) in flight"
	default:
		return strconv.Itoa(n) + " publisher connection(s)"
	}
}
