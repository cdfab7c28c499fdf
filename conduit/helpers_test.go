package conduit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable time source for idle-lock tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a running conduit on a real 127.0.0.1 socket.
type testServer struct {
	*Server
	t      *testing.T
	clock  *fakeClock
	logs   *syncBuffer
	cookie *http.Cookie
	client *http.Client
	runErr chan error
	cancel context.CancelFunc
}

func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	clock := newFakeClock()
	logs := &syncBuffer{}
	cfg := Config{
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:    clock.Now,
		IdleLock: 15 * time.Minute,
		Network:  StaticStatus{Health: HealthOK, Summary: "Connected to 3 nodes.", Mode: "embedded node", Peers: 3, NetworkID: "borgios-test"},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		Server: s, t: t, clock: clock, logs: logs, cancel: cancel,
		runErr: make(chan error, 1),
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	go func() { ts.runErr <- s.Run(ctx) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
		cancel()
		if err := <-ts.runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	ts.login()
	return ts
}

// login swaps the token for the session cookie, as a browser does (the
// exchange page's refresh is not followed: the cookie is all it needs).
func (ts *testServer) login() {
	ts.t.Helper()
	resp := ts.do(ts.newRequest("GET", ts.URL(), nil), false)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == ts.cookieName {
			ts.cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK || ts.cookie == nil {
		ts.t.Fatalf("login: status %d, cookie %v", resp.StatusCode, ts.cookie)
	}
}

func (ts *testServer) newRequest(method, target string, body io.Reader) *http.Request {
	ts.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = ts.Origin() + target
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return req
}

// do sends req as our own page would when auth is set: with the session
// cookie and, for state changes, our Origin and Sec-Fetch-Site.
func (ts *testServer) do(req *http.Request, auth bool) *http.Response {
	ts.t.Helper()
	if auth {
		req.AddCookie(ts.cookie)
		if unsafeMethod(req.Method) {
			req.Header.Set("Origin", ts.Origin())
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp
}

// get fetches path with the cookie and returns status and body.
func (ts *testServer) get(path string) (int, string) {
	ts.t.Helper()
	resp := ts.do(ts.newRequest("GET", path, nil), true)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postForm submits a form as our page would.
func (ts *testServer) postForm(path string, form url.Values) (*http.Response, string) {
	ts.t.Helper()
	req := ts.newRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := ts.do(req, true)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// api calls a JSON endpoint with the bearer token and decodes the answer
// into out (if non-nil); it returns the status.
func (ts *testServer) api(method, path string, in, out any) int {
	ts.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			ts.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req := ts.newRequest(method, path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	resp := ts.do(req, false)
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil && !errors.Is(err, io.EOF) {
			ts.t.Fatalf("%s %s: decoding answer: %v", method, path, err)
		}
	}
	return resp.StatusCode
}
