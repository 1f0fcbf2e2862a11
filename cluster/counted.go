package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/bus/redis/wire"
	"github.com/heraldhq/herald/internal/base64id"
	"github.com/heraldhq/herald/socketio"
)

// Delivery accounts for a counted broadcast (EmitCounted): how many sockets each node
// queued the event to, as the nodes themselves reported within the deadline.
type Delivery struct {
	// Sockets is the sum over the nodes that answered.
	Sockets int
	// Nodes lists the nodes that answered, this one first, then in answer order. A
	// Node.js peer answers without an id: its entry has ID "".
	Nodes []NodeDelivery
	// Expected is how many nodes were asked, this one included: the subscribers of
	// the namespace's request channel when the broadcast was sent.
	Expected int
	// Missing lists the registered Herald nodes (Nodes) that did not answer in time.
	// Node.js peers do not register; those that did not answer are only counted, in
	// Expected - len(Nodes).
	Missing []string
}

// NodeDelivery is one node's share of a Delivery.
type NodeDelivery struct {
	ID      string `json:"node"`
	Sockets int    `json:"sockets"`
}

// Complete reports whether every node asked answered.
func (d *Delivery) Complete() bool { return len(d.Nodes) >= d.Expected }

// Delivered returns how many nodes queued the event to at least one socket.
func (d *Delivery) Delivered() int {
	n := 0
	for _, nd := range d.Nodes {
		if nd.Sockets > 0 {
			n++
		}
	}
	return n
}

// EmitCounted broadcasts an event like nsp.To(rooms...).Except(except...).Emit, and
// waits until every node has said how many of its sockets it queued the event to, or
// until ctx ends: then it returns what arrived, with the silent Herald nodes in
// Missing and no error. It fails only when the event is refused (a reserved name, an
// argument that does not encode) or the bus cannot carry the request; the local
// delivery has happened by then in the second case.
//
// On the wire it is the redis-adapter's BROADCAST request (type 7, as emitWithAck),
// marked countOnly: Herald nodes deliver a plain event and answer with their count and
// id. Node.js peers ignore the mark: they answer with their count, and their clients
// receive the event with an ack id, which socket.io keeps per socket until the client
// answers or disconnects.
//
// Unlike Emit it reaches every node through the request channel, not only those that
// hold the rooms, and it is not ordered with the plain broadcasts of the same rooms.
func (a *Adapter) EmitCounted(ctx context.Context, nsp string, rooms, except []string, event string, args ...any) (Delivery, error) {
	others, err := a.others(ctx, nsp)
	if err != nil {
		return Delivery{}, err
	}
	enc, err := remoteArgs(args)
	if err != nil {
		return Delivery{}, err
	}
	local, err := a.io.Of(nsp).To(rooms...).Except(except...).Local().EmitCount(event, enc)
	if err != nil {
		return Delivery{}, err
	}
	d := Delivery{Sockets: local, Nodes: []NodeDelivery{{ID: a.uid, Sockets: local}}, Expected: 1 + others}
	if others == 0 {
		return d, nil
	}
	id := base64id.New()
	req := &wire.BroadcastRequest{UID: a.uid, RequestID: id, CountOnly: true,
		Packet: wire.Packet{Nsp: nsp, Data: eventData(event, enc)},
		Opts:   wire.Options{Rooms: rooms, Except: except}}
	err = a.request(ctx, nsp, id, req, others, func(r wire.Response) bool {
		if c, ok := r.(*wire.BroadcastClientCountResponse); ok {
			d.Sockets += c.ClientCount
			d.Nodes = append(d.Nodes, NodeDelivery{ID: c.UID, Sockets: c.ClientCount})
		}
		return len(d.Nodes) == d.Expected
	})
	if err != nil && !errors.Is(err, ErrTimeout) {
		return d, err
	}
	if !d.Complete() {
		d.Missing = a.silent(d.Nodes)
	}
	return d, nil
}

// silent lists the registered nodes other than those in answered.
func (a *Adapter) silent(answered []NodeDelivery) []string {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.RequestTimeout)
	defer cancel()
	nodes, err := a.Nodes(ctx)
	if err != nil {
		a.log.Warn("cluster: listing the nodes that did not answer", "err", err.Error())
		return nil
	}
	var out []string
	for _, n := range nodes {
		if !slices.ContainsFunc(answered, func(d NodeDelivery) bool { return d.ID == n.ID }) {
			out = append(out, n.ID)
		}
	}
	return out
}

// onCountedBroadcast delivers another node's counted broadcast to this node's sockets
// and answers with how many it reached, and this node's id.
func (a *Adapter) onCountedBroadcast(ns *socketio.Namespace, ch wire.Channels, r *wire.BroadcastRequest) {
	n := 0
	if event, ok := r.Packet.Event(); ok {
		args := socketio.Args{Raw: r.Packet.Data.Raw[1:], Attachments: r.Packet.Data.Attachments}
		var err error
		if n, err = selectOp(ns, wire.Selector{Rooms: r.Opts.Rooms, Except: r.Opts.Except}).Local().EmitCount(event, args); err != nil {
			a.decodeError("counted broadcast", fmt.Errorf("event %s: %w", strings.TrimSpace(string(r.Packet.Data.Raw[0])), err))
			n = 0
		}
	}
	a.respond(ch.Response, &wire.BroadcastClientCountResponse{RequestID: r.RequestID, ClientCount: n, UID: a.uid})
}
