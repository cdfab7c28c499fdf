package conduit

import "net/http"

// mediaRoutes registers the Files routes that grew after the first pages:
// the upload progress event stream.
func (s *Server) mediaRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/files/events", s.apiFilesEvents)
}
