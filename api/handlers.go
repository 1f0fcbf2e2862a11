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

// UserResponse is the answer of GET /api/v1/users/{id}.
type UserResponse struct {
	User    string `json:"user"`
	Online  bool   `json:"online"`
	Sockets int    `json:"sockets"`
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
	if q := r.URL.Query().Get("wait"); req.Wait || (q != "" && q != "0" && q != "false") {
		s.refuse(w, r, log, http.StatusNotImplemented, "wait is not implemented yet")
		return
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
	log.LogAttrs(r.Context(), slog.LevelInfo, "api: emit", slog.String("id", id), slog.String("to", req.To.Kind),
		slog.Int("local", n))
	writeJSON(w, http.StatusAccepted, EmitResponse{ID: id})
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
	n, err := s.count(r.Context(), nsp, s.userRoom(id))
	if err != nil {
		s.unavailable(w, r, log, err)
		return
	}
	writeJSON(w, http.StatusOK, UserResponse{User: id, Online: n > 0, Sockets: n})
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
