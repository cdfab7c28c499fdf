package conduit

import "net/http"

// mailRoutes registers the Mail section (inbox, read, compose, attachments) and its /api/mail endpoints.
func (s *Server) mailRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /mail", s.pageMail)
	mux.HandleFunc("GET /mail/read", s.pageMailRead)
	mux.HandleFunc("GET /mail/compose", s.pageMailCompose)
	mux.HandleFunc("POST /mail/send", s.postMailSend)
	mux.HandleFunc("POST /mail/delete", s.postMailDelete)

	mux.HandleFunc("GET /api/mail/list", s.apiMailList)
	mux.HandleFunc("GET /api/mail/message", s.apiMailMessage)
	mux.HandleFunc("GET /api/mail/attachment", s.apiMailAttachment)
	mux.HandleFunc("POST /api/mail/send", s.apiMailSend)
	mux.HandleFunc("POST /api/mail/delete", s.apiMailDelete)
	mux.HandleFunc("POST /api/mail/mark", s.apiMailMark)
	mux.HandleFunc("POST /api/mail/publish", s.apiMailPublish)
}
