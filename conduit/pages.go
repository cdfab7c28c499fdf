package conduit

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/web"
)

// maxFormBytes bounds form and JSON bodies: the largest thing anyone sends
// is a 24-word phrase.
const maxFormBytes = 16 << 10

// statusTimeout bounds a NetworkStatus call so that a stuck network never
// stalls a page.
const statusTimeout = 2 * time.Second

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.pageRoot)
	mux.HandleFunc("GET /welcome", s.pageWelcome)
	mux.HandleFunc("POST /welcome/create", s.postCreate)
	mux.HandleFunc("GET /welcome/words", s.pageWords)
	mux.HandleFunc("GET /welcome/confirm", s.pageConfirm)
	mux.HandleFunc("POST /welcome/confirm", s.postConfirm)
	mux.HandleFunc("POST /welcome/keyfile", s.postKeyFile)
	mux.HandleFunc("GET /welcome/restore", s.pageRestore)
	mux.HandleFunc("POST /welcome/restore", s.postRestore)
	mux.HandleFunc("GET /home", s.pageHome)
	mux.HandleFunc("GET /network", s.networkPage)
	mux.HandleFunc("GET /settings", s.settingsPage)
	mux.HandleFunc("POST /lock", s.postLock)
	mux.HandleFunc("POST /unplug", s.postUnplug)
	mux.HandleFunc("GET /files", s.pageFiles)
	mux.HandleFunc("POST /files/upload", s.postFilesUpload)
	mux.HandleFunc("POST /files/mkdir", s.postFilesMkdir)
	mux.HandleFunc("POST /files/move", s.postFilesMove)
	mux.HandleFunc("POST /files/delete", s.postFilesDelete)
	mux.HandleFunc("GET /wallet", s.pageWallet)
	mux.HandleFunc("POST /wallet/send", s.postWalletSend)
	mux.HandleFunc("POST /wallet/receive", s.postWalletReceive)
	mux.HandleFunc("POST /wallet/faucet", s.postWalletFaucet)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web.Static)))

	mux.HandleFunc("GET /api/identity", s.apiIdentity)
	mux.HandleFunc("POST /api/unlock", s.apiUnlock)
	mux.HandleFunc("POST /api/identity/new", s.apiNew)
	mux.HandleFunc("POST /api/identity/confirm", s.apiConfirm)
	mux.HandleFunc("POST /api/lock", s.apiLock)
	mux.HandleFunc("POST /api/unplug", s.apiUnplug)
	mux.HandleFunc("GET /api/status", s.apiStatus)
	mux.HandleFunc("GET /api/events", s.apiEvents)
	mux.HandleFunc("GET /api/files/list", s.apiFilesList)
	mux.HandleFunc("POST /api/files/upload", s.apiFilesUpload)
	mux.HandleFunc("GET /api/files/progress", s.apiFilesProgress)
	mux.HandleFunc("GET /api/files/download", s.apiFilesDownload)
	mux.HandleFunc("POST /api/files/mkdir", s.apiFilesMkdir)
	mux.HandleFunc("POST /api/files/move", s.apiFilesMove)
	mux.HandleFunc("POST /api/files/delete", s.apiFilesDelete)
	mux.HandleFunc("GET /api/media/{path...}", s.apiMedia)
	mux.HandleFunc("GET /api/wallet", s.apiWallet)
	mux.HandleFunc("POST /api/wallet/send", s.apiWalletSend)
	mux.HandleFunc("POST /api/wallet/receive", s.apiWalletReceive)
	mux.HandleFunc("POST /api/wallet/faucet", s.apiWalletFaucet)
	// Sections that grew after the first pages register their own routes,
	// each from its own file, so one section's change never touches another's.
	s.mailRoutes(mux)
	s.networkRoutes(mux)
	s.settingsRoutes(mux)
	s.mediaRoutes(mux)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such API endpoint: " + r.Method + " " + r.URL.Path, Code: "not_found"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	return s.secure(mux)
}

// render writes c in full or not at all: a template error mid-page would
// otherwise leave half a page with a 200 status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		if r.Context().Err() != nil {
			return // the browser went away; nobody to answer
		}
		s.log.Error("conduit: rendering page", "path", r.URL.Path, "err", err)
		http.Error(w, "The page could not be drawn; see the conduit's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, web.ErrorPage(web.ErrorView{Page: s.chrome("Error", ""), Status: status, Message: msg}))
}

// chrome fills the layout's view model from the vault.
func (s *Server) chrome(title string, nav web.Nav) web.Page {
	id, unlocked, _ := s.vault.State()
	return web.Page{Title: title, Active: nav, Unlocked: unlocked, Address: id.Address, Connected: unlocked && s.connected()}
}

func (s *Server) netView(ctx context.Context) NetView {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	return s.cfg.Network.Status(ctx)
}

func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (s *Server) unlocked() bool {
	_, ok, _ := s.vault.State()
	return ok
}

func (s *Server) pageRoot(w http.ResponseWriter, r *http.Request) {
	if s.unlocked() {
		seeOther(w, r, "/home")
		return
	}
	seeOther(w, r, "/welcome")
}

func (s *Server) lockNotice() string {
	_, _, reason := s.vault.State()
	switch reason {
	case LockIdle:
		return "Locked after " + humanDuration(s.cfg.IdleLock) + " without use. Your keys were wiped from memory."
	case LockByUser:
		return "Locked. Your keys were wiped from memory."
	case LockUnplug:
		return "Your keys were wiped. It is safe to unplug."
	}
	return ""
}

func (s *Server) pageWelcome(w http.ResponseWriter, r *http.Request) {
	if s.unlocked() {
		seeOther(w, r, "/home")
		return
	}
	s.render(w, r, http.StatusOK, web.WelcomePage(web.WelcomeView{
		Page: s.chrome("Welcome", web.NavWelcome), Notice: s.lockNotice(), HasKeyFile: s.hasKeyFile()}))
}

func (s *Server) postKeyFile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	_, err := s.unlockKeyFile(r.PostForm.Get("passphrase"))
	if err == nil || errors.Is(err, ErrAlreadyUnlocked) {
		seeOther(w, r, "/home")
		return
	}
	msg, code := keyFileErrorMessage(err)
	if code == "key_file_unreadable" {
		s.log.Error("conduit: key file", "err", err)
	}
	s.render(w, r, http.StatusUnprocessableEntity, web.WelcomePage(web.WelcomeView{
		Page: s.chrome("Welcome", web.NavWelcome), HasKeyFile: s.hasKeyFile(), KeyFileError: msg}))
}

func (s *Server) postCreate(w http.ResponseWriter, r *http.Request) {
	if _, err := s.startCreate(); err != nil {
		if errors.Is(err, ErrAlreadyUnlocked) {
			seeOther(w, r, "/home")
			return
		}
		s.log.Error("conduit: create", "err", err)
		s.renderError(w, r, http.StatusInternalServerError, "Could not create a phrase: "+err.Error())
		return
	}
	seeOther(w, r, "/welcome/words")
}

func (s *Server) pageWords(w http.ResponseWriter, r *http.Request) {
	p := s.currentCreate()
	if p == nil {
		seeOther(w, r, "/welcome")
		return
	}
	s.render(w, r, http.StatusOK, web.WordsPage(web.WordsView{Page: s.chrome("Your words", web.NavWelcome), Words: p.words()}))
}

func (s *Server) pageConfirm(w http.ResponseWriter, r *http.Request) {
	p := s.currentCreate()
	if p == nil {
		seeOther(w, r, "/welcome")
		return
	}
	s.render(w, r, http.StatusOK, web.ConfirmPage(web.ConfirmView{Page: s.chrome("Check your words", web.NavWelcome), Positions: p.ask}))
}

func (s *Server) postConfirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	p := s.currentCreate()
	if p == nil {
		seeOther(w, r, "/welcome")
		return
	}
	answers := make(map[int]string, len(p.ask))
	for _, n := range p.ask {
		answers[n] = r.PostForm.Get("word" + strconv.Itoa(n))
	}
	_, err := s.finishCreate(answers)
	switch {
	case err == nil:
		seeOther(w, r, "/home")
	case errors.Is(err, ErrConfirmMismatch):
		msg := "That does not match."
		var me *MismatchError
		if errors.As(err, &me) {
			msg = "Word " + strconv.Itoa(me.Position) + " does not match the words shown. Check your paper, or show the words again."
		}
		s.render(w, r, http.StatusUnprocessableEntity, web.ConfirmPage(web.ConfirmView{
			Page: s.chrome("Check your words", web.NavWelcome), Positions: p.ask, Error: msg}))
	case errors.Is(err, ErrAlreadyUnlocked):
		seeOther(w, r, "/home")
	case errors.Is(err, ErrNoPendingPhrase):
		seeOther(w, r, "/welcome")
	default:
		s.log.Error("conduit: confirm", "err", err)
		s.renderError(w, r, http.StatusInternalServerError, "Could not finish creating the identity.")
	}
}

func (s *Server) pageRestore(w http.ResponseWriter, r *http.Request) {
	if s.unlocked() {
		seeOther(w, r, "/home")
		return
	}
	s.render(w, r, http.StatusOK, web.RestorePage(web.RestoreView{Page: s.chrome("Unlock", web.NavWelcome)}))
}

func (s *Server) postRestore(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	phrase := r.PostForm.Get("mnemonic")
	_, err := s.unlockPhrase(phrase, r.PostForm.Get("passphrase"))
	if err == nil || errors.Is(err, ErrAlreadyUnlocked) {
		seeOther(w, r, "/home")
		return
	}
	// Only the person's own page sees the message; it is never logged,
	// since a word error quotes the mistyped word.
	s.render(w, r, http.StatusUnprocessableEntity, web.RestorePage(web.RestoreView{
		Page: s.chrome("Unlock", web.NavWelcome), Phrase: phrase, Error: phraseErrorMessage(phrase, err)}))
}

// phraseErrorMessage turns identity's errors into a sentence for the page.
func phraseErrorMessage(phrase string, err error) string {
	var we *identity.WordError
	if errors.As(err, &we) {
		msg := "Word " + strconv.Itoa(we.Position) + " '" + we.Word + "' is not in the list of words"
		if len(we.Suggestions) > 0 {
			msg += ", did you mean " + strings.Join(we.Suggestions, " or ")
		}
		return msg + "?"
	}
	switch {
	case errors.Is(err, identity.ErrWordCount):
		return "A phrase has 12, 15, 18, 21 or 24 words; this one has " + strconv.Itoa(len(strings.Fields(phrase))) + "."
	case errors.Is(err, identity.ErrChecksum):
		return "Every word is in the list, but together they do not form a valid phrase: a word is wrong, or two are swapped."
	}
	return "The phrase could not be used."
}

func (s *Server) pageHome(w http.ResponseWriter, r *http.Request) {
	id, err := s.vault.Identity()
	if err != nil {
		seeOther(w, r, "/welcome")
		return
	}
	qr, err := s.addressQR(id.Address)
	if err != nil {
		s.log.Error("conduit: QR code", "err", err)
	}
	p := s.chrome("Home", web.NavHome)
	p.NeedsKeys = true
	balance, storage := s.homeFigures(r.Context(), id.Address)
	s.render(w, r, http.StatusOK, web.HomePage(web.HomeView{
		Page:    p,
		Address: id.Address,
		QR:      qr,
		Balance: balance,
		Storage: storage,
		Network: s.netView(r.Context()).view(),
	}))
}

func (s *Server) postLock(w http.ResponseWriter, r *http.Request) {
	s.lock(LockByUser)
	seeOther(w, r, "/welcome")
}

func (s *Server) postUnplug(w http.ResponseWriter, r *http.Request) {
	if err := s.unplug(r.Context()); err != nil {
		s.renderError(w, r, http.StatusInternalServerError,
			"Your keys are wiped, but the stick is not ready to remove: "+err.Error()+". Do not unplug it yet.")
		return
	}
	// Rendered here rather than redirected to: with ExitOnUnplug the
	// server is gone by the time a redirect would be followed.
	s.render(w, r, http.StatusOK, web.UnpluggedPage(web.UnpluggedView{Page: s.chrome("Safe to unplug", "")}))
}

// unplug wipes the keys, lets the stick layer finish, and signals Run.
func (s *Server) unplug(ctx context.Context) error {
	s.lock(LockUnplug)
	if s.cfg.OnUnplug != nil {
		if err := s.cfg.OnUnplug(ctx); err != nil {
			s.log.Error("conduit: preparing to unplug", "err", err)
			return err
		}
	}
	s.unplugOne.Do(func() { close(s.unplugged) })
	return nil
}

// humanDuration says d the way a person would: "15 minutes", "1 hour".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s"
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	case d >= time.Second:
		return plural(int64(d/time.Second), "second")
	}
	return d.String()
}

// addressQR returns the QR code of addr, encoding it once per identity:
// encoding is most of Home's render time.
func (s *Server) addressQR(addr string) (web.QR, error) {
	s.qrMu.Lock()
	defer s.qrMu.Unlock()
	if s.qr.Text != "" && strings.EqualFold(s.qr.Text, addr) {
		return s.qr, nil
	}
	qr, err := web.NewQR(strings.ToUpper(addr))
	if err != nil {
		return web.QR{}, err
	}
	s.qr = qr
	return qr, nil
}
