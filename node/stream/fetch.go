package stream

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
)

// Config configures a Fetcher.
type Config struct {
	// Call signs every read with the person's key and verifies answers.
	Call *cell.Client
	// FileRoot is the phrase's file-key root (identity.Keys.FileRoot).
	FileRoot *[32]byte
	// Members is the shard cell's membership view.
	Members shard.Membership
	// K is the number of holders per shard (default shard.DefaultK). A
	// piece is asked of its first 2K HRW candidates (a handoff may hold
	// a copy beyond the first K).
	K int
	// Limiter is shared with other Fetchers for fair sharing; nil gives
	// this Fetcher its own (DefaultSlots, no rate cap).
	Limiter *Limiter
	// HolderWindow caps one holder's window (default 64 pieces: 16 MiB
	// in flight, a 1 Gbit/s path's bandwidth-delay product at 130 ms).
	HolderWindow int
	// InitialWindow is a new holder's window (default 16 pieces); it
	// doubles per round trip until a loss or a delay signal.
	InitialWindow int
	// MinTimeout and MaxTimeout bound the derived piece timeout (defaults
	// 2 s and 30 s); UnknownTimeout applies before a holder's first answer
	// (default 10 s).
	MinTimeout, MaxTimeout, UnknownTimeout time.Duration
	// SyncEvery is how often progress is fsynced (default 1 s).
	SyncEvery time.Duration
	// Rounds is how many times every candidate of a piece may fail before
	// the transfer gives up (default 6, with a backoff between rounds
	// long enough for a holder to restart).
	Rounds int
	// ReadAhead is how many chunks a RangeReader fetches past the one
	// read (default 4).
	ReadAhead int
	// OnDelivery, if set, is called for every shard answer received from
	// a holder, verified or not, from the transfer's goroutines (possibly
	// concurrently); it must not block.
	OnDelivery func(DeliveryEvent)
}

// Fetcher pulls stored files from their holders. Safe for concurrent use:
// its transfers share the Limiter.
type Fetcher struct {
	cfg   Config
	owner ed25519.PublicKey
	bufs  sync.Pool
	sess  sessions
	reqs  atomic.Uint64
	opens atomic.Int64 // bulk streams opened (each one signed request)
}

// NewFetcher checks cfg and fills defaults.
func NewFetcher(cfg Config) (*Fetcher, error) {
	if cfg.Call == nil || cfg.FileRoot == nil || cfg.Members == nil {
		return nil, errors.New("stream: Call, FileRoot and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewLimiter(0, 0)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinTimeout, 2*time.Second)
	def(&cfg.MaxTimeout, 30*time.Second)
	def(&cfg.UnknownTimeout, 10*time.Second)
	def(&cfg.SyncEvery, time.Second)
	if cfg.HolderWindow <= 0 {
		cfg.HolderWindow = 64
	}
	if cfg.InitialWindow <= 0 {
		cfg.InitialWindow = 16
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 6
	}
	if cfg.ReadAhead <= 0 {
		cfg.ReadAhead = 4
	}
	return &Fetcher{cfg: cfg}, nil
}

// Close closes the idle bulk streams the Fetcher keeps to holders. The
// Fetcher stays usable (it opens new ones); Close is for shutdown.
func (f *Fetcher) Close() error {
	f.sess.closeAll()
	return nil
}

// File is where a transfer writes: pieces land out of order at their
// offsets and are read back for the whole-file check. *os.File fits; a
// Sync method, if present, is called before progress is recorded.
type File interface {
	io.WriterAt
	io.ReaderAt
}

// Progress is a transfer's state for a progress bar or the UI.
type Progress struct {
	Bytes, Total int64 // plaintext bytes written (resumed ones included) of the file
	Resumed      int64 // bytes found already done when the transfer started
	Rate         float64
	Sources      int // holders that delivered at least one piece
	Pieces, Of   int
}

// Options tune one transfer.
type Options struct {
	// ProgressPath is the bitmap file that makes the transfer resumable;
	// "" keeps progress in memory only. It is removed on success.
	ProgressPath string
	// OnProgress is called from the transfer loop at most ten times a
	// second and once at the end; it must not block.
	OnProgress func(Progress)
}

// Report says how a transfer went.
type Report struct {
	Pieces, Resumed int
	Bytes           int64
	Requests        int
	Duplicates      int // end-game or timeout re-requests of a piece in flight
	Timeouts        int
	BadCopies       int // answers that failed the ID, size or AEAD check
	Opened          int // bulk streams opened (one signed request each; the rest reuse them)
	Busy            int // answers "busy" from holders at capacity
	Redirects       int // of those, the ones naming another holder, which was asked next
	Sources         map[string]int
	Elapsed         time.Duration
}

// FetchFile fetches m into the file at path (created or resumed), with
// its progress beside it at path+".progress".
func (f *Fetcher) FetchFile(ctx context.Context, m *shard.Manifest, path string, onProgress func(Progress)) (Report, error) {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return Report{}, fmt.Errorf("stream: %w", err)
	}
	defer out.Close()
	// The manifest, not a holder, sets the size.
	if err := out.Truncate(m.Size); err != nil {
		return Report{}, fmt.Errorf("stream: %w", err)
	}
	rep, err := f.Fetch(ctx, m, out, Options{ProgressPath: path + ".progress", OnProgress: onProgress})
	if err != nil {
		return rep, err
	}
	if err := out.Sync(); err != nil {
		return rep, fmt.Errorf("stream: %w", err)
	}
	return rep, out.Close()
}

// piece states
const (
	fresh = iota
	queued
	inflight
	done
)

type piece struct {
	state  int
	cands  []int  // holder indices in HRW order
	tried  uint64 // candidates tried this round (bit per position in cands)
	round  int
	notBef time.Time
	reqs   []*request
	prefer int // 1 + a holder a busy one redirected this piece to; 0: none
}

type request struct {
	p, h    int
	start   time.Time
	dead    time.Time
	cancel  context.CancelFunc
	expired bool
}

type result struct {
	req *request
	n   int // plaintext bytes written
	err error
}

type transfer struct {
	f       *Fetcher
	m       *shard.Manifest
	out     File
	key     [32]byte
	opt     Options
	share   func() int
	holders []*holder
	byKey   map[string]int
	pieces  []piece
	claimed []atomic.Bool
	retry   []int
	next    int // lowest piece never asked for
	flying  int // requests in flight
	left    int // pieces not done
	bits    *bitmap
	dirty   bool
	results chan result
	rep     Report
	written int64
	lastRef time.Time
	ctx     context.Context

	// The whole-file hash follows the frontier of pieces done in order,
	// on its own goroutine, so it overlaps the transfer.
	hashed  int
	hashTo  chan int
	hashSum chan []byte
}

// Fetch pulls every piece of m that opt's progress file does not list as
// done into out, verifies the whole file and returns a report. out must
// accept writes up to m.Size.
func (f *Fetcher) Fetch(ctx context.Context, m *shard.Manifest, out File, opt Options) (rep Report, _ error) {
	start := time.Now()
	if err := m.Check(); err != nil {
		return Report{}, fmt.Errorf("stream: %w", err)
	}
	t := &transfer{f: f, m: m, out: out, opt: opt, key: shard.FileKey(f.cfg.FileRoot, m.FileID),
		byKey: map[string]int{}, pieces: make([]piece, len(m.Shards)), claimed: make([]atomic.Bool, len(m.Shards)),
		left: len(m.Shards), rep: Report{Sources: map[string]int{}}}
	leave := f.cfg.Limiter.join()
	defer leave()
	t.share = f.cfg.Limiter.Share
	if opt.ProgressPath != "" {
		t.bits = loadBitmap(opt.ProgressPath, m)
	} else {
		t.bits = newBitmap(m)
	}
	for i := range t.pieces {
		if t.bits.has(i) {
			t.pieces[i].state = done
			t.claimed[i].Store(true)
			t.left--
			t.rep.Resumed++
			t.written += t.plainSize(i)
		}
	}
	resumed := t.written
	opens := f.opens.Load()
	defer func() { rep.Opened = int(f.opens.Load() - opens) }()
	if err := t.refresh(ctx, true); err != nil && t.left > 0 {
		return t.rep, err
	}
	t.hashTo, t.hashSum = make(chan int, len(t.pieces)+1), make(chan []byte, 1)
	go t.hashLoop()
	t.advanceHash()
	err := t.run(ctx, resumed)
	close(t.hashTo)
	sum := <-t.hashSum
	t.rep.Pieces = len(m.Shards)
	t.rep.Bytes = m.Size
	t.rep.Elapsed = time.Since(start)
	if err != nil {
		return t.rep, err
	}
	if _, want := m.WholeHash(); !bytes.Equal(sum, want[:]) {
		if opt.ProgressPath != "" {
			os.Remove(opt.ProgressPath)
		}
		if sum == nil {
			return t.rep, fmt.Errorf("stream: read back: %w", errReadBack)
		}
		return t.rep, ErrFileHash
	}
	if opt.ProgressPath != "" {
		os.Remove(opt.ProgressPath)
	}
	t.rep.Elapsed = time.Since(start)
	return t.rep, nil
}

func (t *transfer) plainSize(i int) int64 {
	if i == len(t.m.Shards)-1 {
		return t.m.Size - int64(i)*int64(t.m.ChunkSize)
	}
	return int64(t.m.ChunkSize)
}

// refresh (re)reads the membership view and recomputes every unfinished
// piece's candidates; new holders join with a fresh window.
func (t *transfer) refresh(ctx context.Context, first bool) error {
	if !first && time.Since(t.lastRef) < time.Second {
		return nil
	}
	t.lastRef = time.Now()
	members, err := t.f.cfg.Members.Members(ctx)
	if err != nil {
		if first {
			return fmt.Errorf("stream: membership: %w", err)
		}
		return nil
	}
	if len(members) == 0 {
		if first {
			return fmt.Errorf("stream: %w", shard.ErrNoMembers)
		}
		return nil
	}
	n := min(2*t.f.cfg.K, len(members), 64)
	for i := range t.pieces {
		p := &t.pieces[i]
		if p.state == done {
			continue
		}
		rank := shard.Rank(t.m.Shards[i].ID, members)
		p.cands = p.cands[:0]
		for _, mb := range rank[:min(n, len(rank))] {
			h, ok := t.byKey[string(mb.Key)]
			if !ok {
				h = len(t.holders)
				t.byKey[string(mb.Key)] = h
				t.holders = append(t.holders, newHolder(mb, float64(t.f.cfg.InitialWindow)))
			} else if t.holders[h].m.Addr != mb.Addr {
				// A restarted holder on a new address starts afresh.
				t.holders[h].m = mb
				t.holders[h].downUntil = time.Time{}
			}
			p.cands = append(p.cands, h)
		}
		p.tried = 0
	}
	return nil
}

func (t *transfer) run(ctx context.Context, resumed int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.ctx = ctx
	t.results = make(chan result, 64)
	var wg sync.WaitGroup
	defer func() {
		// Whatever way the transfer ends, what was recorded stays
		// recorded for the next attempt.
		cancel()
		wg.Wait()
		t.sync()
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastSync, lastProg := time.Now(), time.Time{}
	rateAt, rateBytes, rate := time.Now(), t.written, 0.0
	progress := func(force bool) {
		now := time.Now()
		if dt := now.Sub(rateAt); dt >= 500*time.Millisecond {
			inst := float64(t.written-rateBytes) / dt.Seconds()
			rate = 0.5*rate + 0.5*inst
			if rate == 0 || rateBytes == resumed {
				rate = inst
			}
			rateAt, rateBytes = now, t.written
		}
		if t.opt.OnProgress == nil || (!force && now.Sub(lastProg) < 100*time.Millisecond) {
			return
		}
		lastProg = now
		t.opt.OnProgress(Progress{Bytes: t.written, Total: t.m.Size, Resumed: resumed, Rate: rate,
			Sources: len(t.rep.Sources), Pieces: len(t.pieces) - t.left, Of: len(t.pieces)})
	}
	for t.left > 0 {
		if err := t.fill(&wg); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream: %w", ctx.Err())
		case r := <-t.results:
			if err := t.onResult(r); err != nil {
				return err
			}
			t.advanceHash()
		drain:
			for {
				select {
				case r := <-t.results:
					if err := t.onResult(r); err != nil {
						return err
					}
					t.advanceHash()
				default:
					break drain
				}
			}
		case now := <-tick.C:
			t.expire(now)
		}
		if time.Since(lastSync) >= t.f.cfg.SyncEvery {
			if err := t.sync(); err != nil {
				return err
			}
			lastSync = time.Now()
		}
		progress(false)
	}
	progress(true)
	return nil
}

// sync makes written pieces durable, then records them.
func (t *transfer) sync() error {
	if !t.dirty || t.opt.ProgressPath == "" {
		return nil
	}
	if s, ok := t.out.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("stream: sync output: %w", err)
		}
	}
	t.dirty = false
	return t.bits.save(t.opt.ProgressPath)
}

// fill starts requests while this transfer's share of slots allows: first
// pieces to retry, then fresh pieces in file order (a window of them, so
// a piece whose holders are all busy does not block the rest), then, once
// every piece has been asked for, duplicates of the ones still in flight
// (end game).
func (t *transfer) fill(wg *sync.WaitGroup) error {
	now := time.Now()
	share := t.share()
	keep := t.retry[:0]
	for _, i := range t.retry {
		p := &t.pieces[i]
		if p.state != queued {
			continue
		}
		if t.flying >= share || now.Before(p.notBef) {
			keep = append(keep, i)
			continue
		}
		h, err := t.pick(i, now)
		if err != nil {
			return err
		}
		if h < 0 {
			keep = append(keep, i)
			continue
		}
		t.launch(wg, i, h, now)
	}
	t.retry = keep
	for t.next < len(t.pieces) && t.pieces[t.next].state != fresh {
		t.next++
	}
	for i, scanned := t.next, 0; i < len(t.pieces) && scanned < 256 && t.flying < share; i++ {
		if t.pieces[i].state != fresh {
			continue
		}
		scanned++
		h, err := t.pick(i, now)
		if err != nil {
			return err
		}
		if h >= 0 {
			t.launch(wg, i, h, now)
		}
	}
	if t.next < len(t.pieces) || len(t.retry) > 0 {
		return nil
	}
	// End game: every piece asked for; spare capacity re-asks the pieces
	// still in flight of another holder. The first answer wins and the
	// other request is cancelled.
	for i := range t.pieces {
		if t.flying >= share {
			break
		}
		p := &t.pieces[i]
		if p.state != inflight || len(p.reqs) != 1 || now.Sub(p.reqs[0].start) < t.overdue(p.reqs[0].h) {
			continue
		}
		if h, _ := t.pick(i, now); h >= 0 {
			t.rep.Duplicates++
			t.launch(wg, i, h, now)
		}
	}
	return nil
}

// holderFor returns the index of holder m, adding it (and making it a
// candidate of p) if the transfer did not know it.
func (t *transfer) holderFor(m shard.Member, p *piece) int {
	h, ok := t.byKey[string(m.Key)]
	if !ok {
		h = len(t.holders)
		t.byKey[string(m.Key)] = h
		t.holders = append(t.holders, newHolder(m, float64(t.f.cfg.InitialWindow)))
	}
	for _, c := range p.cands {
		if c == h {
			return h
		}
	}
	if len(p.cands) < 64 {
		p.cands = append(p.cands, h)
	}
	return h
}

// overdue is how long a request to holder h may run before the end game
// duplicates it: half again its usual round trip (which includes its
// queue), or the best holder's if h has answered nothing yet.
func (t *transfer) overdue(h int) time.Duration {
	rtt := t.holders[h].srtt
	if rtt == 0 {
		for _, o := range t.holders {
			if o.srtt > 0 && (rtt == 0 || o.srtt < rtt) {
				rtt = o.srtt
			}
		}
	}
	if rtt == 0 {
		return 500 * time.Millisecond
	}
	return rtt * 3 / 2
}

// pick chooses the usable candidate of piece i with the shortest
// expected wait, skipping holders tried this round and those already
// serving it. It returns -1 if none is usable now, and an error once the
// piece has failed Rounds rounds.
func (t *transfer) pick(i int, now time.Time) (int, error) {
	p := &t.pieces[i]
	if p.prefer > 0 {
		// A busy holder named this one: ask it next, if it can take it.
		h := p.prefer - 1
		p.prefer = 0
		serving := false
		for _, r := range p.reqs {
			serving = serving || r.h == h
		}
		if hd := t.holders[h]; !serving && !hd.banned && hd.usable(now, t.f.cfg.HolderWindow) {
			return h, nil
		}
	}
	best, bestCost := -1, 0.0
	open := 0
	for pos, h := range p.cands {
		hd := t.holders[h]
		if hd.banned || p.tried&(1<<pos) != 0 {
			continue
		}
		open++
		serving := false
		for _, r := range p.reqs {
			serving = serving || r.h == h
		}
		if serving || !hd.usable(now, t.f.cfg.HolderWindow) {
			continue
		}
		if c := hd.cost(); best < 0 || c < bestCost {
			best, bestCost = h, c
		}
	}
	if open == 0 && len(p.reqs) == 0 {
		// Every candidate failed this piece: next round after a backoff,
		// with a fresh view (a holder may have moved or restarted).
		p.round++
		if p.round >= t.f.cfg.Rounds {
			return -1, fmt.Errorf("stream: piece %d (%s): %w after %d rounds over %d holders",
				i, t.m.Shards[i].ID.Short(), ErrUnavailable, p.round, len(p.cands))
		}
		p.tried = 0
		p.notBef = now.Add(min(250*time.Millisecond<<p.round, 5*time.Second))
		t.refresh(t.ctx, false)
		if p.state == fresh {
			p.state = queued
			t.retry = append(t.retry, i)
		}
		return -1, nil
	}
	return best, nil
}

func (t *transfer) launch(wg *sync.WaitGroup, i, h int, now time.Time) {
	p := &t.pieces[i]
	hd := t.holders[h]
	ctx, cancel := context.WithCancel(t.ctx)
	r := &request{p: i, h: h, start: now, cancel: cancel,
		dead: now.Add(hd.timeout(t.f.cfg.MinTimeout, t.f.cfg.MaxTimeout, t.f.cfg.UnknownTimeout))}
	p.reqs = append(p.reqs, r)
	p.state = inflight
	hd.inflight++
	t.flying++
	t.rep.Requests++
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := t.f.readPiece(ctx, t, i, hd.m)
		select {
		case t.results <- result{req: r, n: n, err: err}:
		case <-t.ctx.Done():
		}
	}()
}

// readPiece reads, checks, decrypts and writes piece i; only the first
// good copy of a piece is written.
func (f *Fetcher) readPiece(ctx context.Context, t *transfer, i int, m shard.Member) (int, error) {
	ref := t.m.Shards[i]
	if err := f.cfg.Limiter.wait(ctx, int(ref.Size)); err != nil {
		return 0, err
	}
	plain, buf, err := f.fetchChunk(ctx, t.m, &t.key, i, m)
	if err != nil {
		return 0, err
	}
	defer f.putBuf(buf)
	if !t.claimed[i].CompareAndSwap(false, true) {
		return 0, errLost
	}
	if _, err := t.out.WriteAt(plain, int64(i)*int64(t.m.ChunkSize)); err != nil {
		return 0, fmt.Errorf("%w: %w", errWrite, err)
	}
	return len(plain), nil
}

var (
	errLost  = errors.New("stream: another copy won")
	errWrite = errors.New("stream: write output")
)

// fetchChunk asks one holder for piece i over a bulk stream, checks the
// sealed bytes against the manifest and decrypts them in place. It
// returns the plaintext and the pooled buffer holding it, for putBuf.
//
// The check is the AEAD's: the manifest names the shard by the SHA-256 of
// its sealed bytes, but those bytes carry a Poly1305 tag under the file
// key with the file and the piece's index as associated data, so only
// the owner could have made bytes that open here, and bytes that open are
// the sealed chunk the owner named (the owner seals each index of a file
// once; FileIDs are never reused). Hashing them as well would prove the
// same thing again for 0.9 CPU-s per GB on the cores QUIC needs. Bytes
// that do not open are hashed, to say in the error and in the delivery
// event whether they were even the named shard.
func (f *Fetcher) fetchChunk(ctx context.Context, m *shard.Manifest, key *[32]byte, i int, h shard.Member) (plain, buf []byte, err error) {
	ref := m.Shards[i]
	buf = f.getBuf(2 * int(ref.Size))
	sealed, err := f.bulkRead(ctx, h, ref, buf)
	if err != nil {
		f.putBuf(buf)
		return nil, nil, err
	}
	req := f.reqs.Add(1)
	// Out of place, into the same buffer behind the sealed bytes: a chunk
	// that fails to open is zeroed by the AEAD, and must still be hashed.
	plain, err = shard.OpenChunk(sealed[len(sealed):len(sealed)], key, m.FileID, uint64(i), sealed)
	if err != nil {
		got := f.delivered(h, ref, sealed, shard.IDOf(sealed), req)
		f.putBuf(buf)
		if got != ref.ID {
			return nil, nil, fmt.Errorf("holder %s: %w: bytes do not hash to shard %s", h.Addr, ErrBadPiece, ref.ID.Short())
		}
		return nil, nil, fmt.Errorf("holder %s: %w: %w", h.Addr, ErrBadPiece, err)
	}
	f.delivered(h, ref, sealed, ref.ID, req)
	return plain, buf, nil
}

func (f *Fetcher) getBuf(n int) []byte {
	if b, ok := f.bufs.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	// The manifest's piece size, which Check bounds by MaxShardSize.
	return make([]byte, 0, max(n, 2*(shard.DefaultChunkSize+shard.Overhead)))
}

func (f *Fetcher) putBuf(b []byte) {
	b = b[:0]
	f.bufs.Put(&b)
}

func (t *transfer) onResult(r result) error {
	req := r.req
	p := &t.pieces[req.p]
	hd := t.holders[req.h]
	hd.inflight--
	t.flying--
	for k, x := range p.reqs {
		if x == req {
			p.reqs = append(p.reqs[:k], p.reqs[k+1:]...)
			break
		}
	}
	req.cancel()
	now := time.Now()
	pos := -1
	for k, h := range p.cands {
		if h == req.h {
			pos = k
		}
	}
	switch {
	case r.err == nil:
		hd.onAnswer(now.Sub(req.start), now, t.f.cfg.HolderWindow)
		p.state = done
		t.left--
		t.written += int64(r.n)
		t.bits.set(req.p)
		t.dirty = true
		t.rep.Sources[hd.m.Addr]++
		for _, x := range p.reqs {
			x.cancel() // the losers of an end-game race
		}
		return nil
	case errors.Is(r.err, errWrite):
		return r.err
	case errors.Is(r.err, errLost) || p.state == done:
		// A duplicate that lost the race or was cancelled: the holder
		// answered, so this is no mark against it.
		if r.err != nil && errors.Is(r.err, errLost) {
			hd.onAnswer(now.Sub(req.start), now, t.f.cfg.HolderWindow)
		}
		return nil
	case t.ctx.Err() != nil:
		return nil
	case errors.Is(r.err, ErrBadPiece) || errors.Is(r.err, ErrMalformed) || cell.HasCode(r.err, cell.CodeBadAnswer):
		// Signed bytes that fail the manifest's check: this holder is not
		// asked again in this transfer.
		t.rep.BadCopies++
		hd.banned = true
	case cell.HasCode(r.err, shard.CodeCorrupt) || cell.HasCode(r.err, cell.CodeNotFound):
		// An honest holder without a good copy: skip it for this piece.
		if cell.HasCode(r.err, shard.CodeCorrupt) {
			t.rep.BadCopies++
		}
	case busy(r.err):
		t.rep.Busy++
		hd.downUntil = now.Add(200 * time.Millisecond)
		var be *busyError
		if errors.As(r.err, &be) && be.hint {
			t.rep.Redirects++
			p.prefer = 1 + t.holderFor(be.next, p)
		}
	case req.expired:
		// Cancelled by expire; already counted.
	default:
		hd.onLoss(now)
		hd.onDown(now)
	}
	if pos >= 0 {
		p.tried |= 1 << pos
	}
	if len(p.reqs) == 0 && p.state != done {
		p.state = queued
		t.retry = append(t.retry, req.p)
	}
	return nil
}

// expire cancels requests past their deadline and puts their pieces back
// for another holder; the slow holder's window is halved.
func (t *transfer) expire(now time.Time) {
	for i := range t.pieces {
		p := &t.pieces[i]
		if p.state != inflight {
			continue
		}
		for _, r := range p.reqs {
			if r.expired || now.Before(r.dead) {
				continue
			}
			// A holder that keeps answering is working through a queue
			// (a window opened faster than its link ramps up), not
			// losing this request: re-asking the same or another holder
			// would only add to the queue. Past MaxTimeout it expires
			// anyway; a holder that stalls some pieces soon stops
			// answering once its window fills with them, and the end
			// game duplicates the rest.
			hd := t.holders[r.h]
			if since := now.Sub(hd.lastAnswer); !hd.lastAnswer.IsZero() && since < r.dead.Sub(r.start) &&
				now.Sub(r.start) < t.f.cfg.MaxTimeout {
				continue
			}
			r.expired = true
			t.rep.Timeouts++
			t.holders[r.h].onLoss(now)
			r.cancel()
		}
	}
}

var errReadBack = errors.New("output could not be read back for the whole-file check")

// advanceHash hands the hasher every piece done in file order so far.
func (t *transfer) advanceHash() {
	from := t.hashed
	for t.hashed < len(t.pieces) && t.pieces[t.hashed].state == done {
		t.hashed++
	}
	if t.hashed > from {
		t.hashTo <- t.hashed
	}
}

// hashLoop reads the output back in order, up to each frontier it is
// given, and sends the whole file's hash (of the manifest's kind; nil if
// it could not read) once hashTo is closed and every piece was hashed.
func (t *transfer) hashLoop() {
	h, _ := t.m.WholeHash()
	buf := make([]byte, t.m.ChunkSize)
	next, ok := 0, true
	for to := range t.hashTo {
		for ; ok && next < to; next++ {
			n := t.plainSize(next)
			if _, err := t.out.ReadAt(buf[:n], int64(next)*int64(t.m.ChunkSize)); err != nil && !(err == io.EOF && next == len(t.pieces)-1) {
				ok = false
				break
			}
			h.Write(buf[:n])
		}
	}
	if !ok || next < len(t.pieces) {
		t.hashSum <- nil
		return
	}
	t.hashSum <- h.Sum(nil)
}
