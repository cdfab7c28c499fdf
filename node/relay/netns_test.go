package relay_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The netns test runs in the topology of scripts/netns.sh (root only; it
// skips elsewhere); see the script's header for the picture:
//
//	internet (bridge 10.99.0.0/24): i1, i2 (relays), the client c
//	  natA (wan 10.99.0.1): masquerade for home A 192.168.7.0/24 on a bridge,
//	    UDP 7446 forwarded to h1 (192.168.7.2); h2, h3 have no forwarded port
//	  natB (wan 10.99.0.4): masquerade for home B 192.168.8.0/24, no forward: g1
//
// Every home node sits in its own namespace on its home bridge, so LAN
// broadcast discovery works as on a real LAN. Both routers drop unsolicited
// WAN input, as home routers do (DESIGN.md: why hole punching needs that).

type netns struct {
	t      *testing.T
	script string
	prefix string
}

func (n *netns) up() {
	n.t.Helper()
	if out, err := exec.Command("bash", n.script, "up", n.prefix).CombinedOutput(); err != nil {
		n.t.Fatalf("netns.sh up: %v\n%s", err, out)
	}
}

func (n *netns) cleanup() {
	if out, err := exec.Command("bash", n.script, "down", n.prefix).CombinedOutput(); err != nil {
		n.t.Logf("netns.sh down: %v\n%s", err, out)
	}
}

func (n *netns) ns(host string) string { return n.prefix + "-" + host }

type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
}

func start(t *testing.T, bin, ns, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	p := &proc{name: name, cmd: cmd, stdin: stdin}
	p.cond = sync.NewCond(&p.mu)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.lines = append(p.lines, "EXIT")
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- %s stderr (tail) ---\n%s", name, tail(string(b), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// wait returns the first line with prefix for which ok holds, within d.
func (p *proc) wait(t *testing.T, prefix string, d time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; ; {
		for ; i < len(p.lines); i++ {
			l := p.lines[i]
			if strings.HasPrefix(l, "ERROR") || l == "EXIT" {
				t.Fatalf("%s: %s (lines %v)", p.name, l, p.lines)
			}
			if strings.HasPrefix(l, prefix) && (ok == nil || ok(l)) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q line within %v; lines: %v", p.name, prefix, d, p.lines)
		}
		p.cond.Wait()
	}
}

func (p *proc) field(t *testing.T, prefix string, i int) string {
	return strings.Fields(p.wait(t, prefix, 120*time.Second, nil))[i]
}

func TestNetnsHomesBehindNAT(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("netns NAT test needs root (ip netns, veth, iptables masquerade)")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("netns NAT test needs %s (Debian: iproute2, iptables)", tool)
		}
	}
	if testing.Short() {
		t.Skip("netns NAT test skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "natnode")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/natnode").CombinedOutput(); err != nil {
		t.Fatalf("build natnode: %v\n%s", err, out)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "netns.sh"))
	if err != nil {
		t.Fatal(err)
	}
	n := &netns{t: t, script: script, prefix: fmt.Sprintf("rn%d", os.Getpid()%100000)}
	n.cleanup()
	t.Cleanup(n.cleanup)
	n.up()

	dir := t.TempDir()
	node := func(ns, name, listen string, extra ...string) *proc {
		args := append([]string{"-listen", listen, "-dir", filepath.Join(dir, name)}, extra...)
		return start(t, bin, n.ns(ns), name, args...)
	}
	i1 := node("inet", "i1", "10.99.0.10:7446")
	i1c := i1.field(t, "KEY", 1) + "@10.99.0.10:7446"
	i2 := node("inet", "i2", "10.99.0.11:7446", "-peers", i1c)
	i2c := i2.field(t, "KEY", 1) + "@10.99.0.11:7446"
	inet := i1c + "," + i2c
	h1 := node("h1", "h1", "0.0.0.0:7446", "-peers", inet)
	if reach := h1.wait(t, "REACH", 120*time.Second, nil); !strings.HasPrefix(reach, "REACH 1 10.99.0.1:7446") {
		t.Fatalf("h1 (forwarded port): %s, want public at 10.99.0.1:7446", reach)
	}
	// h2 listens on its own port: a NAT that preserves ports then maps its
	// flows to the same public port whatever the destination (h1 holds
	// 7446), which is what makes hole punching towards it work.
	h2 := node("h2", "h2", "0.0.0.0:7450", "-peers", inet)
	h3 := node("h3", "h3", "0.0.0.0:7446", "-peers", inet)
	h1key := h1.field(t, "KEY", 1)
	for _, h := range []*proc{h2, h3} {
		reach := h.wait(t, "REACH", 120*time.Second, nil)
		// Behind NAT, relayed through h1 (found on the LAN).
		if !strings.HasPrefix(reach, "REACH 2 ") || !strings.Contains(reach, "r-"+h1key+".10.99.0.1:7446") {
			t.Fatalf("%s: %s, want NAT relayed by h1", h.name, reach)
		}
		t.Logf("%s: %s", h.name, reach)
	}
	h2addr := h2.field(t, "ADDR", 1)
	g1 := node("g1", "g1", "0.0.0.0:7446", "-peers", inet, "-punch", h2.field(t, "KEY", 1)+"@"+h2addr)
	g1reach := g1.wait(t, "REACH", 120*time.Second, nil)
	if !strings.HasPrefix(g1reach, "REACH 2 ") {
		t.Fatalf("g1: %s, want NAT", g1reach)
	}
	t.Logf("g1: %s", g1reach)

	all := []*proc{i1, i2, h1, h2, h3, g1}
	// One tree and every node's entry broadcast to every node: each table
	// holds all 6 nodes, 3 of them NATed (h2, h3, g1), in the same tree.
	tree := ""
	for _, p := range all {
		l := p.wait(t, "ENTRIES", 180*time.Second, func(l string) bool { return strings.HasPrefix(l, "ENTRIES 6 nat=3 ") })
		id := strings.TrimPrefix(strings.Fields(l)[3], "view=")
		if tree == "" {
			tree = id
		}
		t.Logf("%s: %s", p.name, l)
		if id != tree {
			// Trees merge over time; wait for the common one.
			l = p.wait(t, "ENTRIES", 180*time.Second, func(l string) bool { return strings.HasSuffix(l, "view="+tree) })
		}
	}
	// The client in the internet stores a file on the three home nodes only
	// (two of them unreachable) and reads it back through the relay.
	homeKeys := strings.Join([]string{h1key, h2.field(t, "KEY", 1), h3.field(t, "KEY", 1)}, ",")
	c := node("inet", "client", "10.99.0.12:7446", "-relay=false", "-peers", inet, "-store-on", homeKeys, "-want", "6")
	got := c.wait(t, "GOT", 180*time.Second, nil)
	if !strings.HasPrefix(got, "GOT ok") {
		t.Fatalf("client: %s", got)
	}
	t.Logf("client: %s", got)
	// Two homes behind two NATs: g1 (home B) tried a direct path to h2
	// (home A) by hole punching; either way it reaches h2.
	punch := g1.wait(t, "PUNCH", 120*time.Second, nil)
	t.Logf("home B -> home A: %s", punch)
}
