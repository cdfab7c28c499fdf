package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/shard"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from the stored file (%d vs %d bytes)", len(got), len(want))
	}
	if _, err := os.Stat(path + ".progress"); !os.IsNotExist(err) {
		t.Fatalf("progress file left behind: %v", err)
	}
}

// corruptReads flips a byte of every shard a holder serves: a malicious
// or broken holder.
func corruptReads(next shard.ReadFunc) shard.ReadFunc {
	return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
		b, err := next(ctx, id, buf)
		if err == nil {
			b[len(b)/2] ^= 0x55
		}
		return b, err
	}
}

// countReads counts the reads a holder serves.
func countReads(n *atomic.Int64) wrapRead {
	return func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			n.Add(1)
			return next(ctx, id, buf)
		}
	}
}

func TestMultiSourceFetch(t *testing.T) {
	t.Parallel()
	nodes, v := startNetwork(t, 3, nil)
	p := newPerson(t, v, 3)
	data, m := p.put(t, testFileBytes)
	f := p.fetcher(t, v, nil)
	var calls atomic.Int64
	var last Progress
	var mu sync.Mutex
	out := filepath.Join(t.TempDir(), "file")
	rep, err := f.FetchFile(context.Background(), m, out, func(pr Progress) {
		calls.Add(1)
		mu.Lock()
		last = pr
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	if len(rep.Sources) < 2 {
		t.Fatalf("pieces came from %d holders (%v), want several of %d", len(rep.Sources), rep.Sources, len(nodes))
	}
	mu.Lock()
	defer mu.Unlock()
	if calls.Load() == 0 || last.Bytes != m.Size || last.Total != m.Size || last.Pieces != len(m.Shards) || last.Sources != len(rep.Sources) {
		t.Fatalf("final progress %+v after %d calls, report %+v", last, calls.Load(), rep)
	}
	t.Logf("report: %+v", rep)
}

func TestCorruptHolderAvoided(t *testing.T) {
	t.Parallel()
	nodes, v := startNetwork(t, 3, map[int]nodeMod{0: reads(corruptReads)})
	p := newPerson(t, v, 3)
	data, m := p.put(t, testFileBytes)
	out := filepath.Join(t.TempDir(), "file")
	f := p.fetcher(t, v, nil)
	rep, err := f.FetchFile(context.Background(), m, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	if rep.BadCopies == 0 {
		t.Fatalf("no bad copy detected: %+v", rep)
	}
	if n := rep.Sources[nodes[0].member().Addr]; n != 0 {
		t.Fatalf("%d pieces taken from the corrupting holder", n)
	}
	// Banned after its first bad copy: at most its initial window of
	// requests was ever answered by it.
	if rep.BadCopies > f.cfg.InitialWindow {
		t.Fatalf("%d bad copies: the corrupt holder kept being asked", rep.BadCopies)
	}
}

func TestStallingHolderDoesNotStall(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	stall := func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			select {
			case <-ctx.Done():
			case <-release:
			}
			return buf, errors.New("stalled")
		}
	}
	nodes, v := startNetwork(t, 3, map[int]nodeMod{1: reads(stall)})
	t.Cleanup(func() { close(release) })
	p := newPerson(t, v, 3)
	data, m := p.put(t, testFileBytes)
	out := filepath.Join(t.TempDir(), "file")
	f := p.fetcher(t, v, func(c *Config) { c.UnknownTimeout = 2 * time.Second })
	rep, err := f.FetchFile(context.Background(), m, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	if n := rep.Sources[nodes[1].member().Addr]; n != 0 {
		t.Fatalf("%d pieces from the stalling holder", n)
	}
	// End-game duplicates or timeouts took its pieces elsewhere.
	if rep.Timeouts+rep.Duplicates == 0 {
		t.Fatalf("no timeout or duplicate recorded: %+v", rep)
	}
}

func TestBusyHolderRedirects(t *testing.T) {
	t.Parallel()
	// Node 2 serves one read at a time, each held a little, so a reader's
	// window of requests meets its limit: the real MaxReads path.
	slow := func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			time.Sleep(20 * time.Millisecond)
			return next(ctx, id, buf)
		}
	}
	nodes, v := startNetwork(t, 3, map[int]nodeMod{2: func(c *shard.Config) { c.MaxReads = 1; c.ReadHook = slow }})
	p := newPerson(t, v, 3)
	data, m := p.put(t, testFileBytes)
	out := filepath.Join(t.TempDir(), "file")
	var delivered atomic.Int64
	f := p.fetcher(t, v, func(c *Config) {
		c.OnDelivery = func(e DeliveryEvent) {
			if e.Expected == e.Observed {
				delivered.Add(e.Bytes)
			}
		}
	})
	rep, err := f.FetchFile(context.Background(), m, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	if rep.Busy == 0 || rep.Redirects == 0 {
		t.Fatalf("busy holder never redirected: %+v", rep)
	}
	if nodes[2].sc.Reads() != 0 {
		t.Fatalf("%d reads still counted after the transfer", nodes[2].sc.Reads())
	}
	// Every good piece was reported once (duplicates may add more).
	if got := delivered.Load(); got < int64(len(m.Shards))*int64(shard.DefaultChunkSize)-int64(shard.DefaultChunkSize) {
		t.Fatalf("OnDelivery reported %d good bytes for a %d-byte file", got, m.Size)
	}
	t.Logf("report: %+v", rep)
}

// A holder that dies mid-transfer: the rest comes from the others.
func TestHolderKilledMidTransfer(t *testing.T) {
	t.Parallel()
	nodes, v := startNetwork(t, 3, nil)
	p := newPerson(t, v, 3)
	data, m := p.put(t, testFileBytes)
	out := filepath.Join(t.TempDir(), "file")
	var once sync.Once
	rep, err := p.fetcher(t, v, nil).FetchFile(context.Background(), m, out, func(pr Progress) {
		if pr.Pieces > 0 {
			once.Do(func() { go nodes[0].kill() })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	t.Logf("report: %+v", rep)
}

// Interrupt a transfer mid-way, start a new Fetcher (a restarted reader)
// and check that only the missing pieces are read.
func TestResumeFetchesOnlyMissing(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	var gate atomic.Int64 // reads served before the holder stalls; <0: no limit
	gated := func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			if n := served.Add(1); gate.Load() >= 0 && n > gate.Load() {
				<-ctx.Done()
				return buf, errors.New("stalled")
			}
			return next(ctx, id, buf)
		}
	}
	gate.Store(-1)
	_, v := startNetwork(t, 1, map[int]nodeMod{0: reads(gated)})
	p := newPerson(t, v, 1)
	data, m := p.put(t, testFileBytes)
	out := filepath.Join(t.TempDir(), "file")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	half := len(m.Shards) / 2
	gate.Store(int64(half))
	_, err := p.fetcher(t, v, func(c *Config) { c.SyncEvery = time.Millisecond }).FetchFile(ctx, m, out, func(pr Progress) {
		if pr.Pieces >= half {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fetch: %v", err)
	}
	gate.Store(-1)
	raw, err := os.ReadFile(out + ".progress")
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeBitmap(raw, m)
	if err != nil {
		t.Fatal(err)
	}
	have := b.count()
	if have == 0 || have == len(m.Shards) {
		t.Fatalf("progress file lists %d of %d pieces", have, len(m.Shards))
	}
	served.Store(0)
	var first Progress
	var once sync.Once
	rep, err := p.fetcher(t, v, nil).FetchFile(context.Background(), m, out, func(pr Progress) { once.Do(func() { first = pr }) })
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	missing := len(m.Shards) - have
	if rep.Resumed != have || served.Load() > int64(missing+rep.Duplicates) || first.Resumed == 0 {
		t.Fatalf("resumed %d (progress %d), %d reads for %d missing pieces (%d duplicates)", rep.Resumed, first.Resumed, served.Load(), missing, rep.Duplicates)
	}
	t.Logf("first run left %d/%d pieces; resume read %d", have, len(m.Shards), served.Load())
}

// Two transfers at once through one Limiter each get half the slots.
func TestConcurrentTransfersShare(t *testing.T) {
	t.Parallel()
	_, v := startNetwork(t, 2, nil)
	p := newPerson(t, v, 2)
	lim := NewLimiter(8, 0)
	f := p.fetcher(t, v, func(c *Config) { c.Limiter = lim })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	datas := make([][]byte, 2)
	outs := make([]string, 2)
	var shares sync.Map
	for i := range 2 {
		d, m := p.put(t, testFileBytes/2)
		datas[i], outs[i] = d, filepath.Join(t.TempDir(), "file")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.FetchFile(context.Background(), m, outs[i], func(Progress) { shares.Store(lim.Share(), true) })
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		checkFile(t, outs[i], datas[i])
	}
	if lim.Share() != 8 {
		t.Fatalf("share %d after both ended", lim.Share())
	}
}

func TestLimiterShares(t *testing.T) {
	t.Parallel()
	l := NewLimiter(12, 0)
	a, b, c := l.join(), l.join(), l.join()
	if l.Share() != 4 {
		t.Fatalf("share of three: %d", l.Share())
	}
	a()
	a()
	b()
	if l.Share() != 12 {
		t.Fatalf("share of one: %d", l.Share())
	}
	c()
	r := NewLimiter(1, 1<<30)
	if err := r.wait(context.Background(), 4<<20); err != nil {
		t.Fatal(err)
	}
}

// A holder that declares a shard far larger than the manifest's is
// refused at the answer header, before any of its bytes is read.
func TestOversizeAnswerRefused(t *testing.T) {
	t.Parallel()
	ref := shard.ShardRef{Size: 100}
	hdr := make([]byte, shard.BulkHeaderSize)
	for _, ans := range [][]byte{
		shard.AppendBulkHeader(nil, shard.BulkOK, 1<<20),
		shard.AppendBulkHeader(nil, shard.BulkOK, 0xffffffff),
		shard.AppendBulkHeader(nil, shard.BulkOK, 99),
	} {
		if _, err := readBulkAnswer(bytes.NewReader(ans), hdr, ref, make([]byte, 0, 100)); !errors.Is(err, ErrBadPiece) {
			t.Fatalf("oversize answer: %v", err)
		}
	}
	if _, err := readBulkAnswer(bytes.NewReader(shard.AppendBulkHeader(nil, shard.BulkBusy, 0xffffffff)), hdr, ref, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge note: %v", err)
	}
	liar := func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			return make([]byte, shard.MaxShardSize), nil
		}
	}
	_, v := startNetwork(t, 2, map[int]nodeMod{0: reads(liar)})
	p := newPerson(t, v, 2)
	data, m := p.put(t, 4<<20)
	out := filepath.Join(t.TempDir(), "file")
	rep, err := p.fetcher(t, v, nil).FetchFile(context.Background(), m, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	// The liar ranks first for about half the pieces, so it is asked.
	if rep.BadCopies == 0 {
		t.Fatalf("liar not detected: %+v", rep)
	}
	if st, _ := os.Stat(out); st.Size() != m.Size {
		t.Fatalf("output of %d bytes for a %d-byte file", st.Size(), m.Size)
	}
}

func TestWholeFileHashChecked(t *testing.T) {
	t.Parallel()
	_, v := startNetwork(t, 1, nil)
	p := newPerson(t, v, 1)
	_, m := p.put(t, 1<<20)
	bad := *m
	bad.BLAKE3[0] ^= 1
	out := filepath.Join(t.TempDir(), "file")
	if _, err := p.fetcher(t, v, nil).FetchFile(context.Background(), &bad, out, nil); !errors.Is(err, ErrFileHash) {
		t.Fatalf("want ErrFileHash, got %v", err)
	}
	if _, err := os.Stat(out + ".progress"); !os.IsNotExist(err) {
		t.Fatal("progress kept after a whole-file mismatch")
	}
}

// Manifests written before BLAKE3 carry the whole file's SHA-256 instead:
// they still read, and a wrong sum still fails.
func TestWholeFileSHA256Manifest(t *testing.T) {
	t.Parallel()
	_, v := startNetwork(t, 1, nil)
	p := newPerson(t, v, 1)
	data, m := p.put(t, 1<<20)
	if m.BLAKE3 == ([32]byte{}) || m.SHA256 != ([32]byte{}) {
		t.Fatal("a new manifest should carry BLAKE3 only")
	}
	old := *m
	old.BLAKE3, old.SHA256 = [32]byte{}, sha256.Sum256(data)
	f := p.fetcher(t, v, nil)
	out := filepath.Join(t.TempDir(), "file")
	if _, err := f.FetchFile(context.Background(), &old, out, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, out, data)
	old.SHA256[0] ^= 1
	if _, err := f.FetchFile(context.Background(), &old, out+".2", nil); !errors.Is(err, ErrFileHash) {
		t.Fatalf("want ErrFileHash, got %v", err)
	}
}

func TestUnavailableGivesUp(t *testing.T) {
	t.Parallel()
	nodes, v := startNetwork(t, 1, nil)
	p := newPerson(t, v, 1)
	_, m := p.put(t, 1<<20)
	nodes[0].kill()
	f := p.fetcher(t, v, func(c *Config) { c.Rounds = 2; c.UnknownTimeout = time.Second })
	_, err := f.Fetch(context.Background(), m, &memFile{b: make([]byte, m.Size)}, Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}
