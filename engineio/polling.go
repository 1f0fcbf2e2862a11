package engineio

import (
	"io"
	"net/http"
	"strconv"
)

// serveGet answers a long-polling GET with everything queued, holding it until there
// is something to send (engine.io transports/polling.ts onPollRequest).
func (s *Session) serveGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.getting {
		s.mu.Unlock()
		s.srv.abort(w, errBadRequest)
		s.close(ReasonTransportError, false) // "overlap from client"
		return
	}
	s.getting = true
	for !s.closed && s.kind == kindPolling && s.upgrade != upgradePaused && len(s.queue) == 0 {
		ch := make(chan struct{})
		s.poll = ch
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			s.mu.Lock()
			if s.poll == ch {
				s.poll = nil
			}
			s.getting = false
			s.mu.Unlock()
			// "poll connection closed prematurely"
			s.close(ReasonTransportError, false)
			return
		}
		s.mu.Lock()
	}
	s.getting = false
	var body []byte
	finished := false
	if !s.closed && (s.kind != kindPolling || s.upgrade == upgradePaused) {
		body = append(body, byte(PacketNoop))
	} else {
		if s.closed && len(s.queue) == 0 {
			body = append(body, byte(PacketClose))
			finished = true
		}
		for i, f := range s.queue {
			if i > 0 {
				body = append(body, recordSeparator)
			}
			body = AppendPollingPacket(body, !f.binary, f.Data())
		}
		clear(s.queue)
		s.queue = s.queue[:0]
		s.queued = 0
	}
	s.mu.Unlock()
	if finished {
		s.srv.sessions.remove(s)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// servePost reads a polling payload and dispatches its packets in order.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.posting {
		s.mu.Unlock()
		s.srv.abort(w, errBadRequest)
		s.close(ReasonTransportError, false)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	max := int64(s.srv.cfg.MaxPayload)
	if r.ContentLength > max {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		s.close(ReasonPayloadTooLarge, true)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		s.srv.abort(w, errBadRequest)
		s.close(ReasonTransportError, false)
		return
	}
	if int64(len(body)) > max {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		s.close(ReasonPayloadTooLarge, true)
		return
	}
	var packets []Packet
	if err := DecodePayload(body, func(p Packet) error {
		packets = append(packets, p)
		return nil
	}); err != nil {
		s.srv.abort(w, errBadRequest)
		s.srv.log.Info("engineio: bad polling payload", "sid", s.id, "err", err.Error())
		s.close(ReasonParseError, true)
		return
	}
	for _, p := range packets {
		s.onPacket(p)
	}
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}
