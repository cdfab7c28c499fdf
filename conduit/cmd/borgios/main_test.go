package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the borgios executable built once for all process tests: these
// tests run the real binary as separate processes, the way people run it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "borgios-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "borgios")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build borgios: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running borgios process whose stdout lines are collected.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
}

func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProcTo(t, &testLogWriter{t: t, prefix: filepath.Base(binary) + " " + args[0] + ": "}, args...)
}

// startProcQuiet discards the process's log, for tests with many processes.
func startProcQuiet(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProcTo(t, io.Discard, args...)
}

func startProcTo(t testing.TB, stderr io.Writer, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// value waits for a stdout line "name: value" and returns the value.
func (p *proc) value(t testing.TB, name string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("process exited before printing %q", name)
			}
			if v, found := strings.CutPrefix(line, name+": "); found {
				return v
			}
		case <-timeout:
			t.Fatalf("no %q line within 30s", name)
		}
	}
}

type testLogWriter struct {
	t      testing.TB
	prefix string
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

type peerStatus struct {
	Key, Addr, State, Error string
}

func peersOf(t *testing.T, statusURL string) []peerStatus {
	t.Helper()
	resp, err := http.Get(statusURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Peers []peerStatus `json:"peers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Peers
}

func waitPeerState(t *testing.T, statusURL, key, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range peersOf(t, statusURL) {
			if p.Key == key && p.State == state {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("peer %s never %s; peers: %+v", key[:12], state, peersOf(t, statusURL))
}

func startNodeProc(t *testing.T, dataDir string, peers ...string) (p *proc, contact, status string) {
	args := []string{"node", "--listen", "127.0.0.1:0", "--monitor", "127.0.0.1:0", "--data-dir", dataDir}
	for _, c := range peers {
		args = append(args, "--peers", c)
	}
	p = startProc(t, args...)
	return p, p.value(t, "contact"), p.value(t, "monitor")
}

// TestNodeProcessesConnectWithPinnedKeys runs two borgios node processes on
// 127.0.0.1: they greet each other over QUIC with pinned keys; a third,
// given the first node's address under a wrong key, is refused; and SIGTERM
// stops a node cleanly, after which it restarts with the same key.
func TestNodeProcessesConnectWithPinnedKeys(t *testing.T) {
	dirA := t.TempDir()
	a, contactA, statusA := startNodeProc(t, dirA)
	keyA, addrA, _ := strings.Cut(contactA, "@")
	b, contactB, statusB := startNodeProc(t, t.TempDir(), contactA)
	keyB, _, _ := strings.Cut(contactB, "@")
	waitPeerState(t, statusB, keyA, "connected")
	waitPeerState(t, statusA, keyB, "connected")

	wrongKey := strings.Repeat("ab", 32)
	_, _, statusC := startNodeProc(t, t.TempDir(), wrongKey+"@"+addrA)
	waitPeerState(t, statusC, wrongKey, "wrong-key")

	for _, p := range []*proc{a, b} {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Fatal("node did not stop within 20s of SIGTERM")
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("node exited with %d after SIGTERM, want 0", code)
		}
	}
	_, contactA2, _ := startNodeProc(t, dirA)
	if key2, _, _ := strings.Cut(contactA2, "@"); key2 != keyA {
		t.Fatalf("restarted node has key %s, want %s", key2, keyA)
	}
}
