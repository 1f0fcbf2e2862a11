package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/redis/wire"
	"github.com/heraldhq/herald/internal/base64id"
	"github.com/heraldhq/herald/socketio"
)

// onRequestOrResponse handles messages on the request and response channels.
func (a *Adapter) onRequestOrResponse(m bus.Message) {
	if rest, ok := strings.CutPrefix(m.Channel, a.cfg.Key+"-request#"); ok {
		a.onRequest(strings.TrimSuffix(rest, "#"), m.Payload)
		return
	}
	if _, ok := strings.CutPrefix(m.Channel, a.cfg.Key+"-response#"); ok {
		a.onResponse(m.Payload)
	}
}

// onRequest answers or applies a request from another node or the emitter
// (RedisAdapter.onrequest). This node is subscribed to the request channel, so Node
// peers count it (PUBSUB NUMSUB) and wait for its answer: every request that expects
// one gets one, even when no local socket matches.
func (a *Adapter) onRequest(nsp string, payload []byte) {
	req, err := wire.DecodeRequest(payload, a.cfg.Limits)
	if err != nil {
		a.decodeError("request", err)
		return
	}
	if id := req.ID(); id != "" {
		if _, mine := a.lookup(id); mine {
			return // this node's own request: it answered itself already (onrequest checks this.requests)
		}
	}
	ns := a.io.Namespace(nsp)
	if ns == nil {
		ns = a.io.Of(nsp) // answer about an empty namespace rather than stay silent
	}
	ch := a.channels(nsp)
	respond := func(r wire.Response) { a.respond(ch.Response, r) }
	a.stats.served.Add(1)
	switch r := req.(type) {
	case *wire.SocketsRequest:
		respond(&wire.SocketsResponse{RequestID: r.RequestID, Sockets: ns.To(r.Rooms...).SocketIDs()})
	case *wire.AllRoomsRequest:
		respond(&wire.AllRoomsResponse{RequestID: r.RequestID, Rooms: allRooms(ns)})
	case *wire.SocketsJoinRequest: // applied by every node, the sender included
		selectOp(ns, r.Opts).SocketsJoin(r.Rooms...)
	case *wire.SocketsLeaveRequest:
		selectOp(ns, r.Opts).SocketsLeave(r.Rooms...)
	case *wire.DisconnectSocketsRequest:
		selectOp(ns, r.Opts).DisconnectSockets(r.Close)
	case *wire.RemoteJoinRequest: // adapter ≤ 7: the owner of the socket answers
		if s := ns.Socket(r.SID); s != nil {
			s.Join(r.Room)
			respond(&wire.RemoteDoneResponse{RequestID: r.RequestID, Of: wire.TypeRemoteJoin})
		}
	case *wire.RemoteLeaveRequest:
		if s := ns.Socket(r.SID); s != nil {
			s.Leave(r.Room)
			respond(&wire.RemoteDoneResponse{RequestID: r.RequestID, Of: wire.TypeRemoteLeave})
		}
	case *wire.RemoteDisconnectRequest:
		if s := ns.Socket(r.SID); s != nil {
			s.Disconnect(r.Close)
			respond(&wire.RemoteDoneResponse{RequestID: r.RequestID, Of: wire.TypeRemoteDisconnect})
		}
	case *wire.FetchSocketsRequest:
		local := selectOp(ns, r.Opts).Sockets()
		out := make([]wire.RemoteSocket, 0, len(local))
		for _, s := range local {
			out = append(out, remoteSocket(s))
		}
		respond(&wire.FetchSocketsResponse{RequestID: r.RequestID, Sockets: out, UID: a.uid})
	case *wire.ServerSideEmitRequest:
		if r.UID != a.uid {
			a.onServerSideEmit(ch, r)
		}
	case *wire.BroadcastRequest:
		switch {
		case r.UID == a.uid:
		case r.CountOnly:
			a.onCountedBroadcast(ns, ch, r)
		default:
			a.onBroadcastWithAck(ns, ch, r)
		}
	}
}

func selectOp(ns *socketio.Namespace, sel wire.Selector) socketio.BroadcastOperator {
	return ns.To(sel.Rooms...).Except(sel.Except...)
}

// allRooms lists the namespace's rooms with the socket-id rooms, as socket.io's
// adapter.rooms holds them.
func allRooms(ns *socketio.Namespace) []string {
	return append(ns.Rooms(), ns.To().SocketIDs()...)
}

func (a *Adapter) respond(channel string, r wire.Response) {
	payload, err := wire.EncodeResponse(r)
	if err != nil {
		a.log.Warn("cluster: response not sent: encoding failed", "err", err.Error())
		return
	}
	a.enqueue(channel, payload)
}

// remoteSocket describes a local socket as a fetchSockets answer (socket.io
// RemoteSocket: id, handshake, rooms, data).
func remoteSocket(s *socketio.Socket) wire.RemoteSocket {
	hs := s.Handshake()
	headers := map[string]any{}
	for k, v := range hs.Header() {
		if len(v) == 1 {
			headers[strings.ToLower(k)] = v[0]
		} else {
			headers[strings.ToLower(k)] = v
		}
	}
	query := map[string]any{}
	for k, v := range hs.Query() {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			query[k] = v
		}
	}
	hj, _ := json.Marshal(headers)
	qj, _ := json.Marshal(query)
	// socket.data, as Node peers expect it; a Herald socket with no application data
	// but a user reports {"user": id}, so a cluster-wide fetch tells who is connected.
	var data json.RawMessage
	if d := s.Data(); d != nil {
		data, _ = json.Marshal(d)
	} else if u := s.User(); u != "" {
		data, _ = json.Marshal(map[string]string{"user": u})
	}
	return wire.RemoteSocket{
		ID: s.ID(),
		Handshake: wire.Handshake{
			Headers: hj, Query: qj, Auth: hs.Auth,
			Time:    hs.Time.Format("Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"),
			Address: hostOf(hs.RemoteAddr), XDomain: hs.HeaderValue("Origin") != "", Secure: hs.Secure,
			Issued: hs.Time.UnixMilli(), URL: hs.URL,
		},
		Rooms: s.Rooms(),
		Data:  data,
	}
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// ServerSideEmitHandler handles an event another node sent with ServerSideEmit. ack is
// nil when the sender wants no acknowledgement; otherwise call it once with one value.
type ServerSideEmitHandler func(nsp string, args []json.RawMessage, ack func(any))

// OnServerSideEmit registers the handler for an event sent by other nodes with
// ServerSideEmit (socket.io's io.on(event) for serverSideEmit).
func (a *Adapter) OnServerSideEmit(event string, h ServerSideEmitHandler) {
	a.sseMu.Lock()
	if a.sse == nil {
		a.sse = make(map[string]ServerSideEmitHandler)
	}
	a.sse[event] = h
	a.sseMu.Unlock()
}

func (a *Adapter) onServerSideEmit(ch wire.Channels, r *wire.ServerSideEmitRequest) {
	if len(r.Data) == 0 {
		return
	}
	var event string
	if json.Unmarshal(r.Data[0], &event) != nil {
		return
	}
	a.sseMu.RLock()
	h := a.sse[event]
	a.sseMu.RUnlock()
	if h == nil {
		return
	}
	var ack func(any)
	if r.RequestID != "" {
		var once sync.Once
		ack = func(v any) {
			once.Do(func() {
				data, err := json.Marshal(v)
				if err != nil {
					return
				}
				// Always on the shared response channel (lib/index.ts).
				a.respond(ch.Response, &wire.ServerSideEmitResponse{RequestID: r.RequestID, Data: data})
			})
		}
	}
	h(ch.Nsp, r.Data[1:], ack)
}

// onBroadcastWithAck delivers another node's broadcast-with-acknowledgements and
// reports back: first how many clients it reached (even 0), then each client's answer
// (lib/index.ts onrequest BROADCAST).
func (a *Adapter) onBroadcastWithAck(ns *socketio.Namespace, ch wire.Channels, r *wire.BroadcastRequest) {
	event, ok := r.Packet.Event()
	if !ok {
		return
	}
	timeout := a.cfg.RequestTimeout
	if r.Opts.Flags.Timeout != nil {
		timeout = *r.Opts.Flags.Timeout
	}
	// Acks can arrive before the count is queued; hold them until it is, so the
	// requester sees the count first, as from a Node peer.
	var mu sync.Mutex
	counted := false
	var early []wire.Response
	send := func(resp wire.Response) {
		mu.Lock()
		if !counted {
			early = append(early, resp)
			mu.Unlock()
			return
		}
		mu.Unlock()
		a.respond(ch.Response, resp)
	}
	args := socketio.Args{Raw: r.Packet.Data.Raw[1:], Attachments: r.Packet.Data.Attachments}
	n, err := selectOp(ns, wire.Selector{Rooms: r.Opts.Rooms, Except: r.Opts.Except}).
		EmitWithAckFunc(timeout, event, func(ack socketio.Args) {
			first := wire.Args{Raw: []json.RawMessage{json.RawMessage("null")}, Attachments: ack.Attachments}
			if len(ack.Raw) > 0 {
				first.Raw[0] = ack.Raw[0]
			}
			send(&wire.BroadcastAckResponse{RequestID: r.RequestID, Packet: first})
		}, args)
	if err != nil {
		n = 0
	}
	a.respond(ch.Response, &wire.BroadcastClientCountResponse{RequestID: r.RequestID, ClientCount: n})
	mu.Lock()
	counted = true
	held := early
	early = nil
	mu.Unlock()
	for _, resp := range held {
		a.respond(ch.Response, resp)
	}
}

// ---- requests from this node ----

// pendingRequest is one request this node sent and waits on.
type pendingRequest struct {
	typ       wire.RequestType
	responses chan wire.Response
}

func (a *Adapter) lookup(id string) (wire.RequestType, bool) {
	a.reqMu.Lock()
	defer a.reqMu.Unlock()
	p, ok := a.requests[id]
	if !ok {
		return 0, false
	}
	return p.typ, true
}

func (a *Adapter) onResponse(payload []byte) {
	resp, err := wire.DecodeResponse(payload, a.cfg.Limits, a.lookup)
	if errors.Is(err, wire.ErrUnknownRequest) {
		return // another node's request: every node sees every response
	}
	if err != nil {
		a.decodeError("response", err)
		return
	}
	id := resp.ID()
	a.reqMu.Lock()
	p := a.requests[id]
	a.reqMu.Unlock()
	if p == nil {
		return
	}
	select {
	case p.responses <- resp:
	default: // the requester gave up or has all it needs
	}
}

// ErrTimeout is returned, wrapped, when some nodes did not answer a request in time;
// the answers that did arrive are returned with it.
var ErrTimeout = errors.New("cluster: timeout waiting for responses")

// others returns how many other nodes serve nsp: subscribers of its request channel
// minus this one, as the redis-adapter's serverCount does.
func (a *Adapter) others(ctx context.Context, nsp string) (int, error) {
	c, ok := a.bus.(interface {
		NumSub(ctx context.Context, channel string) (int64, error)
	})
	if !ok {
		return 0, errors.New("cluster: the bus cannot count subscribers")
	}
	n, err := c.NumSub(ctx, a.channels(nsp).Request)
	if err != nil {
		return 0, err
	}
	return max(int(n)-1, 0), nil
}

// register records a request this node is about to send, so its responses are routed
// to p.responses; the caller must unregister it.
func (a *Adapter) register(id string, typ wire.RequestType, capacity int) *pendingRequest {
	p := &pendingRequest{typ: typ, responses: make(chan wire.Response, capacity)}
	a.reqMu.Lock()
	if a.requests == nil {
		a.requests = make(map[string]*pendingRequest)
	}
	a.requests[id] = p
	a.reqMu.Unlock()
	return p
}

func (a *Adapter) unregister(id string) {
	a.reqMu.Lock()
	delete(a.requests, id)
	a.reqMu.Unlock()
}

// request publishes req and collects the responses that collect accepts until it
// reports done or the context ends; then the error says how many of the n expected
// nodes answered.
func (a *Adapter) request(ctx context.Context, nsp string, id string, req wire.Request, n int, collect func(wire.Response) bool) error {
	p := a.register(id, req.Type(), n)
	defer a.unregister(id)
	if err := a.publishRequest(ctx, nsp, req); err != nil {
		return err
	}
	answered := 0
	for {
		select {
		case r := <-p.responses:
			answered++
			if collect(r) {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %d of %d other nodes answered (%v)", ErrTimeout, req.Type(), answered, n, ctx.Err())
		}
	}
}

func (a *Adapter) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.cfg.RequestTimeout)
}

// FetchSockets returns the sockets of nsp in any of rooms (all when empty) on every
// node: this node's first, then the other nodes' as they answer. When some nodes do
// not answer within the request timeout, it returns what arrived with ErrTimeout.
func (a *Adapter) FetchSockets(ctx context.Context, nsp string, rooms, except []string) ([]wire.RemoteSocket, error) {
	var out []wire.RemoteSocket
	_, err := a.fetch(ctx, nsp, rooms, except, func(_ string, s []wire.RemoteSocket) { out = append(out, s...) })
	return out, err
}

// CountSockets counts the sockets of nsp in any of rooms (all when empty), minus
// those in except, on every node, and says where they are (Delivery.Nodes, with a
// node's count). Nodes that do not answer within the request timeout are in Missing
// when they are registered Herald nodes; the error is then nil. It fails only when
// the bus does.
func (a *Adapter) CountSockets(ctx context.Context, nsp string, rooms, except []string) (Delivery, error) {
	var d Delivery
	expected, err := a.fetch(ctx, nsp, rooms, except, func(uid string, s []wire.RemoteSocket) {
		d.Sockets += len(s)
		d.Nodes = append(d.Nodes, NodeDelivery{ID: uid, Sockets: len(s)})
	})
	d.Expected = expected
	if err != nil && !errors.Is(err, ErrTimeout) {
		return d, err
	}
	if !d.Complete() {
		d.Missing = a.silent(d.Nodes)
	}
	return d, nil
}

// fetch sends a FETCH_SOCKETS request and passes each node's answer to each, this
// node's first; it returns how many nodes were asked, this one included.
func (a *Adapter) fetch(ctx context.Context, nsp string, rooms, except []string, each func(uid string, s []wire.RemoteSocket)) (int, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var local []wire.RemoteSocket
	for _, s := range a.io.Of(nsp).To(rooms...).Except(except...).Sockets() {
		local = append(local, remoteSocket(s))
	}
	each(a.uid, local)
	n, err := a.others(ctx, nsp)
	if err != nil || n == 0 {
		return 1, err
	}
	id := base64id.New()
	got := 0
	err = a.request(ctx, nsp, id, &wire.FetchSocketsRequest{UID: a.uid, RequestID: id, Opts: wire.Selector{Rooms: rooms, Except: except}}, n,
		func(r wire.Response) bool {
			if f, ok := r.(*wire.FetchSocketsResponse); ok {
				each(f.UID, f.Sockets)
				got++
			}
			return got == n
		})
	return 1 + n, err
}

// AllRooms returns the rooms of nsp on every node (socket-id rooms included).
func (a *Adapter) AllRooms(ctx context.Context, nsp string) ([]string, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	set := map[string]struct{}{}
	for _, r := range allRooms(a.io.Of(nsp)) {
		set[r] = struct{}{}
	}
	n, err := a.others(ctx, nsp)
	if err == nil && n > 0 {
		id := base64id.New()
		got := 0
		err = a.request(ctx, nsp, id, &wire.AllRoomsRequest{UID: a.uid, RequestID: id}, n, func(r wire.Response) bool {
			if ar, ok := r.(*wire.AllRoomsResponse); ok {
				for _, room := range ar.Rooms {
					set[room] = struct{}{}
				}
				got++
			}
			return got == n
		})
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	return out, err
}

// SocketsJoin makes the sockets of nsp matching rooms/except join join, on every node.
func (a *Adapter) SocketsJoin(ctx context.Context, nsp string, rooms, except, join []string) error {
	return a.publishRequest(ctx, nsp, &wire.SocketsJoinRequest{UID: a.uid, Opts: wire.Selector{Rooms: rooms, Except: except}, Rooms: join})
}

// SocketsLeave makes the matching sockets leave rooms, on every node.
func (a *Adapter) SocketsLeave(ctx context.Context, nsp string, rooms, except, leave []string) error {
	return a.publishRequest(ctx, nsp, &wire.SocketsLeaveRequest{UID: a.uid, Opts: wire.Selector{Rooms: rooms, Except: except}, Rooms: leave})
}

// DisconnectSockets disconnects the matching sockets on every node (close: also their
// connections).
func (a *Adapter) DisconnectSockets(ctx context.Context, nsp string, rooms, except []string, close bool) error {
	return a.publishRequest(ctx, nsp, &wire.DisconnectSocketsRequest{UID: a.uid, Opts: wire.Selector{Rooms: rooms, Except: except}, Close: close})
}

// publishRequest publishes a request that every node applies, this one included (it
// receives its own request through its subscription, as Node adapters do).
func (a *Adapter) publishRequest(ctx context.Context, nsp string, req wire.Request) error {
	payload, err := wire.EncodeRequest(req)
	if err != nil {
		return err
	}
	return a.bus.Publish(ctx, a.channels(nsp).Request, payload)
}

// ServerSideEmit sends an event to the other nodes' OnServerSideEmit handlers (and
// Node peers' io.on handlers). With wantAcks, it waits for every other node's single
// acknowledgement value and returns them; a timeout returns what arrived with
// ErrTimeout.
func (a *Adapter) ServerSideEmit(ctx context.Context, nsp, event string, wantAcks bool, args ...any) ([]json.RawMessage, error) {
	data := make([]json.RawMessage, 0, 1+len(args))
	name, _ := json.Marshal(event)
	data = append(data, name)
	for _, v := range args {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		data = append(data, b)
	}
	if !wantAcks {
		return nil, a.publishRequest(ctx, nsp, &wire.ServerSideEmitRequest{UID: a.uid, Data: data})
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	n, err := a.others(ctx, nsp)
	if err != nil || n == 0 {
		return nil, err
	}
	id := base64id.New()
	var out []json.RawMessage
	err = a.request(ctx, nsp, id, &wire.ServerSideEmitRequest{UID: a.uid, RequestID: id, Data: data}, n, func(r wire.Response) bool {
		if s, ok := r.(*wire.ServerSideEmitResponse); ok {
			out = append(out, s.Data)
		}
		return len(out) == n
	})
	return out, err
}

// BroadcastWithAck sends an event to the matching sockets of every node, asking each
// client for an acknowledgement, and returns every client's first ack value (binary
// values as placeholders, with the attachments) and how many clients were asked. It
// waits for the other nodes' client counts and all acks until timeout, then returns
// what arrived with ErrTimeout.
func (a *Adapter) BroadcastWithAck(ctx context.Context, nsp string, rooms, except []string, timeout time.Duration, event string, args ...any) ([]socketio.Args, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := a.others(ctx, nsp)
	if err != nil {
		return nil, 0, err
	}
	// Local and remote acks arrive on one channel, so one loop sees them all.
	id := base64id.New()
	p := a.register(id, wire.TypeBroadcast, 1024)
	defer a.unregister(id)
	local := make(chan socketio.Args, 1024)
	expected, err := a.io.Of(nsp).To(rooms...).Except(except...).EmitWithAckFunc(timeout, event, func(ack socketio.Args) {
		select {
		case local <- ack:
		default: // more acks than the buffer: the caller asked too many clients at once
		}
	}, args...)
	if err != nil {
		return nil, 0, err
	}
	if n > 0 {
		enc, err := remoteArgs(args)
		if err != nil {
			return nil, expected, err
		}
		to := timeout
		req := &wire.BroadcastRequest{UID: a.uid, RequestID: id,
			Packet: wire.Packet{Nsp: nsp, Data: eventData(event, enc)},
			Opts:   wire.Options{Rooms: rooms, Except: except, Flags: wire.Flags{Timeout: &to}}}
		if err := a.publishRequest(ctx, nsp, req); err != nil {
			return nil, expected, err
		}
	}
	var acks []socketio.Args
	counts := 0
	for counts < n || len(acks) < expected {
		select {
		case ack := <-local:
			acks = append(acks, ack)
		case r := <-p.responses:
			switch r := r.(type) {
			case *wire.BroadcastClientCountResponse:
				counts++
				expected += r.ClientCount
			case *wire.BroadcastAckResponse:
				acks = append(acks, socketio.Args(r.Packet))
			}
		case <-ctx.Done():
			return acks, expected, fmt.Errorf("%w: broadcast with acks: %d of %d other nodes reported, %d of %d clients answered (%v)",
				ErrTimeout, counts, n, len(acks), expected, ctx.Err())
		}
	}
	return acks, expected, nil
}

// remoteArgs encodes emit arguments for the bus: JSON values, []byte as attachments.
func remoteArgs(args []any) (socketio.Args, error) {
	var out socketio.Args
	for _, v := range args {
		switch v := v.(type) {
		case []byte:
			out.Raw = append(out.Raw, json.RawMessage(fmt.Sprintf(`{"_placeholder":true,"num":%d}`, len(out.Attachments))))
			out.Attachments = append(out.Attachments, v)
		case socketio.Args:
			if len(v.Attachments) > 0 && len(out.Attachments) > 0 {
				return out, socketio.ErrArgsAfterBinary
			}
			out.Raw = append(out.Raw, v.Raw...)
			out.Attachments = append(out.Attachments, v.Attachments...)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return out, err
			}
			out.Raw = append(out.Raw, b)
		}
	}
	return out, nil
}
