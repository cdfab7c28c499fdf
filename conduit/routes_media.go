package conduit

import "net/http"

// mediaRoutes registers extra Files/media routes (upload progress events, video).
func (s *Server) mediaRoutes(mux *http.ServeMux) {
	_ = mux
}
