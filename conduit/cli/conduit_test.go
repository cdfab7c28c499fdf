package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/borgios/borgios/conduit"
)

func TestConduitRefusesNonLoopback(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"conduit", "--listen", "0.0.0.0:0", "--no-browser"}, strings.NewReader(""), &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "not loopback") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

func TestConduitServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	opened := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runConduit(ctx, pw, io.Discard, conduitOptions{listen: "127.0.0.1:0", idleLock: conduit.DefaultIdleLock},
			func(u string) error { opened <- u; return nil })
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var url string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "http://127.0.0.1:") {
			url = l
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.Contains(url, "/?token=") {
		t.Fatalf("printed URL %q", url)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token URL: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-opened:
		if u != url {
			t.Errorf("opened %q, printed %q", u, url)
		}
	default:
		// No desktop in this environment: nothing opened, as intended.
	}
}

func TestDesktopPresent(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		goos string
		env  map[string]string
		want bool
	}{
		{"linux", nil, false},
		{"linux", map[string]string{"DISPLAY": ":0"}, true},
		{"linux", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, true},
		{"freebsd", map[string]string{"DISPLAY": ":0"}, true},
		{"darwin", nil, true},
		{"windows", nil, true},
	}
	for _, c := range cases {
		if got := desktopPresent(c.goos, env(c.env)); got != c.want {
			t.Errorf("%s %v: %v", c.goos, c.env, got)
		}
	}
}
