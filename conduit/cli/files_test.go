package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/identity"
)

// cellNet starts n in-process nodes running crono, registry, shard and
// the cell named over QUIC on 127.0.0.1 and returns their contact lines
// once every node's registry lists all of them as members of it and of
// shard.
func cellNet(t *testing.T, n int, name string) []string {
	t.Helper()
	if !slices.Contains(node.CellNames(), name) {
		t.Skipf("this build does not run the %s cell yet (node/cells.go)", name)
	}
	var nodes []*node.Node
	var contacts []string
	for i := range n {
		var peers []node.Contact
		if i > 0 {
			peers = append(peers, nodes[0].Contact(), nodes[i-1].Contact())
		}
		nd, err := node.Start(context.Background(), node.Config{
			DataDir: t.TempDir(), Listen: "127.0.0.1:0", Peers: peers,
			Cells:         []string{"crono", "registry", "shard", name},
			TreeHeartbeat: 250 * time.Millisecond, PeerInterval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
		contacts = append(contacts, nd.Contact().String())
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		ok := true
		for _, nd := range nodes {
			if len(nd.Registry().Lookup(name, 1000)) != n || len(nd.Registry().Lookup("shard", 1000)) != n {
				ok = false
			}
		}
		if ok {
			return contacts
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registries never listed all %d %s nodes", n, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// filesNet is cellNet of the files cell.
func filesNet(t *testing.T, n int) []string { return cellNet(t, n, files.DNA.Name) }

func TestFilesPutGetLsRm(t *testing.T) {
	peers := filesNet(t, 4)
	phrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	// The second --peer is a failover: a bogus first one must not matter.
	base := []string{"files", "--peer", strings.Repeat("ab", 32) + "@127.0.0.1:1", "--peer", peers[0], "--peer", peers[1], "--progress", "always"}
	run := func(args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runCLI(t, phrase+"\n", append(slices.Clone(base), args...)...)
		if code != 0 {
			t.Fatalf("borgios %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out, errOut
	}
	src := t.TempDir()
	big := make([]byte, 3<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "note.txt"), []byte("a note"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "deeper", "x"), []byte("x"), 0o644)

	_, errOut := run("put", filepath.Join(src, "big.bin"), "/one/big.bin")
	if !strings.Contains(errOut, "put /one/big.bin") || !strings.Contains(errOut, "/s") {
		t.Fatalf("no progress on stderr for a large file: %q", errOut)
	}
	run("put", filepath.Join(src, "sub"), "/tree")
	out, _ := run("ls", "-r", "--json")
	var list []entryOutput
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, out)
	}
	var paths []string
	for _, e := range list {
		paths = append(paths, e.Path)
	}
	want := "[/one /one/big.bin /tree /tree/deeper /tree/deeper/x /tree/note.txt]"
	if got := strings.Join(strings.Fields(strings.Trim(strings.Join(paths, " "), " ")), " "); "["+got+"]" != want {
		t.Fatalf("ls -r lists %v, want %s", paths, want)
	}
	out, _ = run("ls", "/tree")
	if !strings.Contains(out, "/tree/note.txt") || !strings.Contains(out, "/tree/deeper/") {
		t.Fatalf("ls /tree:\n%s", out)
	}

	dst := t.TempDir()
	_, errOut = run("get", "/one/big.bin", filepath.Join(dst, "big.bin"))
	if got, _ := os.ReadFile(filepath.Join(dst, "big.bin")); !bytes.Equal(got, big) {
		t.Fatal("big.bin differs after get")
	}
	// The stream fetcher's progress: bytes, rate and the holders used.
	if !strings.Contains(errOut, "get /one/big.bin") || !strings.Contains(errOut, "/s") || !strings.Contains(errOut, "source") {
		t.Fatalf("no download progress with sources on stderr: %q", errOut)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 1 {
		t.Fatalf("get left %d entries in the directory, want just the file", len(ents))
	}
	run("get", "/tree", filepath.Join(dst, "tree"))
	if got, _ := os.ReadFile(filepath.Join(dst, "tree", "deeper", "x")); string(got) != "x" {
		t.Fatalf("recursive get: %q", got)
	}
	run("rm", "/one")
	out, _ = run("ls")
	if strings.Contains(out, "/one") || !strings.Contains(out, "/tree/") {
		t.Fatalf("ls after rm:\n%s", out)
	}
	code, _, errOut := runCLI(t, phrase+"\n", append(slices.Clone(base), "get", "/one/big.bin", filepath.Join(dst, "gone"))...)
	if code == 0 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("get of a removed file: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dst, "gone")); !os.IsNotExist(err) {
		t.Fatal("a failed get left a file behind")
	}
	code, _, errOut = runCLI(t, phrase+"\n", "files", "ls")
	if code == 0 || !strings.Contains(errOut, "--peer") {
		t.Fatalf("ls without --peer: exit %d, %q", code, errOut)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 50 << 20: "50.0 MiB"} {
		if got := humanBytes(n); got != want {
			t.Fatalf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// A computer whose clock is ten minutes fast (a stranger's laptop): the
// commands learn the network's time from the peers' signed answers, say
// so, and work; with the correction off, the nodes refuse every request.
func TestFilesWrongClock(t *testing.T) {
	peers := filesNet(t, 3)
	phrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	skew := int64(10 * 60 * 1000)
	real := computerClock
	computerClock = func() int64 { return real() + skew }
	t.Cleanup(func() { computerClock = real })
	base := []string{"files", "--peer", peers[0], "--peer", peers[1], "--peer", peers[2]}
	src := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(src, []byte("the clock was wrong"), 0o600)
	code, out, errOut := runCLI(t, phrase+"\n", append(slices.Clone(base), "put", src, "/note.txt")...)
	if code != 0 || !strings.Contains(errOut, "clock is 10m0s ahead of the network's") {
		t.Fatalf("put with a clock 10 minutes fast: exit %d\n%s\n%s", code, out, errOut)
	}
	dst := filepath.Join(t.TempDir(), "note.txt")
	if code, _, errOut := runCLI(t, phrase+"\n", append(slices.Clone(base), "get", "/note.txt", dst)...); code != 0 {
		t.Fatalf("get: exit %d\n%s", code, errOut)
	}
	if got, _ := os.ReadFile(dst); string(got) != "the clock was wrong" {
		t.Fatalf("read back %q", got)
	}
	// One peer only, a day slow: trusted, since the person named it.
	skew = -24 * 3600 * 1000
	if code, out, errOut := runCLI(t, phrase+"\n", "files", "--peer", peers[1], "ls"); code != 0 || !strings.Contains(out, "/note.txt") ||
		!strings.Contains(errOut, "clock is 24h0m0s behind") {
		t.Fatalf("ls with a clock a day slow: exit %d\n%s\n%s", code, out, errOut)
	}
}
