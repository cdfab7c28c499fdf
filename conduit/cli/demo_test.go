package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the demo's writer goroutine and
// the test's reader.
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

// TestDemoStartsNetworkAndConduit runs `borgios demo` in-process: the
// nodes form their trees, every node's monitor answers, the conduit's URL
// is printed and serves the page, and cancelling stops everything.
func TestDemoStartsNetworkAndConduit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, &out, io.Discard, demoOptions{nodes: 3, listen: "127.0.0.1:0", noBrowser: true,
			heartbeat: 250 * time.Millisecond, logs: logFlags{format: "text", level: "error"}})
	}()
	urlRe := regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]+`)
	deadline := time.Now().Add(90 * time.Second)
	for !urlRe.MatchString(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("demo stopped early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no conduit URL within 90s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := out.String()
	if !strings.Contains(text, "3/3 nodes placed - done") {
		t.Fatalf("no progress to completion:\n%s", text)
	}
	for _, mon := range regexp.MustCompile(`http://127\.0\.0\.1:\d+/\n`).FindAllString(text, -1) {
		resp, err := http.Get(strings.TrimSpace(mon) + "status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("monitor %s: %s", mon, resp.Status)
		}
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(urlRe.FindString(text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("conduit page: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s of cancel")
	}
}
