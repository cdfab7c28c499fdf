package conduit

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzHandler throws arbitrary requests (method, target, Host, Origin,
// Sec-Fetch-Site, content type, body, credentials) at the whole handler:
// it must never panic or fail with a 5xx, and a request without the
// secret must never succeed.
func FuzzHandler(f *testing.F) {
	seeds := []struct {
		method                        uint8
		target, host, origin, sfs, ct string
		body                          string
		auth                          uint8
	}{
		{1, "/api/unlock", "", "", "", "application/json", `{"mnemonic":"` + testPhrase + `"}`, 1},
		{1, "/api/unlock", "", "", "", "application/json", `{"mnemonic":"abandon abandn"}`, 1},
		{1, "/api/unlock", "", "", "", "application/json", `{"mnemonic":5}`, 1},
		{1, "/api/identity/new", "", "", "", "", ``, 1},
		{1, "/api/identity/confirm", "", "", "", "application/json", `{"words":{"1":"abandon","x":"y"}}`, 1},
		{1, "/api/lock", "", "http://evil.example", "cross-site", "", ``, 2},
		{1, "/welcome/restore", "", "null", "same-origin", "application/x-www-form-urlencoded", `mnemonic=abandon+art&passphrase=x`, 2},
		{1, "/welcome/confirm", "", "", "", "application/x-www-form-urlencoded", `word1=abandon&word2=%ZZ`, 2},
		{0, "/?token=abc", "", "", "", "", ``, 0},
		{0, "/home", "evil.example", "", "", "", ``, 2},
		{0, "/api/events", "", "", "", "", ``, 1},
		{0, "/static/../../etc/passwd", "", "", "", "", ``, 2},
		{2, "/api/unplug", "localhost:%d", "", "none", "", ``, 3},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.host, s.origin, s.sfs, s.ct, []byte(s.body), s.auth)
	}
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.ln.Close() })
	h := s.Handler()
	methods := []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}
	// Cancelled up front for the event stream, so that it answers once
	// and returns.
	gone, cancel := context.WithCancel(context.Background())
	cancel()

	f.Fuzz(func(t *testing.T, method uint8, target, host, origin, sfs, ct string, body []byte, auth uint8) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return
		}
		if host == "" {
			host = "127.0.0.1:" + s.port
		}
		host = strings.ReplaceAll(host, "%d", s.port)
		r := &http.Request{
			Method:     methods[int(method)%len(methods)],
			URL:        u,
			RequestURI: target,
			Host:       host,
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		if u.Path == "/api/events" {
			r = r.WithContext(gone)
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if sfs != "" {
			r.Header.Set("Sec-Fetch-Site", sfs)
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		authed := false
		switch auth % 4 {
		case 1:
			r.Header.Set("Authorization", "Bearer "+s.Token())
			authed = true
		case 2:
			r.AddCookie(&http.Cookie{Name: s.cookieName, Value: s.session})
			authed = true
		case 3:
			r.Header.Set("Authorization", "Bearer "+string(body))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", r.Method, target, w.Code, w.Body.String())
		}
		tokenInURL := r.Method == "GET" && u.Query().Get("token") == s.Token()
		if !authed && !tokenInURL && w.Code < 300 {
			t.Fatalf("%s %s without the secret: %d", r.Method, target, w.Code)
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Fatalf("%s %s: no CSP", r.Method, target)
		}
	})
}
