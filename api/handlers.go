package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/cluster"
	"github.com/heraldhq/herald/socketio"
)

// EmitResponse is the 202 answer of POST /api/v1/emit and /api/v1/disconnect.
type EmitResponse struct {
	ID string `json:"id"`
}

// DeliveryResponse is the 200 answer of POST /api/v1/emit with "wait": the delivery as
// the nodes reported it (cluster.Delivery).
type DeliveryResponse struct {
	ID string `json:"id"`
	// Nodes is how many nodes queued the event to at least one socket; Sockets how
	// many sockets that makes, on every node that answered.
	Nodes   int `json:"nodes"`
	Sockets int `json:"sockets"`
	// Answered and Expected count the nodes that reported and that were asked, this
	// one included; Complete is Answered == Expected.
	Answered int  `json:"answered"`
	Expected int  `json:"expected"`
	Complete bool `json:"complete"`
	// PerNode is each answering node's count; a Node.js socket.io peer has node "".
	PerNode []cluster.NodeDelivery `json:"perNode"`
	// Missing lists the Herald nodes of the membership list that did not answer in
	// time (Node.js peers are not listed: Expected - Answered counts them too).
	Missing []string `json:"missing"`
}

// UserResponse is the answer of GET /api/v1/users/{id}.
type UserResponse struct {
	User    string `json:"user"`
	Online  bool   `json:"online"`
	Sockets int    `json:"sockets"`
	// Nodes lists the nodes holding the user's sockets, with their count; a Node.js
	// socket.io peer has node "".
	Nodes []cluster.NodeDelivery `json:"nodes"`
	// Complete is false when some node did not answer in time; Missing names the
	// Herald nodes among them.
	Complete bool     `json:"complete"`
	Missing  []string `json:"missing,omitempty"`
}

// CountResponse is the answer of GET /api/v1/rooms/{room}/count.
type CountResponse struct {
	Count int `json:"count"`
}

// NodesResponse is the answer of GET /api/v1/nodes.
type NodesResponse struct {
	Nodes []cluster.NodeInfo `json:"nodes"`
}

// LocalNodeID is the id GET /api/v1/nodes gives a node that is not in a cluster.
const LocalNodeID = "local"

// emit handles POST /api/v1/emit.
func (s *Server) emit(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := DecodeEmit(body)
	if err != nil {
		s.refuse(w, r, log, http.StatusBadRequest, err.Error())
		return
	}
	log = log.With("nsp", req.Namespace, "event", req.Event)
	if q := r.URL.Query().Get("wait"); q != "" && q != "0" && q != "false" {
		req.Wait = true
	}
	if err := s.checkBus(r.Context()); err != nil {
		log.LogAttrs(r.Context(), slog.LevelWarn, "api: emit refused: cluster bus down", slog.String("err", err.Error()))
		writeError(w, http.StatusServiceUnavailable, "cluster bus is down; nothing was emitted")
		return
	}
	rooms, except := s.rooms(req.To, req.Except)
	var args []any
	if req.Data != nil {
		args = []any{req.Data} // json.RawMessage: sent verbatim
	}
	if req.Wait {
		s.emitCounted(w, r, log, req, rooms, except, args)
		return
	}
	n, err := s.cfg.IO.Of(req.Namespace).To(rooms...).Except(except...).EmitCount(req.Event, args...)
	if errors.Is(err, socketio.ErrReservedEvent) {
		s.refuse(w, r, log, http.StatusBadRequest, "event: "+err.Error())
		return
	}
	if err != nil {
		log.LogAttrs(r.Context(), slog.LevelError, "api: emit failed", slog.String("err", err.Error()))
		writeError(w, http.StatusInternalServerError, "emit failed")
		return
	}
	id := newID()
	// Debug: an emit is the API's hot path (one log line per emit at thousands a
	// second would cost more than the emit); refusals and failures log at Info and up.
	log.LogAttrs(r.Context(), slog.LevelDebug, "api: emit", slog.String("id", id), slog.String("to", req.To.Kind),
		slog.Int("local", n))
	writeJSON(w, http.StatusAccepted, EmitResponse{ID: id})
}

// emitCounted emits and answers with the delivery accounting (cluster.EmitCounted),
// waiting at most the request's timeout (Config.WaitTimeout by default) for the nodes'
// counts.
func (s *Server) emitCounted(w http.ResponseWriter, r *http.Request, log *slog.Logger, req *EmitRequest, rooms, except []string, args []any) {
	timeout := req.Timeout
	if timeout == 0 {
		timeout = s.cfg.WaitTimeout
	}
	var d cluster.Delivery
	var err error
	if s.cfg.Cluster == nil {
		var n int
		n, err = s.cfg.IO.Of(req.Namespace).To(rooms...).Except(except...).EmitCount(req.Event, args...)
		d = cluster.Delivery{Sockets: n, Nodes: []cluster.NodeDelivery{{ID: LocalNodeID, Sockets: n}}, Expected: 1}
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		d, err = s.cfg.Cluster.EmitCounted(ctx, req.Namespace, rooms, except, req.Event, args...)
		cancel()
	}
	switch {
	case errors.Is(err, socketio.ErrReservedEvent):
		s.refuse(w, r, log, http.StatusBadRequest, "event: "+err.Error())
		return
	case err != nil:
		log.LogAttrs(r.Context(), slog.LevelWarn, "api: counted emit failed", slog.String("err", err.Error()))
		writeError(w, http.StatusServiceUnavailable, "cluster bus is down; the event reached this node's sockets at most")
		return
	}
	id := newID()
	resp := DeliveryResponse{ID: id, Nodes: d.Delivered(), Sockets: d.Sockets, Answered: len(d.Nodes), Expected: d.Expected,
		Complete: d.Complete(), PerNode: d.Nodes, Missing: d.Missing}
	if resp.Missing == nil {
		resp.Missing = []string{}
	}
	level := slog.LevelDebug
	if !resp.Complete {
		level = slog.LevelWarn
	}
	log.LogAttrs(r.Context(), level, "api: emit", slog.String("id", id), slog.String("to", req.To.Kind), slog.Bool("wait", true),
		slog.Int("sockets", d.Sockets), slog.Int("answered", len(d.Nodes)), slog.Int("expected", d.Expected),
		slog.Any("missing", d.Missing))
	writeJSON(w, http.StatusOK, resp)
}

// disconnect handles POST /api/v1/disconnect. This node's sockets get the reason; the
// cluster request carries none (the redis-adapter wire has no field for it), so other
// nodes' sockets see socket.io's "server namespace disconnect".
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := DecodeDisconnect(body)
	if err != nil {
		s.refuse(w, r, log, http.StatusBadRequest, err.Error())
		return
	}
	log = log.With("nsp", req.Namespace)
	if err := s.checkBus(r.Context()); err != nil {
		log.LogAttrs(r.Context(), slog.LevelWarn, "api: disconnect refused: cluster bus down", slog.String("err", err.Error()))
		writeError(w, http.StatusServiceUnavailable, "cluster bus is down; nobody was disconnected")
		return
	}
	rooms, except := s.rooms(req.To, req.Except)
	op := s.cfg.IO.Of(req.Namespace).To(rooms...).Except(except...)
	local := op.Sockets()
	for _, sock := range local {
		if req.Reason != "" {
			sock.DisconnectWithReason(req.Reason)
		} else {
			sock.Disconnect(false)
		}
	}
	if s.cfg.Cluster != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		err := s.cfg.Cluster.DisconnectSockets(ctx, req.Namespace, rooms, except, false)
		cancel()
		if err != nil {
			log.LogAttrs(r.Context(), slog.LevelWarn, "api: disconnect not published", slog.Int("local", len(local)), slog.String("err", err.Error()))
			writeError(w, http.StatusServiceUnavailable, "cluster bus is down; only this node's sockets were disconnected")
			return
		}
	}
	id := newID()
	log.LogAttrs(r.Context(), slog.LevelInfo, "api: disconnect", slog.String("id", id), slog.String("to", req.To.Kind),
		slog.Int("local", len(local)), slog.String("reason", req.Reason))
	writeJSON(w, http.StatusAccepted, EmitResponse{ID: id})
}

// user handles GET /api/v1/users/{id}.
func (s *Server) user(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	nsp, ok := s.queryNamespace(w, r, log)
	if !ok {
		return
	}
	id := r.PathValue("id")
	room := s.userRoom(id)
	var d cluster.Delivery
	if s.cfg.Cluster == nil {
		n := 0
		if ns := s.cfg.IO.Namespace(nsp); ns != nil {
			n = ns.RoomSize(room)
		}
		d = cluster.Delivery{Sockets: n, Nodes: []cluster.NodeDelivery{{ID: LocalNodeID, Sockets: n}}, Expected: 1}
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		var err error
		d, err = s.cfg.Cluster.CountSockets(ctx, nsp, []string{room}, nil)
		cancel()
		if err != nil {
			s.unavailable(w, r, log, err)
			return
		}
	}
	resp := UserResponse{User: id, Online: d.Sockets > 0, Sockets: d.Sockets, Nodes: []cluster.NodeDelivery{},
		Complete: d.Complete(), Missing: d.Missing}
	for _, nd := range d.Nodes {
		if nd.Sockets > 0 {
			resp.Nodes = append(resp.Nodes, nd)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// roomCount handles GET /api/v1/rooms/{room}/count.
func (s *Server) roomCount(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	nsp, ok := s.queryNamespace(w, r, log)
	if !ok {
		return
	}
	n, err := s.count(r.Context(), nsp, r.PathValue("room"))
	if err != nil {
		s.unavailable(w, r, log, err)
		return
	}
	writeJSON(w, http.StatusOK, CountResponse{Count: n})
}

// nodes handles GET /api/v1/nodes. Other nodes' socket counts are as of their last
// heartbeat (cluster.DefaultHeartbeatInterval); this node's is current.
func (s *Server) nodes(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	local := 0
	for _, ns := range s.cfg.IO.Namespaces() {
		local += ns.Count()
	}
	if s.cfg.Cluster == nil {
		writeJSON(w, http.StatusOK, NodesResponse{Nodes: []cluster.NodeInfo{{ID: LocalNodeID, Sockets: local}}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	nodes, err := s.cfg.Cluster.Nodes(ctx)
	if err != nil {
		s.unavailable(w, r, log, err)
		return
	}
	for i := range nodes {
		if nodes[i].ID == s.cfg.Cluster.UID() {
			nodes[i].Sockets = local
		}
	}
	writeJSON(w, http.StatusOK, NodesResponse{Nodes: nodes})
}

// count returns how many sockets of nsp are in room on every node.
func (s *Server) count(ctx context.Context, nsp, room string) (int, error) {
	if s.cfg.Cluster == nil {
		ns := s.cfg.IO.Namespace(nsp)
		if ns == nil {
			return 0, nil
		}
		return ns.RoomSize(room), nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	socks, err := s.cfg.Cluster.FetchSockets(ctx, nsp, []string{room}, nil)
	return len(socks), err
}

// queryNamespace reads ?namespace=, "/" when absent.
func (s *Server) queryNamespace(w http.ResponseWriter, r *http.Request, log *slog.Logger) (string, bool) {
	nsp := r.URL.Query().Get("namespace")
	if nsp == "" {
		return DefaultNamespace, true
	}
	if !strings.HasPrefix(nsp, "/") {
		s.refuse(w, r, log, http.StatusBadRequest, "namespace: must start with /, got "+quote(nsp))
		return "", false
	}
	return nsp, true
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// refuse answers a client error and logs it at Info.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, msg string) {
	log.LogAttrs(r.Context(), slog.LevelInfo, "api: refused", slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("err", msg))
	writeError(w, status, msg)
}

// unavailable answers 503 for a cluster operation that failed or timed out.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	log.LogAttrs(r.Context(), slog.LevelWarn, "api: cluster request failed", slog.String("path", r.URL.Path),
		slog.String("err", err.Error()))
	msg := "cluster bus is down"
	if errors.Is(err, cluster.ErrTimeout) {
		msg = "some nodes did not answer in time"
	}
	writeError(w, http.StatusServiceUnavailable, msg)
}
