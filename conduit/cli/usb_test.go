package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/usb"
)

func TestUSBPrepareCommand(t *testing.T) {
	dist := t.TempDir()
	for _, tg := range usb.DefaultTargets {
		os.WriteFile(filepath.Join(dist, tg.DistName()), []byte("bin"), 0o755)
	}
	root := filepath.Join(t.TempDir(), "stick")
	os.Mkdir(root, 0o755)

	// A temp folder is not a removable disk: refused without --force.
	if r, _ := usb.IsRemovable(root); r != usb.RemovableYes {
		code, _, stderr := runCLI(t, "", "usb", "prepare", root, "--binaries", dist)
		if code != 3 || !strings.Contains(stderr, "removable") {
			t.Fatalf("without --force: code %d, %s", code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "", "usb", "prepare", root, "--force", "--binaries", dist, "--targets", "linux-amd64,windows-amd64")
	if code != 0 {
		t.Fatalf("prepare: %d %s", code, stderr)
	}
	if !strings.Contains(stdout, "[2/2] windows-amd64") || !strings.Contains(stdout, "Done.") {
		t.Errorf("progress: %s", stdout)
	}
	l := usb.Layout{Root: root}
	for _, p := range []string{l.Marker(), l.Readme(), l.DataDir(), filepath.Join(root, "bin", "windows-amd64", "borgios.exe")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if code, _, stderr := runCLI(t, "", "usb", "prepare", root, "--force", "--targets", "plan9"); code != 2 {
		t.Errorf("bad target: %d %s", code, stderr)
	}

	code, stdout, _ = runCLI(t, "", "usb", "info", root, "--json")
	var info struct {
		Prepared bool   `json:"prepared"`
		Root     string `json:"root"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil || !info.Prepared || info.Root != root {
		t.Errorf("info: %d %s", code, stdout)
	}
	if code, stdout, _ := runCLI(t, "", "usb", "flush", root); code != 0 || !strings.Contains(stdout, "Flushed") {
		t.Errorf("flush: %d %s", code, stdout)
	}
}

// TestRunWindowed runs the conduit as the desktop app does: the address
// goes to show (the window) and the conduit stops when the context ends.
func TestRunWindowed(t *testing.T) {
	t.Setenv("DISPLAY", ":99")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- RunWindowed(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", ""}, &stdout, &stderr, func(u string) { urls <- u })
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatalf("stopped before showing: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("no address within 60s")
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The token exchange answers with a page that sets the session cookie.
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("the window's first request: %s, cookies %v", resp.Status, resp.Cookies())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("conduit did not stop within 60s of cancel")
	}

	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if runtime.GOOS == "linux" {
		err := RunWindowed(context.Background(), nil, io.Discard, io.Discard, func(string) { t.Error("shown without a display") })
		if !errors.Is(err, ErrNoDisplay) {
			t.Fatalf("without a display: %v", err)
		}
	}
	if err := RunWindowed(context.Background(), []string{"--version"}, io.Discard, io.Discard, func(string) { t.Error("shown for --version") }); err != nil {
		t.Fatal(err)
	}
}
