package main

// The users scenario: U users with K devices each connect (device i is device
// i mod K of user i / K, on target i mod len(Targets)), every device
// authenticated as its user with an HS256 JWT in the CONNECT auth payload
// {"token"}, so the server joins it to the room "user:<id>". Messages go to one
// user each, picked at random, at a fixed rate through the chosen publish path.
// Every device of the target user must receive each message exactly once, and
// no device of another user may receive it.
//
// The per-message path runs on the device's reader goroutine and touches only
// that device's state, plus one histogram shared by a few devices (atomic adds):
// a parse, a lookup of the message's user and its position in that user's list,
// a bitmap bit.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald/bus/redis/wire"
)

// UsersConfig configures one users run.
type UsersConfig struct {
	Targets      []Target
	Namespace    string // "/bench" when empty
	Users        int
	Devices      int           // per user
	Publishers   int           // senders at once (PublishConfig); 1 when zero
	Publish      PublishConfig // the publish path; the client path when zero
	Parallel     int           // dials in flight
	Rate         float64       // messages per second, all users together
	Duration     time.Duration // publishing time; Rate×Duration messages (rounded)
	PayloadBytes int
	Drain        time.Duration // after the last send, how long to wait for stragglers
	Timeout      time.Duration // overall cap
	// HandshakeTimeout is per connection: dial → CONNECT ack.
	HandshakeTimeout time.Duration
	ReadBufferSize   int // per-connection read buffer (gws reader only); 4 KiB when zero
	// JWTSecret signs the devices' HS256 tokens (the server's HERALD_JWT_SECRET).
	JWTSecret []byte
	// UserRoomPrefix is the server's prefix of a user's room; "user:" when empty.
	UserRoomPrefix string
	// Seed picks the message targets; the same seed, users and message count give
	// the same targets.
	Seed uint64
	PIDs []int // server processes whose CPU to sample
	// Epoll reads the connections with the epoll client (Dialer.Epoll; Linux only).
	Epoll bool
	// RedisAddr, when set, is the cluster's Redis: see FanoutConfig.RedisAddr.
	RedisAddr     string
	ReadyTimeout  time.Duration // 10 s when zero
	Progress      func(FanoutProgress)
	ProgressEvery time.Duration // 500 ms when zero
}

// Limits that keep a users run bounded in memory and count.
const (
	maxUsersMessages = 2_000_000
	maxUsersDevices  = 200_000
)

// userID is the id of user u, the token's sub.
func userID(u int) string { return "u" + strconv.Itoa(u) }

// publisherID is the user the client path's publisher connection j
// authenticates as: none of the devices' users, so it receives nothing.
func publisherID(j int) string { return "bench-publisher-" + strconv.Itoa(j) }

func (cfg *UsersConfig) planned() int64 { return int64(math.Round(cfg.Rate * cfg.Duration.Seconds())) }

func (cfg *UsersConfig) validate() error {
	if len(cfg.Targets) == 0 {
		return errors.New("no target URL")
	}
	if cfg.Users < 1 || cfg.Devices < 1 {
		return errors.New("-users and -devices must be at least 1")
	}
	if n := cfg.Users * cfg.Devices; n > maxUsersDevices || n/cfg.Devices != cfg.Users {
		return fmt.Errorf("-users × -devices must be at most %d connections", maxUsersDevices)
	}
	if cfg.Publishers < 0 || cfg.Parallel < 1 {
		return errors.New("-publishers must not be negative and -parallel must be at least 1")
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) || cfg.Duration <= 0 {
		return errors.New("-rate and -duration must be positive")
	}
	n := cfg.planned()
	if n < 1 || n > maxUsersMessages {
		return fmt.Errorf("-rate × -duration is %d messages; want 1..%d", n, maxUsersMessages)
	}
	// Each device has a bit per message of its user: devices per user × messages in all.
	if mib := float64(cfg.Devices) * float64(n) / 8 / (1 << 20); mib > maxSeenBitmapMiB {
		return fmt.Errorf("-devices × messages needs %.0f MiB of sequence bitmaps; the cap is %d MiB", mib, maxSeenBitmapMiB)
	}
	if cfg.PayloadBytes < 0 || cfg.Drain < 0 {
		return errors.New("-payload and -drain must not be negative")
	}
	if cfg.Timeout <= cfg.Duration+cfg.Drain {
		return fmt.Errorf("-timeout (%v) must exceed -duration + -drain (%v)", cfg.Timeout, cfg.Duration+cfg.Drain)
	}
	if len(cfg.JWTSecret) == 0 {
		return errors.New("-jwt-secret is required (the server's HERALD_JWT_SECRET)")
	}
	return cfg.Publish.validate(cfg.RedisAddr)
}

// UsersResult is what a users run measured.
type UsersResult struct {
	Targets        []string
	Namespace      string
	Publish        string
	Users          int
	DevicesPerUser int
	Devices        int // wanted: Users × DevicesPerUser
	Connected      int // devices connected (authenticated)
	ConnectTime    time.Duration
	Handshake      LatencySummary
	Publishers     int
	Rate           float64
	Duration       time.Duration
	PayloadBytes   int
	Seed           uint64
	Planned        int64
	Sent           int64 // sent without error
	SendErrors     int64
	PublishTime    time.Duration
	// Expected is, over the messages sent, the connected devices of each one's
	// user; Delivered the unique (device, message) arrivals at a device of the
	// right user; Lost = Expected − Delivered.
	Expected   int64
	Delivered  int64
	Lost       int64
	Duplicates int64
	// WrongUser counts arrivals at a device of another user than the message's:
	// must be 0.
	WrongUser int64
	Reordered int64
	BadEvents int64
	// DevicesComplete counts connected devices that received every message sent
	// to their user, each exactly once.
	DevicesComplete int
	DeliveryTime    time.Duration
	Latency         LatencySummary
	Disconnects     int64
	Drained         bool
	DrainWait       time.Duration
	Usage
	// API describes the emit requests' answers (the api path only; nil otherwise).
	API       *APIStats
	PerTarget []TargetResult // by the target the devices connected to; nil with one target
	Errors    map[string]int
	TimedOut  bool

	// ClientReader is how this client read its connections: "epoll" or "gws"
	// (Dialer.Epoll).
	ClientReader string
}

// DeliveriesPerSec is unique deliveries per second of delivery time.
func (r *UsersResult) DeliveriesPerSec() float64 {
	if r.DeliveryTime <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.DeliveryTime.Seconds()
}

// userPlan is who each message goes to.
type userPlan struct {
	users, perUser int
	target         []int32 // seq → user
	pos            []int32 // seq → its index among its user's messages
	count          []int32 // user → messages planned for it
}

// newUserPlan picks the target of each of planned messages uniformly among users.
func newUserPlan(users, perUser int, planned int64, seed uint64) *userPlan {
	p := &userPlan{users: users, perUser: perUser,
		target: make([]int32, planned), pos: make([]int32, planned), count: make([]int32, users)}
	rng := rand.New(rand.NewPCG(seed, 0x6865_7261_6c64)) // "herald"
	for seq := range p.target {
		u := rng.IntN(users)
		p.target[seq] = int32(u)
		p.pos[seq] = p.count[u]
		p.count[u]++
	}
	return p
}

// userOf is the user of device d.
func (p *userPlan) userOf(d int) int { return d / p.perUser }

// device is one receiving connection's state. delivered, wrong and hist are
// read concurrently (progress); every other field belongs to the connection's
// reader goroutine and is read only after that goroutine has ended (joined:
// written before publishing starts).
type device struct {
	delivered atomic.Int64
	wrong     atomic.Int64 // arrivals of another user's messages
	hist      *Histogram   // shared with a few other devices of its target; atomic adds

	user      int
	want      int64    // messages planned for its user
	seen      []uint64 // bit per position in its user's message list
	joined    bool
	dups      int64
	bad       int64
	reordered int64
	lastSeq   int64
	lastRecv  int64
	minNS     int64
	maxNS     int64
	sumNS     int64
}

// histShards is how many histograms the devices of one target share.
const histShards = 8

type usersRun struct {
	clock   stampClock
	cfg     UsersConfig
	planned int64
	plan    *userPlan
	devs    []*device
	hists   []Histogram // target t's shards: [t*histShards, (t+1)*histShards)
	pending atomic.Int64
	allDone chan struct{}
	pacer   *pacer
	// joinedOf is, by user, its connected devices (set before publishing), and
	// expected the deliveries due for the messages sent so far.
	joinedOf []int64
	expected atomic.Int64
}

func newUsersRun(cfg UsersConfig) *usersRun {
	r := &usersRun{clock: newStampClock(), cfg: cfg, planned: cfg.planned(), allDone: make(chan struct{})}
	r.plan = newUserPlan(cfg.Users, cfg.Devices, r.planned, cfg.Seed)
	nt := max(len(cfg.Targets), 1)
	r.hists = make([]Histogram, nt*histShards)
	r.devs = make([]*device, cfg.Users*cfg.Devices)
	for d := range r.devs {
		u := r.plan.userOf(d)
		want := int64(r.plan.count[u])
		r.devs[d] = &device{
			hist: &r.hists[(d%nt)*histShards+(d/nt)%histShards],
			user: u, want: want, seen: make([]uint64, (want+63)/64), lastSeq: -1, minNS: math.MaxInt64,
		}
	}
	return r
}

// verdict is what one arrival at a device was.
type verdict int

const (
	verdictDelivered verdict = iota // first arrival at a device of the right user
	verdictDuplicate                // a repeat at the same device
	verdictWrongUser                // the device's user is not the message's
	verdictBad                      // not a bench message of this run
)

// onEvent runs on a device's reader goroutine for every EVENT.
func (r *usersRun) onEvent(c *Client, data []byte) { r.deliver(r.devs[c.Index], data) }

// deliver checks one arrival at device dv and records it.
func (r *usersRun) deliver(dv *device, data []byte) verdict {
	t, seq, ok := ParseBenchEvent(data)
	if !ok || seq < 0 || seq >= r.planned {
		dv.bad++
		return verdictBad
	}
	now := r.clock.now()
	if int(r.plan.target[seq]) != dv.user {
		dv.wrong.Add(1)
		return verdictWrongUser
	}
	pos := r.plan.pos[seq]
	w, bit := pos>>6, uint64(1)<<(pos&63)
	if dv.seen[w]&bit != 0 {
		dv.dups++
		return verdictDuplicate
	}
	dv.seen[w] |= bit
	lat := max(now-t, 0)
	dv.hist.Record(lat)
	n := dv.delivered.Add(1)
	if seq < dv.lastSeq {
		dv.reordered++
	}
	dv.lastSeq = seq
	dv.lastRecv = now
	dv.minNS = min(dv.minNS, lat)
	dv.maxNS = max(dv.maxNS, lat)
	dv.sumNS += lat
	if n == dv.want && r.pending.Add(-1) == 0 {
		close(r.allDone)
	}
	return verdictDelivered
}

// authPayloads mints one token per user (and per publisher connection) and
// returns the CONNECT auth payloads {"token":"…"}.
func authPayloads(secret []byte, ids []string, ttl time.Duration) ([][]byte, error) {
	now := time.Now()
	out := make([][]byte, len(ids))
	for i, id := range ids {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": id, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		}).SignedString(secret)
		if err != nil {
			return nil, fmt.Errorf("minting a token: %w", err)
		}
		if out[i], err = json.Marshal(map[string]string{"token": tok}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RunUsers runs the users scenario. It returns a result whenever the run got as
// far as connecting, even on timeout (TimedOut set, error non-nil), and an error
// when any device received another user's message.
func RunUsers(ctx context.Context, cfg UsersConfig) (*UsersResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "/bench"
	}
	if cfg.Publishers == 0 {
		cfg.Publishers = 1
	}
	if cfg.UserRoomPrefix == "" {
		cfg.UserRoomPrefix = "user:"
	}
	cfg.Publish.normalize()
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 4096
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	r := newUsersRun(cfg)
	res := &UsersResult{
		Namespace: cfg.Namespace, Publish: cfg.Publish.Path, Users: cfg.Users, DevicesPerUser: cfg.Devices,
		Devices: len(r.devs), Publishers: cfg.Publishers, Rate: cfg.Rate, Duration: cfg.Duration, Seed: cfg.Seed,
		Planned: r.planned, Errors: map[string]int{},
		PayloadBytes: len(AppendPayload(nil, time.Now().UnixNano(), r.planned-1, cfg.PayloadBytes)),
	}
	for _, t := range cfg.Targets {
		res.Targets = append(res.Targets, t.Base)
	}
	errs := newErrorCounter(res.Errors)

	// Tokens outlive the run: a server that disconnects on expiry must not.
	ttl := cfg.Timeout + time.Hour
	ids := make([]string, cfg.Users)
	for u := range ids {
		ids[u] = userID(u)
	}
	userAuth, err := authPayloads(cfg.JWTSecret, ids, ttl)
	if err != nil {
		return nil, err
	}
	devDialer := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout, Epoll: cfg.Epoll,
		ReadBufferSize: cfg.ReadBufferSize, OnEvent: r.onEvent,
		Auth: func(d int) []byte { return userAuth[r.plan.userOf(d)] }}
	var pubAuth [][]byte
	if cfg.Publish.Path == PublishClient {
		pubIDs := make([]string, cfg.Publishers)
		for j := range pubIDs {
			pubIDs[j] = publisherID(j)
		}
		if pubAuth, err = authPayloads(cfg.JWTSecret, pubIDs, ttl); err != nil {
			return nil, err
		}
	}
	pubDialer := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout, Epoll: cfg.Epoll,
		Auth: func(j int) []byte { return pubAuth[j] }}
	res.ClientReader = clientReader(devDialer, pubDialer)
	devs := make([]*Client, len(r.devs))
	var pubs []*Client
	var pub publisher
	defer func() {
		if pub != nil {
			pub.close()
		}
		for _, c := range slices.Concat(devs, pubs) {
			if c != nil {
				c.Close()
			}
		}
		devDialer.Wait()
		pubDialer.Wait()
	}()

	// Connect: the server joins each device to its user's room before the ack.
	phase := connectPhase{Dialer: devDialer, Targets: cfg.Targets, Clients: devs, Parallel: cfg.Parallel,
		OnError: errs.add, Every: cfg.ProgressEvery}
	if cfg.Progress != nil {
		phase.Progress = func(p connectProgress) {
			cfg.Progress(FanoutProgress{Phase: "connect", Joined: p.Connected, Target: p.Target,
				Planned: r.planned, Elapsed: p.Elapsed, Disconnects: devDialer.Stats.Disconnects.Load()})
		}
	}
	cr := phase.run(ctx)
	res.Connected, res.ConnectTime, res.Handshake = cr.Connected, cr.Time, cr.Handshake
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, fmt.Errorf("timed out connecting: %d/%d devices connected", cr.Connected, len(r.devs))
	}
	if cr.Connected == 0 {
		return res, errors.New("no device could connect")
	}
	var pending int64
	r.joinedOf = make([]int64, cfg.Users)
	for d, c := range devs {
		if c != nil {
			r.devs[d].joined = true
			r.joinedOf[r.devs[d].user]++
			if r.devs[d].want > 0 {
				pending++
			}
		}
	}
	r.pending.Store(pending)
	if pending == 0 {
		close(r.allDone)
	}
	if cfg.Publish.Path == PublishClient {
		for j := range cfg.Publishers {
			hs, cancelHS := context.WithTimeout(ctx, handshakeTimeout(cfg.HandshakeTimeout))
			c, err := pubDialer.DialIndex(hs, cfg.Targets[j%len(cfg.Targets)].WSURL, j)
			cancelHS()
			if err != nil {
				return res, fmt.Errorf("publisher %d: %w", j, err)
			}
			pubs = append(pubs, c)
		}
	}
	audiences := make([]audience, cfg.Users)
	for u := range audiences {
		audiences[u] = audience{room: cfg.UserRoomPrefix + ids[u], user: ids[u]}
	}
	pub, err = newPublisher(cfg.Publish, cfg.Publishers, publishSpec{
		clock: r.clock, nsp: cfg.Namespace, payloadBytes: cfg.PayloadBytes,
		audiences: audiences, pick: func(seq int64) int { return int(r.plan.target[seq]) },
	}, cfg.RedisAddr, cfg.Targets, pubs)
	if err != nil {
		return res, err
	}
	if err := pub.prepare(ctx); err != nil {
		return res, fmt.Errorf("publish path %s: %w", cfg.Publish.Path, err)
	}
	if cfg.RedisAddr != "" {
		if err := waitSubscribed(ctx, cfg.RedisAddr, r.roomChannels(devs, audiences), cfg.ReadyTimeout); err != nil {
			errs.add(err)
		}
	}
	r.pacer = newPacer(r.clock, cfg.Rate, r.planned, pub)
	r.pacer.onSent = func(seq int64) { r.expected.Add(r.joinedOf[r.plan.target[seq]]) }

	win, err := openUsageWindow(ctx, cfg.PIDs, cfg.RedisAddr)
	if err != nil {
		return res, err
	}
	prog := &fanoutProgress{fn: cfg.Progress, joined: cr.Connected, target: len(r.devs), planned: r.planned,
		sent: &r.pacer.sent, dialers: []*Dialer{devDialer, pubDialer}, snapshot: r.snapshot}
	var pr paceResult
	pr, res.Drained, res.TimedOut, res.DrainWait = publishAndDrain(ctx, r.pacer, prog, cfg.ProgressEvery, r.allDone, cfg.Drain)
	res.Sent, res.SendErrors = pr.sent, pr.failed
	if ap, ok := pub.(*apiPublisher); ok {
		st := ap.stats()
		res.API = &st
	}
	if pr.sent > 0 {
		res.PublishTime = pr.last.Sub(pr.first)
	}
	if pr.err != nil && ctx.Err() == nil {
		errs.add(fmt.Errorf("publish: %w", pr.err))
	}
	if err := win.close(); err != nil {
		return res, err
	}
	prog.phase("done")
	prog.report()

	// Stop every reader; after Wait their state is ours to read.
	for _, c := range slices.Concat(devs, pubs) {
		if c != nil {
			c.Close()
		}
	}
	devDialer.Wait()
	pubDialer.Wait()
	devs, pubs = nil, nil

	r.collect(res, pr.first)
	res.Disconnects = devDialer.Stats.Disconnects.Load() + pubDialer.Stats.Disconnects.Load()
	var redisErr error
	res.Usage, redisErr = win.usage(res.Sent, res.Delivered)
	if redisErr != nil {
		errs.add(redisErr)
	}

	switch {
	case res.TimedOut:
		return res, fmt.Errorf("timed out after %v", cfg.Timeout)
	case pr.err != nil:
		return res, fmt.Errorf("publish stopped after %d/%d messages: %w", pr.sent, r.planned, pr.err)
	case res.WrongUser > 0:
		return res, fmt.Errorf("%d deliveries reached a device of another user", res.WrongUser)
	}
	return res, nil
}

// roomChannels is, for every user with a connected device and a message, its
// room's broadcast channel and the number of targets holding its devices.
func (r *usersRun) roomChannels(devs []*Client, audiences []audience) map[string]int {
	ch := wire.NewChannels(r.cfg.Publish.ClusterKey, r.cfg.Namespace)
	want := map[string]int{}
	k := r.cfg.Devices
	for u := range r.cfg.Users {
		if r.plan.count[u] == 0 {
			continue
		}
		seen := map[int]bool{} // targets holding a connected device of u
		for i, c := range devs[u*k : (u+1)*k] {
			if c != nil {
				seen[(u*k+i)%len(r.cfg.Targets)] = true
			}
		}
		if len(seen) > 0 {
			want[ch.Room(audiences[u].room)] = len(seen)
		}
	}
	return want
}

// snapshot is the progress view: it adds the histograms to c and returns the
// unique deliveries, those due for what was sent so far, and wrong-user ones.
func (r *usersRun) snapshot(c *HistCounts) (delivered, expected, wrong int64) {
	for i := range r.hists {
		r.hists[i].AddTo(c)
	}
	for _, dv := range r.devs {
		delivered += dv.delivered.Load()
		wrong += dv.wrong.Load()
	}
	return delivered, r.expected.Load(), wrong
}

// collect sums the devices' state into res. Every reader has ended.
func (r *usersRun) collect(res *UsersResult, firstSend time.Time) {
	userSent := make([]int64, r.cfg.Users)
	for seq := range r.planned {
		if r.pacer.wasSent(seq) {
			userSent[r.plan.target[seq]]++
		}
	}
	nt := len(r.cfg.Targets)
	type acc struct {
		minNS, maxNS, sumNS int64
	}
	accs := make([]acc, nt)
	for t := range accs {
		accs[t].minNS = math.MaxInt64
	}
	per := make([]TargetResult, nt)
	var lastRecv int64
	for d, dv := range r.devs {
		t := d % nt
		n := dv.delivered.Load()
		res.Delivered += n
		res.Duplicates += dv.dups
		res.WrongUser += dv.wrong.Load()
		res.BadEvents += dv.bad
		res.Reordered += dv.reordered
		per[t].Delivered += n
		if dv.joined {
			per[t].Joined++
			per[t].Expected += userSent[dv.user]
			if n == userSent[dv.user] && dv.dups == 0 {
				res.DevicesComplete++
			}
		}
		if n > 0 {
			a := &accs[t]
			a.minNS, a.maxNS = min(a.minNS, dv.minNS), max(a.maxNS, dv.maxNS)
			a.sumNS += dv.sumNS
			lastRecv = max(lastRecv, dv.lastRecv)
		}
	}
	var all HistCounts
	total := acc{minNS: math.MaxInt64}
	for t := range per {
		var c HistCounts
		for i := t * histShards; i < (t+1)*histShards; i++ {
			r.hists[i].AddTo(&c)
			r.hists[i].AddTo(&all)
		}
		a := accs[t]
		per[t].Target = r.cfg.Targets[t].Base
		per[t].Latency = c.Summary(a.minNS, a.maxNS, a.sumNS)
		res.Expected += per[t].Expected
		total.minNS, total.maxNS = min(total.minNS, a.minNS), max(total.maxNS, a.maxNS)
		total.sumNS += a.sumNS
	}
	res.Latency = all.Summary(total.minNS, total.maxNS, total.sumNS)
	if nt > 1 {
		res.PerTarget = per
	}
	res.Lost = res.Expected - res.Delivered
	if lastRecv > 0 && !firstSend.IsZero() {
		res.DeliveryTime = r.clock.time(lastRecv).Sub(firstSend)
	}
}
