package conduit

import "net/http"

// networkRoutes registers extra Network-page routes (tree picture data, per-peer rates).
func (s *Server) networkRoutes(mux *http.ServeMux) {
	_ = mux
}
