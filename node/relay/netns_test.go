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

// The netns test builds this topology (root only; it skips elsewhere):
//
//	internet (bridge 10.99.0.0/24): i1, i2 (relays), the client c
//	  natA (wan 10.99.0.1): masquerade for home A 192.168.7.0/24 on a bridge,
//	    UDP 7446 forwarded to h1 (192.168.7.2); h2, h3 have no forwarded port
//	  natB (wan 10.99.0.4): masquerade for home B 192.168.8.0/24, no forward: g1
//
// Every home node sits in its own namespace on its home bridge, so LAN
// broadcast discovery works as on a real LAN.

type netns struct {
	t      *testing.T
	prefix string
	names  []string
}

func (n *netns) run(args ...string) {
	n.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (n *netns) in(ns string, args ...string) {
	n.run(append([]string{"ip", "netns", "exec", n.prefix + ns}, args...)...)
}

func (n *netns) add(ns string) {
	n.run("ip", "netns", "add", n.prefix+ns)
	n.names = append(n.names, n.prefix+ns)
	n.in(ns, "ip", "link", "set", "lo", "up")
}

// link makes a veth pair a (in ns a) - b (in ns b).
func (n *netns) link(nsA, ifA, nsB, ifB string) {
	tmpA, tmpB := fmt.Sprintf("%s%sa", n.prefix, ifA), fmt.Sprintf("%s%sb", n.prefix, ifB)
	n.run("ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	n.run("ip", "link", "set", tmpA, "netns", n.prefix+nsA)
	n.run("ip", "link", "set", tmpB, "netns", n.prefix+nsB)
	n.in(nsA, "ip", "link", "set", tmpA, "name", ifA)
	n.in(nsB, "ip", "link", "set", tmpB, "name", ifB)
	n.in(nsA, "ip", "link", "set", ifA, "up")
	n.in(nsB, "ip", "link", "set", ifB, "up")
}

func (n *netns) bridge(ns, br string, ports ...string) {
	n.in(ns, "ip", "link", "add", br, "type", "bridge")
	for _, p := range ports {
		n.in(ns, "ip", "link", "set", p, "master", br)
	}
	n.in(ns, "ip", "link", "set", br, "up")
}

func (n *netns) cleanup() {
	for _, name := range n.names {
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

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
	n := &netns{t: t, prefix: fmt.Sprintf("h8n%d", os.Getpid()%100000)}
	t.Cleanup(n.cleanup)
	n.add("inet")
	n.add("natA")
	n.add("natB")
	for _, h := range []string{"h1", "h2", "h3", "g1"} {
		n.add(h)
	}
	n.link("natA", "wan", "inet", "pa")
	n.link("natB", "wan", "inet", "pb")
	n.bridge("inet", "bri", "pa", "pb")
	n.in("inet", "ip", "addr", "add", "10.99.0.2/24", "dev", "bri")
	for _, ip := range []string{"10.99.0.10", "10.99.0.11", "10.99.0.12"} {
		n.in("inet", "ip", "addr", "add", ip+"/24", "dev", "bri")
	}
	n.in("natA", "ip", "addr", "add", "10.99.0.1/24", "dev", "wan")
	n.in("natB", "ip", "addr", "add", "10.99.0.4/24", "dev", "wan")
	// Home A.
	var lanA []string
	for i, h := range []string{"h1", "h2", "h3"} {
		port := "la" + h
		n.link(h, "eth0", "natA", port)
		lanA = append(lanA, port)
		n.in(h, "ip", "addr", "add", fmt.Sprintf("192.168.7.%d/24", i+2), "dev", "eth0")
		n.in(h, "ip", "route", "add", "default", "via", "192.168.7.1")
	}
	n.bridge("natA", "lan", lanA...)
	n.in("natA", "ip", "addr", "add", "192.168.7.1/24", "dev", "lan")
	// Home B.
	n.link("g1", "eth0", "natB", "lbg1")
	n.bridge("natB", "lan", "lbg1")
	n.in("natB", "ip", "addr", "add", "192.168.8.1/24", "dev", "lan")
	n.in("g1", "ip", "addr", "add", "192.168.8.2/24", "dev", "eth0")
	n.in("g1", "ip", "route", "add", "default", "via", "192.168.8.1")
	for _, nat := range []struct{ ns, lan string }{{"natA", "192.168.7.0/24"}, {"natB", "192.168.8.0/24"}} {
		n.in(nat.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		n.in(nat.ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", nat.lan, "-o", "wan", "-j", "MASQUERADE")
		// A home router drops unsolicited packets to itself from the
		// internet. Without this, a peer's early punch packet is delivered
		// locally and leaves a confirmed conntrack entry whose tuple makes
		// masquerade move our own outgoing punch to another port, so hole
		// punching can never meet (see DESIGN.md, Hole punching).
		n.in(nat.ns, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP")
	}
	// The one forwarded port, reachable from inside too (hairpin NAT, as
	// most home routers do it).
	n.in("natA", "iptables", "-t", "nat", "-A", "PREROUTING", "-d", "10.99.0.1", "-p", "udp", "--dport", "7446", "-j", "DNAT", "--to-destination", "192.168.7.2:7446")
	n.in("natA", "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.168.7.0/24", "-d", "192.168.7.2", "-p", "udp", "--dport", "7446", "-j", "MASQUERADE")

	dir := t.TempDir()
	node := func(ns, name, listen string, extra ...string) *proc {
		args := append([]string{"-listen", listen, "-dir", filepath.Join(dir, name)}, extra...)
		return start(t, bin, n.prefix+ns, name, args...)
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
