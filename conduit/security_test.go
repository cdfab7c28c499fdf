package conduit

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestListenMustBeLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.168.1.10:0", "example.com:80", "10.0.0.1:8080"} {
		if _, err := New(Config{Listen: addr}); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("New(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := New(Config{Listen: addr}); !errors.Is(err, ErrListenAddress) {
			t.Errorf("New(%q) = %v, want ErrListenAddress", addr, err)
		}
	}
	s, err := New(Config{Listen: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.Contains(s.URL(), "/?token=") {
		t.Errorf("URL = %q", s.URL())
	}
	if len(s.Token()) != 43 { // base64url of 32 bytes
		t.Errorf("token length %d, want 43", len(s.Token()))
	}
}

func TestSecretsDifferPerLaunch(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.ln.Close()
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.ln.Close()
	if a.Token() == b.Token() || a.session == b.session || a.Token() == a.session {
		t.Error("secrets repeat across launches or between token and cookie")
	}
}

// refusalOf reads a refusal's status and machine code.
func refusalOf(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e apiError
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("refusal body %q: %v", b, err)
		}
		return resp.StatusCode, e.Code
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestWrongHostRefused(t *testing.T) {
	ts := startServer(t, nil)
	port := ts.port
	for _, host := range []string{
		"evil.example", "evil.example:" + port, "127.0.0.1", "127.0.0.1:1", "localhost.evil.example:" + port,
		"127.0.0.2:" + port, "0.0.0.0:" + port,
	} {
		for _, path := range []string{"/api/identity", "/home"} {
			req := ts.newRequest("GET", path, nil)
			req.Host = host
			status, code := refusalOf(t, ts.do(req, true))
			if status != http.StatusMisdirectedRequest {
				t.Errorf("Host %q %s: status %d, want 421", host, path, status)
			}
			if path == "/api/identity" && code != "wrong_host" {
				t.Errorf("Host %q: code %q", host, code)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port} {
		req := ts.newRequest("GET", "/api/identity", nil)
		req.Host = host
		if status, code := refusalOf(t, ts.do(req, true)); status != http.StatusOK {
			t.Errorf("Host %q: status %d %s, want 200", host, status, code)
		}
	}
	// The token does not get past a wrong Host either.
	req := ts.newRequest("GET", ts.URL(), nil)
	req.Host = "evil.example:" + port
	resp := ts.do(req, false)
	if resp.StatusCode != http.StatusMisdirectedRequest || len(resp.Cookies()) != 0 {
		t.Errorf("token with wrong Host: status %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp.Body.Close()
}

func TestCrossSiteStateChangeRefused(t *testing.T) {
	ts := startServer(t, nil)
	other := "http://127.0.0.1:1"
	cases := []struct {
		name, origin, site, code string
	}{
		{"other site origin", "http://evil.example", "", "cross_origin"},
		{"other port origin", other, "", "cross_origin"},
		{"null origin", "null", "", "cross_origin"},
		{"null origin, cross-site", "null", "cross-site", "cross_origin"},
		{"null origin, same-site", "null", "same-site", "cross_origin"},
		{"https of us", strings.Replace(ts.Origin(), "http:", "https:", 1), "", "cross_origin"},
		{"cross-site fetch", "", "cross-site", "cross_site"},
		{"same-site fetch (another port)", "", "same-site", "cross_site"},
		{"our origin but cross-site", ts.Origin(), "cross-site", "cross_site"},
	}
	for _, c := range cases {
		for _, path := range []string{"/api/lock", "/lock", "/api/identity/new", "/welcome/create"} {
			req := ts.newRequest("POST", path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			req.AddCookie(ts.cookie)
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			if c.site != "" {
				req.Header.Set("Sec-Fetch-Site", c.site)
			}
			status, code := refusalOf(t, ts.do(req, false))
			if status != http.StatusForbidden {
				t.Errorf("%s POST %s: status %d, want 403", c.name, path, status)
			}
			if strings.HasPrefix(path, "/api/") && code != c.code {
				t.Errorf("%s POST %s: code %q, want %q", c.name, path, code, c.code)
			}
		}
	}
	// Nothing was created by the refused requests.
	if ts.currentCreate() != nil {
		t.Error("a refused request started the create flow")
	}
	// The same request from our own page goes through: Origin ours,
	// Sec-Fetch-Site same-origin, or neither (a script with the cookie).
	for _, h := range []map[string]string{
		{"Origin": ts.Origin(), "Sec-Fetch-Site": "same-origin"},
		{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, // our form under no-referrer
		{"Origin": "http://localhost:" + ts.port, "Sec-Fetch-Site": "same-origin", "Host": "localhost:" + ts.port},
		{},
	} {
		req := ts.newRequest("POST", "/api/lock", nil)
		req.AddCookie(ts.cookie)
		for k, v := range h {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		if status, code := refusalOf(t, ts.do(req, false)); status != http.StatusOK {
			t.Errorf("own POST with %v: %d %s", h, status, code)
		}
	}
}

func TestCrossSiteReadRefused(t *testing.T) {
	ts := startServer(t, nil)
	// Another page fetching our API (or pulling it in with a tag) is
	// refused even when the browser attaches the cookie: every port on
	// 127.0.0.1 is "same-site".
	for _, site := range []string{"cross-site", "same-site"} {
		req := ts.newRequest("GET", "/api/identity", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		req.Header.Set("Sec-Fetch-Mode", "cors")
		if status, code := refusalOf(t, ts.do(req, true)); status != http.StatusForbidden || code != "cross_site" {
			t.Errorf("%s read: %d %s", site, status, code)
		}
	}
	// A link from elsewhere (a navigation) is let through to the secret
	// check, which it fails without the cookie.
	req := ts.newRequest("GET", "/home", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	if status, _ := refusalOf(t, ts.do(req, false)); status != http.StatusUnauthorized {
		t.Errorf("cross-site navigation without cookie: %d", status)
	}
}

func TestSecretRequired(t *testing.T) {
	ts := startServer(t, nil)
	wrongCookie := &http.Cookie{Name: ts.cookieName, Value: strings.Repeat("A", 43)}
	cases := []struct {
		name   string
		setup  func(*http.Request)
		target string
		code   string
	}{
		{"nothing", func(*http.Request) {}, "/api/identity", "no_session"},
		{"nothing, page", func(*http.Request) {}, "/home", ""},
		{"nothing, static", func(*http.Request) {}, "/static/app.js", ""},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 43)) }, "/api/identity", "wrong_token"},
		{"basic auth", func(r *http.Request) { r.SetBasicAuth("u", ts.Token()) }, "/api/identity", "wrong_token"},
		{"cookie as bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ts.cookie.Value) }, "/api/identity", "wrong_token"},
		{"wrong cookie", func(r *http.Request) { r.AddCookie(wrongCookie) }, "/api/identity", "stale_session"},
		{"token as cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: ts.cookieName, Value: ts.Token()}) }, "/api/identity", "stale_session"},
		{"another port's cookie", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "borgios_session_1", Value: ts.cookie.Value})
		}, "/api/identity", "no_session"},
		{"wrong query token", func(*http.Request) {}, "/api/identity?token=" + strings.Repeat("x", 43), "wrong_token"},
		{"empty query token", func(*http.Request) {}, "/api/identity?token=", "wrong_token"},
	}
	for _, c := range cases {
		req := ts.newRequest("GET", c.target, nil)
		c.setup(req)
		status, code := refusalOf(t, ts.do(req, false))
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, status)
		}
		if c.code != "" && code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, code, c.code)
		}
	}
	// A POST with the right token in its URL is refused: tokens travel in
	// the header or as the cookie, not in URLs that end up in logs.
	req := ts.newRequest("POST", "/api/lock?token="+ts.Token(), nil)
	if status, code := refusalOf(t, ts.do(req, false)); status != http.StatusUnauthorized || code != "wrong_token" {
		t.Errorf("token in POST URL: %d %s", status, code)
	}
	// And the right ones work.
	var id identityJSON
	if status := ts.api("GET", "/api/identity", nil, &id); status != http.StatusOK || !id.Locked {
		t.Errorf("bearer: %d %+v", status, id)
	}
	if status, _ := ts.get("/api/identity"); status != http.StatusOK {
		t.Errorf("cookie: %d", status)
	}
	// The refusals named no secret in the log.
	if logs := ts.logs.String(); strings.Contains(logs, ts.Token()) || strings.Contains(logs, ts.session) {
		t.Error("a secret reached the log")
	}
}

// The token URL answers with a page (not a redirect) that sets the
// cookie and refreshes to the same address without the token: the next
// navigation then starts on this origin, which embedded webviews need to
// send the SameSite=Strict cookie. The target never leaves this server.
func TestTokenExchangedAndStripped(t *testing.T) {
	ts := startServer(t, nil)
	for _, c := range []struct{ target, want string }{
		{"/?token=" + ts.Token(), "/"},
		{"/welcome?token=" + ts.Token(), "/welcome"},
		{"/network?a=1&token=" + ts.Token() + "&b=2", "/network?a=1&b=2"},
		{"/files?q=%22%3E%3Cb%3E&token=" + ts.Token(), "/files?q=%22%3E%3Cb%3E"},
		{"//evil.example/x?token=" + ts.Token(), "/evil.example/x"},
		{"/%2F%2Fevil.example?token=" + ts.Token(), "/evil.example"},
		// Browsers read a backslash as a slash and drop tabs: neither
		// may turn the target into //evil.example.
		{"/%5Cevil.example?token=" + ts.Token(), "/evil.example"},
		{"/x/..%2F%5C%5Cevil.example?token=" + ts.Token(), "/evil.example"},
		{"/%09/evil.example?token=" + ts.Token(), "/%09/evil.example"},
		{"/a%22b?token=" + ts.Token(), "/a%22b"},
	} {
		resp := ts.do(ts.newRequest("GET", c.target, nil), false)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Fatalf("%s: status %d, Location %q", c.target, resp.StatusCode, resp.Header.Get("Location"))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.target, ct)
		}
		esc := html.EscapeString(c.want)
		if !strings.Contains(body, `<meta http-equiv="refresh" content="0;url=`+esc+`">`) || !strings.Contains(body, `<a href="`+esc+`">`) {
			t.Errorf("%s: page does not move on to %q:\n%s", c.target, c.want, body)
		}
		if strings.Contains(body, ts.Token()) || strings.Contains(body, ts.session) {
			t.Errorf("%s: a secret is in the page", c.target)
		}
		assertNoInline(t, c.target, body)
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == ts.cookieName {
				cookie = ck
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Value == ts.Token() {
			t.Errorf("%s: cookie %+v", c.target, cookie)
		}
		for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
			if resp.Header.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", c.target, k, resp.Header.Get(k), v)
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: exchange page without the CSP", c.target)
		}
		// The cookie the page set opens the target.
		req := ts.newRequest("GET", c.want, nil)
		req.AddCookie(cookie)
		if resp := ts.do(req, false); resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s: the exchanged cookie is refused", c.want)
		} else {
			resp.Body.Close()
		}
	}

	// HEAD sets the cookie too, with no body.
	resp := ts.do(ts.newRequest("HEAD", "/welcome?token="+ts.Token(), nil), false)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 || len(b) != 0 {
		t.Errorf("HEAD: status %d, cookies %v, body %q", resp.StatusCode, resp.Cookies(), b)
	}
}

// TestTokenExchangeFromAnotherSite opens the token URL the way the
// desktop app's start page (or a link in another program's page) does: a
// navigation started by a page on another site. Browsers withhold a
// SameSite=Strict cookie from every request of a redirect chain such a
// page started, so a redirect answer led to "No session"; the exchange
// page's own refresh is same-origin and carries it.
func TestTokenExchangeFromAnotherSite(t *testing.T) {
	b := startBrowser(t)
	ts := startServer(t, func(c *Config) { c.StatusInterval = time.Hour })
	// localhost and 127.0.0.1 are different sites (a different port alone
	// would be the same site).
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8">`+
			`<meta http-equiv="refresh" content="0;url=`+html.EscapeString(ts.URL())+`"><title>elsewhere</title></head><body></body></html>`)
	}))
	defer other.Close()
	start := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)

	var loc, referrer string
	b.run("open the token URL from another site",
		chromedp.Navigate(start),
		chromedp.WaitVisible("#go-create"),
		chromedp.Location(&loc),
		chromedp.Evaluate(`document.referrer`, &referrer),
	)
	if strings.Contains(loc, "token") || !strings.HasPrefix(loc, ts.Origin()+"/") {
		t.Errorf("address after the exchange: %q", loc)
	}
	if referrer != "" {
		t.Errorf("the first page saw a Referer %q", referrer)
	}
}

func TestSecurityHeaders(t *testing.T) {
	ts := startServer(t, nil)
	check := func(name string, resp *http.Response) {
		t.Helper()
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline or eval: %q", name, csp)
		}
		for k, v := range map[string]string{
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
		} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", name, k, h.Get(k), v)
			}
		}
	}
	for _, p := range []string{"/welcome", "/network", "/welcome/restore", "/static/app.css", "/api/identity", "/nope"} {
		check(p, ts.do(ts.newRequest("GET", p, nil), true))
	}
	check("refusal", ts.do(ts.newRequest("GET", "/welcome", nil), false))
	req := ts.newRequest("GET", "/welcome", nil)
	req.Host = "evil.example"
	check("wrong host", ts.do(req, true))
}

func TestPagesHaveNoInlineCode(t *testing.T) {
	ts := startServer(t, nil)
	// Unlock so that every page renders.
	var n newIdentityJSON
	ts.api("POST", "/api/identity/new", nil, &n)
	for _, p := range []string{"/welcome", "/welcome/words", "/welcome/confirm", "/welcome/restore", "/network", "/nope"} {
		_, body := ts.get(p)
		assertNoInline(t, p, body)
	}
	ts.api("POST", "/api/identity/confirm", confirmRequest{Words: answersFor(n)}, nil)
	for _, p := range []string{"/home", "/settings", "/network"} {
		status, body := ts.get(p)
		if status != http.StatusOK {
			t.Errorf("%s: %d", p, status)
		}
		assertNoInline(t, p, body)
	}
	resp, body := ts.postForm("/unplug", url.Values{})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("unplug: %d", resp.StatusCode)
	}
	assertNoInline(t, "/unplug", body)
}

// assertNoInline checks what the CSP would block: inline scripts, inline
// styles and event-handler attributes.
func assertNoInline(t *testing.T, name, body string) {
	t.Helper()
	low := strings.ToLower(body)
	if strings.Count(low, "<script") != strings.Count(low, `<script src="/static/`) {
		t.Errorf("%s: inline <script>", name)
	}
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:"} {
		if strings.Contains(low, bad) {
			t.Errorf("%s: contains %q", name, bad)
		}
	}
}

// answersFor returns the right words for the asked positions.
func answersFor(n newIdentityJSON) map[string]string {
	m := map[string]string{}
	for _, p := range n.Confirm {
		m[strconv.Itoa(p)] = n.Words[p-1]
	}
	return m
}
