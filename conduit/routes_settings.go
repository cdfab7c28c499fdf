package conduit

import "net/http"

// settingsRoutes registers extra Settings routes (key file, nodes I own).
func (s *Server) settingsRoutes(mux *http.ServeMux) {
	_ = mux
}
