//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// The NAT process test runs real `borgios node` processes in the network
// namespaces scripts/netns.sh builds (see its header for the picture):
// an internet with two public nodes, home A behind a masquerading router
// with one forwarded UDP port (h1 gets it; h2 and h3 are unreachable and
// relay through h1, found by LAN broadcast), and home B behind a second
// router with nothing forwarded (g1, relayed through an internet node).

// natHeartbeat is the processes' tree heartbeat: fast enough for the test
// to finish in well under a minute and a half, slow enough for a loaded
// machine.
const natHeartbeat = 250 * time.Millisecond

// nsNet is one instance of the scripts/netns.sh topology.
type nsNet struct {
	t      *testing.T
	script string
	prefix string
}

// newNSNet builds the namespaces, or skips the test where it cannot; they
// are removed when the test ends, failed or not.
func newNSNet(t *testing.T) *nsNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("NAT process test needs root: it builds network namespaces (ip netns, veth, iptables masquerade)")
	}
	for _, tool := range []string{"ip", "iptables", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("NAT process test needs %s (Debian: iproute2, iptables)", tool)
		}
	}
	if testing.Short() {
		t.Skip("NAT process test skipped in -short mode")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "netns.sh"))
	if err != nil {
		t.Fatal(err)
	}
	n := &nsNet{t: t, script: script, prefix: fmt.Sprintf("bn%d", os.Getpid()%100000)}
	n.down()
	t.Cleanup(n.down)
	if out, err := exec.Command("bash", script, "up", n.prefix).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Operation not permitted") {
			t.Skipf("NAT process test: cannot build namespaces here (%s)", strings.TrimSpace(string(out)))
		}
		t.Fatalf("netns.sh up: %v\n%s", err, out)
	}
	return n
}

func (n *nsNet) down() {
	if out, err := exec.Command("bash", n.script, "down", n.prefix).CombinedOutput(); err != nil {
		n.t.Logf("netns.sh down: %v\n%s", err, out)
	}
}

func (n *nsNet) ns(host string) string { return n.prefix + "-" + host }

// command runs name on host (ip netns exec executes it in place, so the
// process is the command itself).
func (n *nsNet) command(host string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.ns(host)}, args...)...)
}

// do runs fn on an OS thread moved into host's network namespace. Sockets
// fn creates stay in that namespace for their whole life, whichever thread
// uses them later; the thread itself is thrown away afterwards (the
// goroutine exits still locked), so no other goroutine ever runs in the
// wrong namespace.
func (n *nsNet) do(host string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/var/run/netns", n.ns(host)))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.ns(host), err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// httpClient is an HTTP client whose connections start in host's
// namespace, for monitors listening on 127.0.0.1 there.
func (n *nsNet) httpClient(host string) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := n.do(host, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// client is a signing cell client whose transport lives in host's
// namespace (a conduit-side client there).
func (n *nsNet) client(host string) *cell.Client {
	n.t.Helper()
	_, k, _ := ed25519.GenerateKey(nil)
	var tr *transport.Transport
	err := n.do(host, func() error {
		var err error
		tr, err = transport.Listen(transport.Config{Key: k, ListenAddr: "0.0.0.0:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		return err
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { tr.Close() })
	now := func() int64 { return time.Now().UnixMilli() }
	return &cell.Client{Transport: tr, Key: k, Network: testNetwork, Now: now, Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: now})}
}

// natNode is one borgios node process in the namespaces.
type natNode struct {
	name, host string
	dir        string
	p          *proc
	contact    string
	key        string
	addr       string
	status     string
	http       *http.Client
	log        string
}

// launch starts `borgios node` on host; ready then waits for its contact.
func (n *nsNet) launch(name, host, listen, cells string, peers ...string) *natNode {
	t := n.t
	t.Helper()
	dir := t.TempDir()
	args := []string{binary, "node", "--listen", listen, "--monitor", "127.0.0.1:0", "--data-dir", dir,
		"--cells", cells, "--heartbeat", natHeartbeat.String(), "--log-level", "info"}
	for _, p := range peers {
		args = append(args, "--peers", p)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.command(host, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
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
	t.Cleanup(func() {
		p.kill()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s log (tail) ---\n%s", name, tailString(string(b), 4000))
		}
	})
	return &natNode{name: name, host: host, dir: dir, p: p, http: n.httpClient(host), log: logPath}
}

func (nn *natNode) ready(t *testing.T) *natNode {
	t.Helper()
	nn.contact = nn.p.value(t, "contact")
	nn.status = nn.p.value(t, "monitor")
	c, err := node.ParseContact(nn.contact)
	if err != nil {
		t.Fatal(err)
	}
	nn.key, nn.addr = hex.EncodeToString(c.Key), c.Addr
	return nn
}

func (nn *natNode) target() cell.Target {
	k, _ := hex.DecodeString(nn.key)
	return cell.Target{Key: k, Addr: nn.addr}
}

// natStatus is the part of a node's /status this test reads.
type natStatus struct {
	Cells map[string]cellStatus `json:"cells"`
	NAT   struct {
		Reach       string            `json:"reach"`
		Observed    string            `json:"observed"`
		Relayed     string            `json:"relayed"`
		Clients     map[string]uint64 `json:"relay_clients"`
		Direct      map[string]string `json:"direct"`
		PunchDirect uint64            `json:"punch_direct"`
		PunchFailed uint64            `json:"punch_failed"`
		Usage       []struct {
			Client []byte `json:"client"`
			Bytes  uint64 `json:"bytes"`
			Acked  uint64 `json:"acked"`
		} `json:"relay_usage"`
	} `json:"nat"`
	Peers []struct {
		Key      string    `json:"key"`
		State    string    `json:"state"`
		RTT      float64   `json:"rtt_ms"`
		LastSeen time.Time `json:"last_seen"`
	} `json:"peers"`
}

func (nn *natNode) get() (natStatus, error) {
	var st natStatus
	resp, err := nn.http.Get(nn.status)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (nn *natNode) mustStatus(t *testing.T) natStatus {
	t.Helper()
	st, err := nn.get()
	if err != nil {
		t.Fatalf("%s: status: %v", nn.name, err)
	}
	return st
}

// waitFor polls cond (which says why it is not yet true) until it holds.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, limit, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// runFilesIn runs "borgios files ARGS..." on host with the phrase on stdin.
func (n *nsNet) runFilesIn(host, phrase string, peers []string, args ...string) string {
	t := n.t
	t.Helper()
	full := []string{binary, "files", "--network", testNetwork, "--progress", "never", "--timeout", "2m"}
	for _, p := range peers {
		full = append(full, "--peer", p)
	}
	cmd := n.command(host, append(full, args...)...)
	cmd.Stdin = strings.NewReader(phrase + "\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("borgios files %v on %s: %v\n%s%s", args, host, err, out.String(), errb.String())
	}
	return out.String()
}

// TestNATHomesProcesses is issue 10's done-when test with real processes:
// three nodes in a home behind a NAT with one forwarded port, two nodes in
// the internet and one in a second home. All form one tree, every node
// receives a broadcast sent through an unreachable node, a client in the
// internet stores a file only on the home nodes (shards land on the two
// unreachable ones and are read back from them through the relay), and the
// second home reports whether hole punching found a direct path to the
// first or the relay carries it; both paths are used.
func TestNATHomesProcesses(t *testing.T) {
	n := newNSNet(t)
	begin := time.Now()
	const inetCells, homeCells = "registry,crono", "registry,shard,files,crono"

	i1 := n.launch("i1", "inet", "10.99.0.10:7446", inetCells).ready(t)
	i2 := n.launch("i2", "inet", "10.99.0.11:7446", inetCells, i1.contact).ready(t)
	h1 := n.launch("h1", "h1", "0.0.0.0:7446", homeCells, i2.contact).ready(t)
	if h1.addr != "10.99.0.1:7446" {
		t.Fatalf("h1 (the forwarded port) advertises %s, want 10.99.0.1:7446", h1.addr)
	}
	// h2 on a port of its own, h3 on the one h1 holds at the router.
	h2 := n.launch("h2", "h2", "0.0.0.0:7450", homeCells, i2.contact)
	h3 := n.launch("h3", "h3", "0.0.0.0:7446", homeCells, i2.contact)
	h2.ready(t)
	h3.ready(t)
	viaH1 := "r-" + h1.key + ".10.99.0.1:7446"
	for _, h := range []*natNode{h2, h3} {
		if h.addr != viaH1 {
			t.Fatalf("%s advertises %s, want relayed through h1 (%s)", h.name, h.addr, viaH1)
		}
	}
	// g1 in home B greets h2 in home A: the relayed dial makes it try a
	// direct path by hole punching.
	g1 := n.launch("g1", "g1", "0.0.0.0:7446", inetCells, i2.contact, h2.contact).ready(t)
	if !strings.HasPrefix(g1.addr, "r-") {
		t.Fatalf("g1 (home B, nothing forwarded) advertises %s, want a relayed address", g1.addr)
	}
	all := []*natNode{i1, i2, h1, h2, h3, g1}
	for _, nn := range all {
		st := nn.mustStatus(t)
		t.Logf("%s: %s reach=%s observed=%s", nn.name, nn.addr, st.NAT.Reach, st.NAT.Observed)
	}
	for _, nn := range []*natNode{h2, h3, g1} {
		if st := nn.mustStatus(t); st.NAT.Reach != "nat" {
			t.Fatalf("%s: reach %q, want nat", nn.name, st.NAT.Reach)
		}
	}
	t.Logf("six nodes up in %v", time.Since(begin).Round(time.Millisecond))

	// One registry tree over all six.
	waitFor(t, "one registry tree of 6", 90*time.Second, func() string {
		root, seen := "", map[int]bool{}
		for _, nn := range all {
			st, err := nn.get()
			if err != nil {
				return err.Error()
			}
			r := st.Cells[registry.DNA.Name]
			if r.Size != len(all) || r.Position < 1 || r.Position > len(all) || seen[r.Position] {
				return fmt.Sprintf("%s: %s pos %d size %d", nn.name, r.Status, r.Position, r.Size)
			}
			if root != "" && r.Root.Key != root {
				return fmt.Sprintf("%s has root %.8s, others %.8s", nn.name, r.Root.Key, root)
			}
			root, seen[r.Position] = r.Root.Key, true
		}
		return ""
	})
	t.Logf("one tree after %v", time.Since(begin).Round(time.Millisecond))

	// A broadcast handed to an unreachable node reaches every node.
	inet := n.client("inet")
	inner, err := wire.Seal(inet.Key, wire.Header{Network: testNetwork, Cell: registry.DNA.Name, Kind: "hello-all", Time: time.Now().UnixMilli()}, []byte("hello from behind a NAT"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	rawID, err := inet.Call(ctx, h3.target(), registry.DNA, cell.KindAnnounce, inner)
	cancel()
	if err != nil {
		t.Fatalf("announce via h3: %v", err)
	}
	id := hex.EncodeToString(rawID)
	waitFor(t, "broadcast delivered everywhere", 60*time.Second, func() string {
		for _, nn := range all {
			st, err := nn.get()
			if err != nil {
				return err.Error()
			}
			if _, d := st.Cells[registry.DNA.Name].broadcast(id); d == 0 {
				return nn.name + " has not delivered it"
			}
		}
		return ""
	})

	// The internet client's view lists the three home nodes as the only
	// shard holders; then it stores a file there and reads it back.
	waitFor(t, "home nodes listed as shard holders", 60*time.Second, func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		es, err := registry.Dump(ctx, inet, i1.target())
		if err != nil {
			return err.Error()
		}
		holders := 0
		for _, e := range es {
			if e.Serves(shard.DNA.Name) {
				holders++
			}
		}
		if holders != 3 {
			return fmt.Sprintf("%d shard holders", holders)
		}
		return ""
	})
	phrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4<<20)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "home.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	peers := []string{i1.contact, i2.contact}
	n.runFilesIn("inet", phrase, peers, "put", src, "/home.bin")
	for _, h := range []*natNode{h1, h2, h3} {
		if c := blobCount(&filesNode{dir: h.dir}); c == 0 {
			t.Fatalf("%s holds no shard after the upload", h.name)
		}
	}
	carried := func() (h2b, h3b uint64) {
		st := h1.mustStatus(t)
		return st.NAT.Clients[h2.key], st.NAT.Clients[h3.key]
	}
	b2, b3 := carried()
	dst := filepath.Join(t.TempDir(), "back.bin")
	n.runFilesIn("inet", phrase, peers, "get", "/home.bin", dst)
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the %d stored", len(got), err, len(data))
	}
	a2, a3 := carried()
	t.Logf("read back through the relay: h1 carried %d bytes for h2 and %d for h3 (4 MiB file, 3 holders per shard)", a2-b2, a3-b3)
	if (a2-b2)+(a3-b3) < 1<<20 {
		t.Fatalf("the relay carried only %d bytes for the unreachable holders during the read", (a2-b2)+(a3-b3))
	}

	// Two homes: did g1 get a direct path to h2? Either way it reaches h2.
	var how string
	waitFor(t, "g1's hole punching towards h2 decided", 60*time.Second, func() string {
		st, err := g1.get()
		if err != nil {
			return err.Error()
		}
		if d := st.NAT.Direct[h2.addr]; d != "" {
			how = "direct " + d
		} else if st.NAT.PunchFailed > 0 {
			how = "relayed (no direct path)"
		} else {
			return "still punching"
		}
		return ""
	})
	t.Logf("home B -> home A (g1 -> h2): %s", how)
	since := time.Now()
	waitFor(t, "g1 greets h2 after the punch", 60*time.Second, func() string {
		st, err := g1.get()
		if err != nil {
			return err.Error()
		}
		for _, p := range st.Peers {
			if p.Key == h2.key && p.State == "connected" && p.LastSeen.After(since) {
				t.Logf("g1 -> h2: %s, rtt %.2f ms", how, p.RTT)
				return ""
			}
		}
		return "not greeted since"
	})
	// And the relayed path from home B: a client there reads the file from
	// home A (its unreachable holders only through h1).
	dstB := filepath.Join(t.TempDir(), "back-b.bin")
	n.runFilesIn("g1", phrase, peers, "get", "/home.bin", dstB)
	if got, err := os.ReadFile(dstB); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("home B read back %d bytes (%v), want the %d stored", len(got), err, len(data))
	}
	for _, u := range h1.mustStatus(t).NAT.Usage {
		t.Logf("h1 relayed %d bytes for %.12x (its latest signed receipt: %d)", u.Bytes, u.Client, u.Acked)
	}
	t.Logf("done in %v", time.Since(begin).Round(time.Millisecond))
}
