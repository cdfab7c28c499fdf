package conduit

import "net/http"

// networkRoutes registers the Network page's data: the live JSON the page
// script polls and the tree picture alone, for swapping in.
func (s *Server) networkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/network", s.apiNetwork)
	mux.HandleFunc("GET /network/tree", s.networkTreeFragment)
}
