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

// uploadEventGap is the least time between two rounds of upload events
// on one stream: progress moves with every stored piece, and a page
// needs a few updates a second, not hundreds.
const uploadEventGap = 100 * time.Millisecond

// apiFilesEvents streams upload progress as server-sent events: an
// "upload" event (the upload JSON of /api/files/progress) for every
// upload in the table at once, then for each upload whenever it moved on,
// at most every uploadEventGap; a comment as keep-alive; "bye" when the
// conduit shuts down. The Files page opens it while it uploads; the
// polling endpoint stays for scripts.
func (s *Server) apiFilesEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	keepAlive := time.NewTicker(max(s.cfg.StatusInterval, time.Second))
	defer keepAlive.Stop()
	sent := map[string]uint64{} // upload ID → version sent
	var buf bytes.Buffer
	send := func() bool {
		buf.Reset()
		list := s.uploads.list()
		if len(sent) > len(list) {
			// Forget uploads the table has dropped.
			live := make(map[string]bool, len(list))
			for _, u := range list {
				live[u.ID] = true
			}
			for id := range sent {
				if !live[id] {
					delete(sent, id)
				}
			}
		}
		for _, u := range list {
			if sent[u.ID] == u.Version {
				continue
			}
			sent[u.ID] = u.Version
			b, err := json.Marshal(u)
			if err != nil {
				return false
			}
			buf.WriteString("event: " + u.Kind + "\ndata: ")
			buf.Write(b)
			buf.WriteString("\n\n")
		}
		if buf.Len() == 0 {
			return true
		}
		_, err := w.Write(buf.Bytes())
		return err == nil && rc.Flush() == nil
	}
	changed := s.uploads.changes()
	if !send() || rc.Flush() != nil {
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
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
			continue
		case <-changed:
		}
		// Let a burst of progress settle into one round of events.
		select {
		case <-time.After(uploadEventGap):
		case <-r.Context().Done():
			return
		}
		changed = s.uploads.changes()
		if !send() {
			return
		}
	}
}
