package conduit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// apiEvents streams server-sent events: a "status" event (statusJSON) at
// once and whenever the lock state or the network view changes, a comment
// line as keep-alive otherwise, and "bye" when the conduit shuts down so
// the page stops reconnecting.
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	tick := time.NewTicker(s.cfg.StatusInterval)
	defer tick.Stop()
	var last []byte
	send := func() bool {
		b, err := json.Marshal(s.statusJSON(r))
		if err != nil {
			return false
		}
		if bytes.Equal(b, last) {
			_, err = w.Write([]byte(": keep-alive\n\n"))
		} else {
			last = b
			_, err = w.Write(append(append([]byte("event: status\ndata: "), b...), '\n', '\n'))
		}
		return err == nil && rc.Flush() == nil
	}
	// The change channel is taken before each send, so that a lock
	// between the send and the select is not missed.
	changed := s.vault.Changed()
	if !send() {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			_, _ = w.Write([]byte("event: bye\ndata: {}\n\n"))
			_ = rc.Flush()
			return
		case <-changed:
		case <-tick.C:
		}
		changed = s.vault.Changed()
		if !send() {
			return
		}
	}
}
