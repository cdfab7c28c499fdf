package conduit

import "net/http"

// settingsRoutes registers the Settings page's key file and "Nodes I own"
// forms and their JSON API.
func (s *Server) settingsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /settings/keyfile", s.postSettingsKeyFile)
	mux.HandleFunc("POST /settings/nodes/review", s.postNodeReview)
	mux.HandleFunc("POST /settings/nodes/approve", s.postNodeApprove)
	mux.HandleFunc("POST /api/keyfile", s.apiKeyFile)
	mux.HandleFunc("GET /api/nodes", s.apiNodes)
	mux.HandleFunc("POST /api/nodes/approve", s.apiNodeApprove)
}
