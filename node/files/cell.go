package files

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// DNA is the files cell type.
// Version 2: heads name their parents and holders keep tips (DESIGN.md);
// version 1 nodes speak another wire format, hence the new protocol.
var DNA = cell.DNA{Name: "files", MaxChildren: 10, Protocol: "files/2", Version: 2}

// Defaults for zero Config fields.
const (
	DefaultSyncInterval = time.Minute
	DefaultCallTimeout  = 10 * time.Second
	maxRequest          = maxMessage + 4096
)

// bucketHeadsV1 is version 1's store: one head per account.
var bucketHeadsV1 = []byte("heads")

// Holder limits.
const (
	// MaxTips bounds the concurrent heads a holder keeps per account; a
	// head that would make more is refused until the owner merges.
	MaxTips = 8
	// MaxHistory bounds the ancestors kept per account, for recognising
	// stale and replayed heads and linking heads that skip some.
	MaxHistory = 1024
)

// Config configures one node's files cell.
type Config struct {
	// Host is the node's key, network, transport, verifier and clock.
	Host cell.Host
	// Dir holds the head database (e.g. <data-dir>/files).
	Dir string
	// Members is the files cell's membership view (RegistryMembers).
	Members shard.Membership
	// K is the number of holders per head (default shard.DefaultK).
	K int
	// SyncInterval is the pause between two passes exchanging the tips of
	// every account kept here with its current top k holders (default 1
	// min). The repair bound:
	// a head copy lost with its node is back at k within the registry TTL
	// (the dead node leaves the view) plus one SyncInterval. Every client
	// read also pushes the live tips to holders that lack them.
	SyncInterval time.Duration
	// CallTimeout bounds one request to another holder.
	CallTimeout time.Duration
}

// Cell is one node's files cell: the head store and its receptor, and the
// sync loop that keeps each head on its k holders.
type Cell struct {
	cfg    Config
	log    *slog.Logger
	db     *bolt.DB
	client *cell.Client
	self   ed25519.PublicKey
	mu     sync.Mutex // serialises compare and swap per node

	attached atomic.Bool
	kick     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stop     sync.Once

	accepted, conflicts, synced, stale atomic.Int64
}

// New opens the head database in cfg.Dir; Attach starts the sync loop.
func New(cfg Config) (*Cell, error) {
	h := cfg.Host
	if len(h.Key) != ed25519.PrivateKeySize || h.Transport == nil || h.Verifier == nil || h.Now == nil || h.Network == "" {
		return nil, errors.New("files: Host needs Key, Network, Transport, Verifier and Now")
	}
	if cfg.Dir == "" || cfg.Members == nil {
		return nil, errors.New("files: Dir and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "heads.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("files: open head database: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketAccounts); err != nil {
			return err
		}
		return migrate(tx)
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("files: head database: %w", err)
	}
	return &Cell{
		cfg: cfg, log: log.With("cell", DNA.Name), db: db,
		client: &cell.Client{Transport: h.Transport, Key: h.Key, Network: h.Network, Verifier: h.Verifier, Now: h.Now},
		self:   h.Key.Public().(ed25519.PublicKey),
		kick:   make(chan struct{}, 1),
	}, nil
}

// Type is the files cell type to pass to cell.Start.
func (c *Cell) Type() cell.Type {
	return cell.Type{
		DNA: DNA,
		Receptor: map[string]cell.ReceptorFunc{
			KindPutHead:  c.handlePut,
			KindGetHead:  c.handleGet,
			KindSyncHead: c.handleSync,
			KindGetHeads: c.handleGetHeads,
		},
		MaxRequest: maxRequest,
		Status:     func() any { return c.Status() },
	}
}

// Attach starts the sync loop; rt is the runtime started with Type().
func (c *Cell) Attach(rt *cell.Runtime) error {
	if !c.attached.CompareAndSwap(false, true) {
		return errors.New("files: already attached")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go c.syncLoop(ctx)
	return nil
}

// Close stops the sync loop and closes the database.
func (c *Cell) Close() {
	c.stop.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.db.Close()
	})
}

// SyncNow asks the sync loop for a pass at once.
func (c *Cell) SyncNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Tips returns the tips kept here for account (heads no other kept head
// extends), highest seq first; none when the account is unknown here.
func (c *Cell) Tips(account ed25519.PublicKey) ([]*SignedHead, error) {
	var tips []*SignedHead
	err := c.db.View(func(tx *bolt.Tx) error {
		a := openAccount(tx, account, false)
		if a == nil {
			return nil
		}
		tips = a.tips()
		return nil
	})
	return tips, err
}

// Errors of ingest that are not failures.
var (
	errSame = errors.New("files: head already kept as a tip")
	errOld  = errors.New("files: head already kept, a tip extends it")
)

// ingest applies one head to an account's tips. A put (the owner's own
// update) must extend every tip; a synced head is kept either way, as a
// new tip unless a tip extends it, so a concurrent update is never
// dropped, only ever merged by its owner.
func ingest(a *acctTx, h *SignedHead, put bool) error {
	tips := a.tips()
	for _, t := range tips {
		if t.hash == h.hash {
			return errSame
		}
	}
	if a.get(h.hash) != nil {
		return errOld
	}
	var keep []*SignedHead
	for _, t := range tips {
		if put && !reachable(t, []*SignedHead{h}, a.get) {
			return cell.Errorf(CodeConflict, "head %d does not extend tip %d (%v) kept here; re-read and retry", h.Seq, t.Seq, t.hash)
		}
		if !put && t.Seq > h.Seq && reachable(h, []*SignedHead{t}, a.get) {
			// A tip named h as an ancestor before h itself came in (sync
			// filled a gap): history only.
			return a.put(h)
		}
		if !reachable(t, []*SignedHead{h}, a.get) {
			keep = append(keep, t)
		}
	}
	if len(keep)+1 > MaxTips {
		return cell.Errorf(CodeTooManyTips, "%d concurrent tips kept here already; the owner must merge them first", len(keep))
	}
	if err := a.put(h); err != nil {
		return err
	}
	return a.setTips(append(keep, h))
}

// apply stores a request's chain and then ingests its head, in one
// transaction: a refused head leaves nothing behind. Chain heads only
// ever go to the history, and only those that really are ancestors of the
// head: they link it to the tips kept here, and an unrelated head slipped
// into a chain cannot make a later, genuine tip look old.
func (c *Cell) apply(h *SignedHead, chain []*SignedHead, put bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db.Update(func(tx *bolt.Tx) error {
		a := openAccount(tx, ed25519.PublicKey(h.Account), true)
		if a == nil {
			return errors.New("files: open account bucket")
		}
		if len(chain) > 0 {
			for _, ch := range ancestorsIn(h, chain) {
				if a.get(ch.hash) == nil {
					if err := a.put(ch); err != nil {
						return err
					}
				}
			}
		}
		if err := ingest(a, h, put); err != nil {
			return err
		}
		// bbolt fsyncs on commit: an acknowledged head survives kill -9.
		return a.evict()
	})
}

// ancestorsIn returns the heads of chain that are ancestors of h through
// chain itself.
func ancestorsIn(h *SignedHead, chain []*SignedHead) []*SignedHead {
	by := map[HeadHash]*SignedHead{}
	for _, c := range chain {
		by[c.hash] = c
	}
	var out []*SignedHead
	seen := map[HeadHash]bool{}
	stack := []*SignedHead{h}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range x.parents {
			if ph := by[p]; ph != nil && !seen[p] && ph.Seq < x.Seq {
				seen[p] = true
				out = append(out, ph)
				stack = append(stack, ph)
			}
		}
	}
	return out
}

func headError(err error) error {
	if errors.Is(err, ErrBadSignature) {
		return cell.Errorf(CodeForgedHead, "%v", err)
	}
	return cell.Errorf(cell.CodeBadRequest, "%v", err)
}

// answerApply turns apply's result into the receptor's answer.
func (c *Cell) answerApply(err error, h *SignedHead) error {
	switch {
	case err == nil, errors.Is(err, errSame):
		return nil
	case errors.Is(err, errOld):
		c.stale.Add(1)
		return cell.Errorf(CodeStale, "head %d (%v) is already kept here and a newer head extends it: a stale or replayed head", h.Seq, h.hash)
	case cell.HasCode(err, CodeConflict), cell.HasCode(err, CodeTooManyTips):
		c.conflicts.Add(1)
		return err
	}
	c.log.Error("files: store head", "err", err)
	return cell.Errorf(cell.CodeInternal, "the node could not store the head; try another node")
}

func (c *Cell) handlePut(_ context.Context, req *cell.Request) ([]byte, error) {
	h, chain, err := decodeHeadMsg(req.Env.Payload)
	if err != nil {
		return nil, headError(err)
	}
	if !req.Env.Sender.Equal(ed25519.PublicKey(h.Account)) {
		return nil, cell.Errorf(cell.CodeUnauthorized, "only the account itself updates its head")
	}
	err = c.apply(h, chain, true)
	if err == nil {
		c.accepted.Add(1)
	}
	return nil, c.answerApply(err, h)
}

func (c *Cell) handleSync(_ context.Context, req *cell.Request) ([]byte, error) {
	h, chain, err := decodeHeadMsg(req.Env.Payload)
	if err != nil {
		return nil, headError(err)
	}
	err = c.apply(h, chain, false)
	if err == nil {
		c.synced.Add(1)
	}
	return nil, c.answerApply(err, h)
}

func (c *Cell) handleGet(_ context.Context, req *cell.Request) ([]byte, error) {
	acct, err := decodeAccount(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	tips, err := c.Tips(acct)
	if err != nil {
		c.log.Error("files: read tips", "err", err)
		return nil, cell.Errorf(cell.CodeInternal, "the node could not read its heads")
	}
	if len(tips) == 0 {
		return nil, cell.Errorf(cell.CodeNotFound, "no head kept here for this account")
	}
	return wire.Marshal(headsMsg{Heads: capBytes(rawsOf(tips))})
}

func (c *Cell) handleGetHeads(_ context.Context, req *cell.Request) ([]byte, error) {
	acct, hashes, err := decodeHeadsRequest(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	var out [][]byte
	if err := c.db.View(func(tx *bolt.Tx) error {
		a := openAccount(tx, acct, false)
		if a == nil {
			return nil
		}
		for _, h := range hashes {
			if raw := a.hist.Get(h[:]); raw != nil {
				out = append(out, bytes.Clone(raw))
			}
		}
		return nil
	}); err != nil {
		c.log.Error("files: read heads", "err", err)
		return nil, cell.Errorf(cell.CodeInternal, "the node could not read its heads")
	}
	return wire.Marshal(headsMsg{Heads: capBytes(out)})
}

// capBytes keeps the first heads that fit one answer.
func capBytes(raws [][]byte) [][]byte {
	size := 0
	for i, r := range raws {
		if size += len(r); size > maxAnswerBytes {
			return raws[:i]
		}
	}
	return raws
}

func (c *Cell) syncLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTimer(c.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.Sync(ctx)
		t.Reset(c.cfg.SyncInterval)
	}
}

// SyncReport says what one sync pass did.
type SyncReport struct {
	// Accounts is how many accounts' tips were exchanged.
	Accounts int `json:"accounts"`
	// Pushed counts tips sent to holders that lacked them.
	Pushed int `json:"pushed"`
	// Pulled counts tips taken from holders.
	Pulled int `json:"pulled"`
	// Failed counts holders that could not be reached or refused.
	Failed int `json:"failed"`
}

// Sync exchanges tips with the current top k holders of every account
// kept here: it asks each for its tips, takes the ones it lacks (with the
// ancestors that link them) and sends the ones the holder lacks (with
// theirs). A holder new to the set (a holder died and the view moved) gets
// its copy here; a holder back from a partition gets what it missed and
// gives what only it had.
func (c *Cell) Sync(ctx context.Context) SyncReport {
	var rep SyncReport
	members, err := c.cfg.Members.Members(ctx)
	if err != nil || len(members) == 0 {
		return rep
	}
	var accounts []ed25519.PublicKey
	c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEachBucket(func(k []byte) error {
			accounts = append(accounts, ed25519.PublicKey(bytes.Clone(k)))
			return nil
		})
	})
	for _, acct := range accounts {
		if ctx.Err() != nil {
			return rep
		}
		if len(acct) != ed25519.PublicKeySize {
			continue
		}
		rep.Accounts++
		for _, m := range shard.Holders(HeadID(acct), members, c.cfg.K) {
			if !m.Key.Equal(c.self) {
				c.syncWith(ctx, acct, m, &rep)
			}
		}
	}
	return rep
}

func (c *Cell) syncWith(ctx context.Context, acct ed25519.PublicKey, m shard.Member, rep *SyncReport) {
	t := cell.Target{Key: m.Key, Addr: m.Addr}
	call := func(kind string, v any) ([]byte, error) {
		payload, err := wire.Marshal(v)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
		return c.client.Call(cctx, t, DNA, kind, payload)
	}
	var theirs []*SignedHead
	b, err := call(KindGetHead, accountRequest{Account: acct})
	switch {
	case cell.HasCode(err, cell.CodeNotFound):
	case err != nil:
		rep.Failed++
		return
	default:
		if theirs, err = decodeHeads(b, acct); err != nil {
			rep.Failed++
			return
		}
	}
	// Pull what only they have, with the ancestors that link it here.
	for _, r := range theirs {
		chain := fetchChain(r, c.localHead(acct), func(hs []HeadHash) []*SignedHead {
			b, err := call(KindGetHeads, headsRequest{Account: acct, Hashes: hashBytes(hs)})
			if err != nil {
				return nil
			}
			got, _ := decodeHeads(b, acct)
			return got
		})
		if err := c.apply(r, chain, false); err == nil {
			rep.Pulled++
		}
	}
	// Push what they lack.
	mine, err := c.Tips(acct)
	if err != nil {
		return
	}
	for _, h := range mine {
		if slices.ContainsFunc(theirs, func(r *SignedHead) bool { return r.hash == h.hash }) {
			continue
		}
		var chain []*SignedHead
		c.db.View(func(tx *bolt.Tx) error {
			if a := openAccount(tx, acct, false); a != nil {
				chain = chainTo(h, theirs, a.get, MaxChain, maxChainBytes)
			}
			return nil
		})
		_, err := call(KindSyncHead, headMsg{Head: h.raw, Chain: rawsOf(chain)})
		switch {
		case err == nil, cell.HasCode(err, CodeStale):
			rep.Pushed++
		default:
			rep.Failed++
		}
	}
}

// localHead looks heads up in this cell's database.
func (c *Cell) localHead(acct ed25519.PublicKey) func(HeadHash) *SignedHead {
	return func(h HeadHash) *SignedHead {
		var out *SignedHead
		c.db.View(func(tx *bolt.Tx) error {
			if a := openAccount(tx, acct, false); a != nil {
				out = a.get(h)
			}
			return nil
		})
		return out
	}
}

// fetchChain gathers, oldest first, the ancestors of head that local
// lacks, asking fetch level by level, at most MaxChain of them.
func fetchChain(head *SignedHead, local func(HeadHash) *SignedHead, fetch func([]HeadHash) []*SignedHead) []*SignedHead {
	if local(head.hash) != nil {
		return nil
	}
	var out []*SignedHead
	seen := map[HeadHash]bool{}
	frontier := []*SignedHead{head}
	for len(frontier) > 0 && len(out) < MaxChain {
		var missing []HeadHash
		for _, h := range frontier {
			for _, p := range h.parents {
				if !seen[p] && local(p) == nil {
					seen[p] = true
					missing = append(missing, p)
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		frontier = frontier[:0]
		for _, f := range fetch(missing[:min(len(missing), maxHeadsAsked)]) {
			if slices.Contains(missing, f.hash) && len(out) < MaxChain {
				out = append(out, f)
				frontier = append(frontier, f)
			}
		}
	}
	slices.Reverse(out)
	return out
}

func hashBytes(hs []HeadHash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// Storage: bucket "accounts" holds a bucket per account key with "tips"
// (the tip hashes, concatenated) and a "hist" bucket of heads by hash: the
// tips and up to MaxHistory of their ancestors, so stale and replayed heads
// are recognised and ancestry can be walked.
var (
	bucketAccounts = []byte("accounts")
	keyTips        = []byte("tips")
	keyCount       = []byte("count")
	bucketHist     = []byte("hist")
)

type acctTx struct {
	b, hist *bolt.Bucket
	cache   map[HeadHash]*SignedHead
}

// openAccount opens (or, when create, makes) an account's buckets.
func openAccount(tx *bolt.Tx, acct ed25519.PublicKey, create bool) *acctTx {
	root := tx.Bucket(bucketAccounts)
	b := root.Bucket(acct)
	if b == nil {
		if !create {
			return nil
		}
		var err error
		if b, err = root.CreateBucket(acct); err != nil {
			return nil
		}
	}
	hist := b.Bucket(bucketHist)
	if hist == nil {
		if !tx.Writable() {
			return nil
		}
		var err error
		if hist, err = b.CreateBucket(bucketHist); err != nil {
			return nil
		}
	}
	return &acctTx{b: b, hist: hist, cache: map[HeadHash]*SignedHead{}}
}

func (a *acctTx) get(h HeadHash) *SignedHead {
	if sh, ok := a.cache[h]; ok {
		return sh
	}
	var sh *SignedHead
	if raw := a.hist.Get(h[:]); raw != nil {
		// Verified on the way in; the walk only needs seq and parents.
		sh, _ = parseTrusted(raw)
	}
	a.cache[h] = sh
	return sh
}

func (a *acctTx) tips() []*SignedHead {
	v := a.b.Get(keyTips)
	var out []*SignedHead
	for i := 0; i+32 <= len(v); i += 32 {
		if h := a.get(HeadHash(v[i : i+32])); h != nil {
			out = append(out, h)
		}
	}
	return dedupe(out)
}

func (a *acctTx) setTips(tips []*SignedHead) error {
	v := make([]byte, 0, 32*len(tips))
	for _, t := range dedupe(tips) {
		v = append(v, t.hash[:]...)
	}
	return a.b.Put(keyTips, v)
}

func (a *acctTx) put(h *SignedHead) error {
	if a.hist.Get(h.hash[:]) == nil {
		if err := a.setCount(a.count() + 1); err != nil {
			return err
		}
	}
	a.cache[h.hash] = h
	return a.hist.Put(h.hash[:], h.raw)
}

// count is how many heads the history holds, kept beside it so a commit
// need not walk the bucket.
func (a *acctTx) count() int {
	if v := a.b.Get(keyCount); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v))
	}
	return a.hist.Stats().KeyN // a store from before the counter
}

func (a *acctTx) setCount(n int) error {
	return a.b.Put(keyCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// evict keeps the history at MaxHistory heads, dropping the lowest seqs
// first and never a tip. It runs once the history is an eighth over, so
// most commits skip the scan.
func (a *acctTx) evict() error {
	n := a.count()
	if n <= MaxHistory+MaxHistory/8 {
		return nil
	}
	tips := map[HeadHash]bool{}
	for _, t := range a.tips() {
		tips[t.hash] = true
	}
	type entry struct {
		seq  uint64
		hash HeadHash
	}
	var all []entry
	a.hist.ForEach(func(k, v []byte) error {
		if h, err := parseTrusted(v); err == nil && !tips[h.hash] {
			all = append(all, entry{h.Seq, h.hash})
		}
		return nil
	})
	slices.SortFunc(all, func(x, y entry) int { return cmp.Compare(x.seq, y.seq) })
	drop := all[:max(0, min(len(all), len(all)+len(tips)-MaxHistory))]
	for _, e := range drop {
		delete(a.cache, e.hash)
		if err := a.hist.Delete(e.hash[:]); err != nil {
			return err
		}
	}
	return a.setCount(len(all) + len(tips) - len(drop))
}

// parseTrusted decodes a head this node verified before it stored it.
func parseTrusted(raw []byte) (*SignedHead, error) {
	var s signedHead
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	var h Head
	if err := wire.Unmarshal(s.Body, &h); err != nil {
		return nil, err
	}
	sh := &SignedHead{Head: h, raw: bytes.Clone(raw), hash: sha256.Sum256(raw)}
	if h.Version == 1 && !bytes.Equal(h.Prev, make([]byte, sha256.Size)) && len(h.Prev) == sha256.Size {
		sh.parents = []HeadHash{HeadHash(h.Prev)}
	}
	for _, p := range h.Parents {
		if len(p) == sha256.Size {
			sh.parents = append(sh.parents, HeadHash(p))
		}
	}
	return sh, nil
}

// migrate moves version 1 storage (one head per account in "heads") into
// the tips layout.
func migrate(tx *bolt.Tx) error {
	old := tx.Bucket(bucketHeadsV1)
	if old == nil {
		return nil
	}
	err := old.ForEach(func(k, v []byte) error {
		h, err := VerifyHead(v)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil
		}
		a := openAccount(tx, ed25519.PublicKey(k), true)
		if a == nil {
			return errors.New("files: migrate: open account")
		}
		if err := a.put(h); err != nil {
			return err
		}
		return a.setTips([]*SignedHead{h})
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(bucketHeadsV1)
}

// Status is the cell's monitor section.
type Status struct {
	// Accounts is how many accounts have heads here.
	Accounts int `json:"accounts"`
	// Forked is how many of them have more than one tip (awaiting a merge
	// by their owner).
	Forked    int   `json:"forked"`
	Accepted  int64 `json:"accepted"`
	Conflicts int64 `json:"conflicts"`
	Synced    int64 `json:"synced"`
	// Stale counts stale or replayed heads refused.
	Stale int64 `json:"stale"`
}

// Status returns the monitor section.
func (c *Cell) Status() Status {
	st := Status{Accepted: c.accepted.Load(), Conflicts: c.conflicts.Load(), Synced: c.synced.Load(), Stale: c.stale.Load()}
	c.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketAccounts)
		return root.ForEachBucket(func(k []byte) error {
			st.Accounts++
			if len(root.Bucket(k).Get(keyTips)) > 32 {
				st.Forked++
			}
			return nil
		})
	})
	return st
}
