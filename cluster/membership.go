package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/bus"
)

// Membership defaults: a node renews its entry every 2s and is dropped 3s after its
// last renewal, so a killed node leaves the list within 3s.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultHeartbeatTTL      = 3 * time.Second
)

// NodeInfo describes a live Herald node.
type NodeInfo struct {
	ID      string    `json:"id"`
	Address string    `json:"address,omitempty"`
	Started time.Time `json:"started"`
	Sockets int       `json:"sockets"`
}

// membersSet names the registry set of this cluster.
func (a *Adapter) membersSet() string { return a.cfg.Key + "-nodes" }

// heartbeat registers this node and renews the entry until the adapter closes; on
// close it deregisters, so the others see it leave at once.
func (a *Adapter) heartbeat(reg bus.Registry) {
	defer a.hbWG.Done()
	beat := func() {
		info, _ := json.Marshal(a.self())
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.HeartbeatInterval)
		defer cancel()
		if err := reg.Register(ctx, a.membersSet(), a.uid, info, a.cfg.HeartbeatTTL); err != nil {
			if !a.warnedBeat.Swap(true) {
				a.log.Warn("cluster: heartbeat failed; other nodes will drop this one from their list", "err", err.Error())
			}
			return
		}
		a.warnedBeat.Store(false)
	}
	beat()
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = reg.Deregister(ctx, a.membersSet(), a.uid)
			cancel()
			return
		case <-t.C:
			beat()
		}
	}
}

// self describes this node.
func (a *Adapter) self() NodeInfo {
	n := 0
	for _, ns := range a.io.Namespaces() {
		n += ns.Count()
	}
	return NodeInfo{ID: a.uid, Address: a.cfg.Address, Started: a.started, Sockets: n}
}

// Nodes lists the live Herald nodes, this one included, sorted by id. Node.js peers
// do not register and are not listed. Without a registry on the bus, only this node.
func (a *Adapter) Nodes(ctx context.Context) ([]NodeInfo, error) {
	reg, ok := a.bus.(bus.Registry)
	if !ok {
		return []NodeInfo{a.self()}, nil
	}
	m, err := reg.Members(ctx, a.membersSet())
	if err != nil {
		return nil, err
	}
	out := make([]NodeInfo, 0, len(m))
	for id, raw := range m {
		var info NodeInfo
		if json.Unmarshal(raw, &info) != nil || info.ID == "" {
			info = NodeInfo{ID: id}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(x, y NodeInfo) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}
