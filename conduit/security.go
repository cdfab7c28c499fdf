package conduit

import (
	"crypto/subtle"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// contentSecurityPolicy allows only our own files: no inline script or
// style (the templates have none, and a test checks), no framing, forms
// posting only to us, no plugins, no base-URL tricks.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// A refusal is one reason the security layer turns a request away. Each
// has its own status and code so that a person (or a script) can tell
// what to fix.
type refusal struct {
	status  int
	code    string
	message string
}

var (
	refuseHost = refusal{http.StatusMisdirectedRequest, "wrong_host",
		"This request was not addressed to this BorgIOS conduit (its Host header names another server). " +
			"Open the address the conduit printed, http://127.0.0.1:PORT/."}
	refuseCrossOrigin = refusal{http.StatusForbidden, "cross_origin",
		"Refused a request that changes something because it came from another web page (its Origin is not this conduit)."}
	refuseCrossSite = refusal{http.StatusForbidden, "cross_site",
		"Refused a request made by another web page (Sec-Fetch-Site is not same-origin)."}
	refuseNoSecret = refusal{http.StatusUnauthorized, "no_session",
		"No session: open the full address the conduit printed (with ?token=...), or send Authorization: Bearer <token>."}
	refuseBadToken = refusal{http.StatusUnauthorized, "wrong_token",
		"Wrong token: this is not the token this conduit printed at its start (it changes on every launch)."}
	refuseBadSession = refusal{http.StatusUnauthorized, "stale_session",
		"Your session is from an earlier start of the conduit: open the address it printed this time."}
)

// setSecurityHeaders goes on every response, refusals included.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	// The token must never leave in a Referer, even from a link to an
	// outside page.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	// Pages show phrases and addresses: keep them out of the browser's
	// disk cache, which may be on a computer the person does not own.
	h.Set("Cache-Control", "no-store")
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, f refusal) {
	// The query may hold the token: log the path only.
	s.log.Warn("conduit: refused request", "code", f.code, "method", r.Method, "path", r.URL.Path)
	if isAPI(r) {
		writeJSON(w, f.status, apiError{Error: f.message, Code: f.code})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(f.status)
	_, _ = w.Write([]byte(f.message + "\n"))
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unsafeMethod reports methods that may change state.
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// secure wraps next in the checks, in an order where each answers the
// question a person would ask first: is this our server (Host), did our
// own page send it (Origin, Sec-Fetch-Site), and does it have the secret.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())

		// DNS rebinding: a hostile site re-pointing its own name at
		// 127.0.0.1 reaches us with its name in Host.
		if !s.hosts[strings.ToLower(r.Host)] {
			s.refuse(w, r, refuseHost)
			return
		}

		if f, ok := s.crossSite(r); !ok {
			s.refuse(w, r, f)
			return
		}

		if f, ok := s.authenticate(w, r); !ok {
			s.refuse(w, r, f)
			return
		} else if f == exchanged {
			return // token swapped for the cookie; the page moves on
		}

		// Locking on the first request after the idle period, before
		// anything else runs, makes the lock exact and testable with a
		// fake clock; the ticker in Run covers the no-request case.
		if s.vault.CheckIdle() {
			s.afterLock()
		}
		if !passive(r) {
			s.vault.Touch()
		}
		next.ServeHTTP(w, r)
	})
}

// passive requests are the page's own polling: they must not keep the
// keys unlocked forever in a forgotten tab.
func passive(r *http.Request) bool {
	switch r.URL.Path {
	case "/api/events", "/api/status":
		return true
	}
	return strings.HasPrefix(r.URL.Path, "/static/")
}

// crossSite refuses requests from other origins. For state-changing
// methods, Origin (when sent) must be ours and Sec-Fetch-Site (when sent)
// same-origin or none (typed in the address bar). "same-site" is refused
// too: every other port on 127.0.0.1 is the same site, and so gets our
// SameSite=Strict cookie. Reads are refused when a browser says another
// page made them with fetch or a subresource tag; navigations are let
// through to the secret check (a cross-site link carries no cookie).
func (s *Server) crossSite(r *http.Request) (refusal, bool) {
	sfs := r.Header.Get("Sec-Fetch-Site")
	sfsOK := sfs == "" || sfs == "same-origin" || sfs == "none"
	if unsafeMethod(r.Method) {
		origin := r.Header.Get("Origin")
		// Under Referrer-Policy: no-referrer, browsers send "Origin: null"
		// with our own forms. A null origin is let through only when the
		// browser also vouches with Sec-Fetch-Site: same-origin (a
		// sandboxed frame elsewhere gets "cross-site"), which is the
		// check Go's http.CrossOriginProtection relies on too.
		ownNull := origin == "null" && sfs == "same-origin"
		if origin != "" && !ownNull && origin != "http://"+strings.ToLower(r.Host) {
			return refuseCrossOrigin, false
		}
		if !sfsOK {
			return refuseCrossSite, false
		}
		return refusal{}, true
	}
	if !sfsOK && r.Header.Get("Sec-Fetch-Mode") != "navigate" {
		return refuseCrossSite, false
	}
	return refusal{}, true
}

// exchanged is what authenticate returns when it has answered the request
// itself with the token exchange page.
var exchanged = refusal{status: http.StatusOK, code: "token_exchanged"}

// authenticate accepts the bearer token, the session cookie, or (on a
// GET) the token in the query, which it swaps for the cookie with a page
// that moves on to the same address without the token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (refusal, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !equalSecret(tok, s.token) {
			return refuseBadToken, false
		}
		return refusal{}, true
	}
	q := r.URL.Query()
	if q.Has("token") {
		if !equalSecret(q.Get("token"), s.token) {
			return refuseBadToken, false
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A form or script should use the cookie or the header; a
			// token in a POST URL would end up in logs and history.
			return refuseBadToken, false
		}
		http.SetCookie(w, &http.Cookie{
			Name:     s.cookieName,
			Value:    s.session,
			Path:     "/",
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
		})
		q.Del("token")
		writeExchangePage(w, r, exchangeTarget(r.URL.Path, q))
		return exchanged, true
	}
	c, err := r.Cookie(s.cookieName)
	if err != nil {
		return refuseNoSecret, false
	}
	if !equalSecret(c.Value, s.session) {
		return refuseBadSession, false
	}
	return refusal{}, true
}

// exchangeTarget is where the exchange page sends the browser: the
// requested path and the rest of the query, always a path on this server.
// Cleaning first and then dropping every leading slash and backslash keeps
// it from becoming "//evil.example" or "/\evil.example", which browsers
// read as another host; the URL encoder escapes the control characters
// browsers would strip on the way to the same trick.
func exchangeTarget(p string, q url.Values) string {
	p = "/" + strings.TrimLeft(path.Clean("/"+p), "/\\")
	u := url.URL{Path: p, RawQuery: q.Encode()}
	return u.String()
}

// writeExchangePage answers a token URL with a page instead of a
// redirect. Embedded webviews (the desktop app's WebKitGTK, WebView2)
// count a redirect chain that another origin started as cross-site and
// so withhold the SameSite=Strict cookie it just set; a meta refresh
// from this page is a navigation this origin starts, which carries the
// cookie in every browser. The page has no script (CSP), and the
// response's Referrer-Policy: no-referrer keeps the token out of the
// refresh's Referer. A zero-delay refresh replaces the token URL in the
// history, and the address bar then shows the target.
func writeExchangePage(w http.ResponseWriter, r *http.Request, target string) {
	t := html.EscapeString(target)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8">`+
		`<meta http-equiv="refresh" content="0;url=`+t+`">`+
		`<meta name="viewport" content="width=device-width, initial-scale=1">`+
		// Without an icon link, browsers ask for /favicon.ico.
		`<link rel="icon" href="/static/icon.svg" type="image/svg+xml">`+
		`<title>BorgIOS</title></head><body><p><a href="`+t+`">Continue to BorgIOS</a></p></body></html>`+"\n")
}

// equalSecret compares in constant time (for equal lengths; the length
// of a secret is public).
func equalSecret(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
