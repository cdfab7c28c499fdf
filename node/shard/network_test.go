package shard

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"time"
)

const marker = "BORGIOS-PLAINTEXT-MARKER-7f3a9c"

// mixedFiles makes files of awkward sizes adding up to about total bytes:
// empty, one byte, chunk-1/chunk/chunk+1, text full of the marker, and
// random data with the marker sprinkled in.
func mixedFiles(total int) [][]byte {
	var files [][]byte
	for _, n := range []int{0, 1, DefaultChunkSize - 1, DefaultChunkSize, DefaultChunkSize + 1} {
		files = append(files, bytes.Repeat([]byte(marker[:1]), n))
	}
	text := bytes.Repeat([]byte("Dear diary, "+marker+" nothing happened today.\n"), 20_000)
	files = append(files, text)
	used := 3*DefaultChunkSize + len(text)
	for used < total {
		n := min(total-used, 7<<20+12345)
		b := make([]byte, n)
		rand.Read(b)
		for off := 0; off+len(marker) < n; off += 100_000 {
			copy(b[off:], marker)
		}
		files = append(files, b)
		used += n
	}
	return files
}

// TestNetwork is the storage acceptance test on a real network of ten
// nodes over QUIC on 127.0.0.1: mixed files round trip bit-identical; no
// data directory holds plaintext; two nodes holding copies are killed and
// every file still reads back; every shard is back at k copies within the
// stated bound.
func TestNetwork(t *testing.T) {
	const scrub = 500 * time.Millisecond
	nodes := startNetwork(t, 10, nodeOpts{scrub: scrub})
	p := newPerson(t, nodes[:3]...)
	ctx := context.Background()

	files := mixedFiles(networkTestBytes)
	manifests := make([]*Manifest, len(files))
	start := time.Now()
	var total int64
	for i, f := range files {
		m, err := p.client.Put(ctx, bytes.NewReader(f), nil)
		if err != nil {
			t.Fatalf("put file %d: %v", i, err)
		}
		raw, err := p.client.SealManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		if manifests[i], err = p.client.OpenManifest(raw); err != nil {
			t.Fatal(err)
		}
		total += int64(len(f))
	}
	t.Logf("uploaded %d files, %.1f MB in %v", len(files), float64(total)/1e6, time.Since(start).Round(time.Millisecond))

	readAll := func(stage string) {
		t.Helper()
		for i, m := range manifests {
			var out bytes.Buffer
			rep, err := p.client.Get(ctx, m, &out)
			if err != nil {
				t.Fatalf("%s: get file %d: %v", stage, i, err)
			}
			if !bytes.Equal(out.Bytes(), files[i]) {
				t.Fatalf("%s: file %d differs", stage, i)
			}
			if rep.BadCopies > 0 {
				t.Logf("%s: file %d: %+v", stage, i, rep)
			}
		}
	}
	readAll("fresh")

	// Every shard sits on exactly its k HRW holders, once the scrub has
	// handed off what a view that lapsed under load misplaced.
	placed := func() error {
		members, _ := RegistryMembers(nodes[0].reg).Members(ctx)
		for _, m := range manifests {
			for _, s := range m.Shards {
				hs := holdersOf(nodes, s.ID)
				if len(hs) != DefaultK {
					return fmt.Errorf("shard %s on %d nodes", s.ID.Short(), len(hs))
				}
				for _, h := range hs {
					if !IsHolder(s.ID, members, DefaultK, h.pub()) {
						return fmt.Errorf("shard %s on a node that is not its holder", s.ID.Short())
					}
				}
			}
		}
		return nil
	}
	for deadline := time.Now().Add(120 * time.Second); ; {
		err := placed()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// No plaintext on any disk.
	for i, n := range nodes {
		filepath.WalkDir(n.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("node %d: plaintext marker found in %s", i, path)
			}
			return nil
		})
	}

	// Kill the first two holders of the largest file's first shard.
	members, _ := RegistryMembers(nodes[0].reg).Members(ctx)
	big := manifests[len(manifests)-1]
	victims := Holders(big.Shards[0].ID, members, DefaultK)[:2]
	var live []*tnode
	for _, n := range nodes {
		if n.pub().Equal(victims[0].Key) || n.pub().Equal(victims[1].Key) {
			n.kill()
		} else {
			live = append(live, n)
		}
	}
	killed := time.Now()
	// The person's registry contact may have died: ask a live one.
	p.client.cfg.Members = RemoteMembers(p.call, targets(live[:3]))
	lost := 0
	for _, m := range manifests {
		for _, s := range m.Shards {
			if len(holdersOf(live, s.ID)) < DefaultK {
				lost++
			}
		}
	}
	t.Logf("killed 2 of 10 nodes: %d shards lost copies", lost)

	waitMembers(t, live, len(live))
	readAll("after kill")

	// Back to k: the bound is the registry TTL (the dead leave every view)
	// plus one scrub interval plus one pass.
	bound := testTTL + scrub + 30*time.Second // a pass on a loaded 2-core machine under -race
	for {
		short := 0
		for _, m := range manifests {
			for _, s := range m.Shards {
				if len(holdersOf(live, s.ID)) < DefaultK {
					short++
				}
			}
		}
		if short == 0 {
			break
		}
		if time.Since(killed) > bound+30*time.Second {
			t.Fatalf("%d shards still below k %v after the kill", short, time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("every shard back at k=%d copies %v after the kill (bound %v)", DefaultK, time.Since(killed).Round(time.Millisecond), bound)
	readAll("after repair")
}
