package shard

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// ClientConfig configures a storage client: what the conduit (and the
// files cell) use to put, get and delete files.
type ClientConfig struct {
	// Call signs every request with the person's account key (Call.Key),
	// which also owns the shards, and verifies every answer.
	Call *cell.Client
	// FileRoot is the phrase's file-key root (identity.Keys.FileRoot).
	FileRoot *[32]byte
	// Members is the membership view (RemoteMembers in the conduit).
	Members Membership
	// K is the number of holders per shard (default 3).
	K int
	// ChunkSize is the plaintext chunk size of new files (default 256 KiB).
	ChunkSize int
	// Parallel is how many shards move at once (default 8).
	Parallel int
	// CallTimeout bounds one request (default 20 s).
	CallTimeout time.Duration
	// OnDelivery, if set, is called for every shard a holder answered a
	// read with, checked or not (what a reader signs delivery receipts
	// for); from the client's goroutines, and it must not block.
	OnDelivery func(Delivery)
}

// Delivery is one shard a holder sent a reader: Observed is the SHA-256
// of the bytes received, equal to Shard for a good delivery.
type Delivery struct {
	Holder          ed25519.PublicKey
	Shard, Observed ID
	Bytes           int
}

// Client puts, gets and deletes files on the shard cell. It is safe for
// concurrent use.
type Client struct {
	cfg   ClientConfig
	owner ed25519.PublicKey
	calls [numKinds]atomic.Int64
}

const (
	kStore = iota
	kRead
	kDelete
	kHas
	kProve
	numKinds
)

var kindIndex = map[string]int{KindStore: kStore, KindRead: kRead, KindDelete: kDelete, KindHas: kHas, KindProve: kProve}

// NewClient checks cfg and fills defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Call == nil || len(cfg.Call.Key) != ed25519.PrivateKeySize || cfg.FileRoot == nil || cfg.Members == nil {
		return nil, errors.New("shard client: Call (with the account key), FileRoot and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = DefaultK
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("shard client: chunk size %d exceeds %d", cfg.ChunkSize, MaxChunkSize)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	return &Client{cfg: cfg, owner: cfg.Call.Key.Public().(ed25519.PublicKey)}, nil
}

// Calls is how many requests of each kind the client sent.
type Calls struct {
	Store, Read, Delete, Has, Prove int64
}

// Total is every request sent.
func (c Calls) Total() int64 { return c.Store + c.Read + c.Delete + c.Has + c.Prove }

// Calls returns the requests sent so far.
func (c *Client) Calls() Calls {
	return Calls{Store: c.calls[kStore].Load(), Read: c.calls[kRead].Load(), Delete: c.calls[kDelete].Load(),
		Has: c.calls[kHas].Load(), Prove: c.calls[kProve].Load()}
}

func (c *Client) call(ctx context.Context, m Member, kind string, v any) ([]byte, error) {
	payload, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	c.calls[kindIndex[kind]].Add(1)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	return c.cfg.Call.Call(ctx, cell.Target{Key: m.Key, Addr: m.Addr}, DNA, kind, payload)
}

func (c *Client) members(ctx context.Context) ([]Member, error) {
	ms, err := c.cfg.Members.Members(ctx)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, ErrNoMembers
	}
	return ms, nil
}

// SealManifest encrypts and signs a manifest for storage elsewhere (the
// files cell keeps these).
func (c *Client) SealManifest(m *Manifest) ([]byte, error) {
	return m.Seal(c.cfg.Call.Key, c.cfg.FileRoot)
}

// OpenManifest verifies and decrypts one of the person's sealed manifests.
func (c *Client) OpenManifest(raw []byte) (*Manifest, error) {
	return OpenManifest(raw, c.owner, c.cfg.FileRoot)
}

// Put reads r to its end, seals it chunk by chunk under a fresh per-file
// key and stores every shard on its k HRW holders (walking further down
// the ranking past holders that refuse or do not answer). progress, if not
// nil, is called with the plaintext bytes stored so far. A shard that no
// node accepted fails the Put; one stored on fewer than k is repaired by
// the holders' scrub.
func (c *Client) Put(ctx context.Context, r io.Reader, progress func(stored int64)) (*Manifest, error) {
	members, err := c.members(ctx)
	if err != nil {
		return nil, fmt.Errorf("shard put: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	m := &Manifest{FileID: NewFileID(), ChunkSize: c.cfg.ChunkSize, Created: c.cfg.Call.Now()}
	key := FileKey(c.cfg.FileRoot, m.FileID)
	hash := NewWholeHash()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		refs   []ShardRef
		stored atomic.Int64
	)
	sem := make(chan struct{}, c.cfg.Parallel)
	buf := make([]byte, c.cfg.ChunkSize)
	for index := uint64(0); ; index++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			hash.Write(buf[:n])
			m.Size += int64(n)
			sealed := SealChunk(&key, m.FileID, index, buf[:n])
			id := IDOf(sealed)
			mu.Lock()
			refs = append(refs, ShardRef{ID: id, Size: uint32(len(sealed))})
			mu.Unlock()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			go func(plain int) {
				defer func() { <-sem; wg.Done() }()
				if err := c.storeShard(ctx, id, sealed, members); err != nil {
					cancel(err)
					return
				}
				if s := stored.Add(int64(plain)); progress != nil {
					progress(s)
				}
			}(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			cancel(rerr)
			break
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("shard put: %w", err)
	}
	m.Shards = refs
	m.SetWhole(hash.Sum(nil))
	m.Owner = c.owner
	return m, nil
}

// storeShard stores one sealed chunk on its holders: the top k first, then
// the next candidates in HRW order for each that refused.
func (c *Client) storeShard(ctx context.Context, id ID, sealed []byte, members []Member) error {
	grant, err := SignStore(c.cfg.Call.Key, c.cfg.Call.Network, id, len(sealed), c.cfg.Call.Now())
	if err != nil {
		return err
	}
	req := storeRequest{Grant: grant.Raw(), Data: sealed}
	rank := Rank(id, members)
	want := min(c.cfg.K, len(rank))
	acks, next := 0, 0
	var errs []error
	for acks < want && next < len(rank) {
		batch := rank[next:min(next+want-acks, len(rank))]
		next += len(batch)
		results := make(chan error, len(batch))
		for _, h := range batch {
			go func() {
				_, err := c.call(ctx, h, KindStore, req)
				results <- err
			}()
		}
		for range batch {
			if err := <-results; err != nil {
				errs = append(errs, err)
			} else {
				acks++
			}
		}
	}
	if acks == 0 {
		return fmt.Errorf("shard %s stored nowhere: %w", id.Short(), errors.Join(errs...))
	}
	return nil
}

// GetReport says how a Get went.
type GetReport struct {
	Shards int
	// Confirmations is the total of good copies counted over all shards.
	Confirmations int
	// BadCopies counts copies refused (corrupt at the holder, or failing the
	// hash check here); none of them reached the writer.
	BadCopies int
	// Fallbacks counts shards found only by asking every member.
	Fallbacks int
	// Repaired counts copies added back to holders that lacked them.
	Repaired int
}

// Get writes the file of m to w in order. Each shard is fetched in
// parallel from its HRW holders (those that confirmed holding it first),
// checked against its ID and authenticated by the AEAD before a byte
// reaches w, and the whole plaintext is checked against the manifest's
// hash at the end. One batched "has" per holder counts every shard's
// confirmations first; a shard below k is stored back on its missing
// holders right after it is read.
func (c *Client) Get(ctx context.Context, m *Manifest, w io.Writer) (GetReport, error) {
	var rep GetReport
	if err := m.Check(); err != nil {
		return rep, fmt.Errorf("shard get: %w", err)
	}
	members, err := c.members(ctx)
	if err != nil {
		return rep, fmt.Errorf("shard get: %w", err)
	}
	rep.Shards = len(m.Shards)
	k := min(c.cfg.K, len(members))
	ranks := make([][]Member, len(m.Shards))
	for i, s := range m.Shards {
		ranks[i] = Rank(s.ID, members)
	}
	held := c.confirm(ctx, m, ranks, k)
	key := FileKey(c.cfg.FileRoot, m.FileID)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type result struct {
		i     int
		plain []byte
	}
	results := make(chan result, c.cfg.Parallel)
	window := make(chan struct{}, 2*c.cfg.Parallel)
	var repMu sync.Mutex
	go func() {
		for i := range m.Shards {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				plain, r, err := c.getShard(ctx, m, &key, i, ranks[i], held[i], k)
				repMu.Lock()
				rep.Confirmations += r.Confirmations
				rep.BadCopies += r.BadCopies
				rep.Fallbacks += r.Fallbacks
				rep.Repaired += r.Repaired
				repMu.Unlock()
				if err != nil {
					cancel(err)
					return
				}
				select {
				case results <- result{i, plain}:
				case <-ctx.Done():
				}
			}()
		}
	}()
	hash, want := m.WholeHash()
	pending := map[int][]byte{}
	for next := 0; next < len(m.Shards); {
		select {
		case <-ctx.Done():
			repMu.Lock()
			defer repMu.Unlock()
			return rep, fmt.Errorf("shard get: %w", context.Cause(ctx))
		case r := <-results:
			pending[r.i] = r.plain
		}
		for p, ok := pending[next]; ok; p, ok = pending[next] {
			delete(pending, next)
			hash.Write(p)
			if _, err := w.Write(p); err != nil {
				cancel(err)
				return rep, fmt.Errorf("shard get: write: %w", err)
			}
			next++
			<-window
		}
	}
	repMu.Lock()
	defer repMu.Unlock()
	if !bytes.Equal(hash.Sum(nil), want[:]) {
		return rep, fmt.Errorf("shard get: %w: file plaintext", ErrHashMismatch)
	}
	return rep, nil
}

// confirm asks every node that is a top-k holder of some shard, once per
// 1024 shards, which of them it holds. held[i] lists the holders (by index
// into ranks[i]) that said yes.
func (c *Client) confirm(ctx context.Context, m *Manifest, ranks [][]Member, k int) [][]int {
	type ask struct {
		member Member
		shards []int // shard index
		slots  []int // holder index in ranks
	}
	asks := map[string]*ask{}
	for i, r := range ranks {
		for j, h := range r[:k] {
			a := asks[string(h.Key)]
			if a == nil {
				a = &ask{member: h}
				asks[string(h.Key)] = a
			}
			a.shards = append(a.shards, i)
			a.slots = append(a.slots, j)
		}
	}
	held := make([][]int, len(ranks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.cfg.Parallel)
	for _, a := range asks {
		for lo := 0; lo < len(a.shards); lo += MaxHasIDs {
			hi := min(lo+MaxHasIDs, len(a.shards))
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				ids := make([][]byte, 0, hi-lo)
				for _, i := range a.shards[lo:hi] {
					ids = append(ids, m.Shards[i].ID[:])
				}
				ans, err := c.call(ctx, a.member, KindHas, hasRequest{IDs: ids})
				if err != nil {
					return
				}
				yes, err := decodeHasAnswer(ans, len(ids))
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for n, ok := range yes {
					if ok {
						i := a.shards[lo+n]
						held[i] = append(held[i], a.slots[lo+n])
					}
				}
			}()
		}
	}
	wg.Wait()
	return held
}

// getShard fetches, checks and opens shard i, then repairs its holders.
func (c *Client) getShard(ctx context.Context, m *Manifest, key *[32]byte, i int, rank []Member, held []int, k int) ([]byte, GetReport, error) {
	var rep GetReport
	ref := m.Shards[i]
	good := map[int]bool{}
	for _, j := range held {
		good[j] = true
	}
	// Holders that confirmed first, then the rest of the top k, then the
	// next k candidates (a copy not yet handed off).
	var order []int
	order = append(order, held...)
	for j := range min(2*k, len(rank)) {
		if !good[j] {
			order = append(order, j)
		}
	}
	tried := map[int]bool{}
	var data, grant []byte
	var errs []error
	for _, j := range order {
		tried[j] = true
		d, g, err := c.readFrom(ctx, rank[j], ref)
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrHashMismatch) || cell.HasCode(err, CodeCorrupt) {
				rep.BadCopies++
			}
			delete(good, j)
			continue
		}
		data, grant = d, g
		if j < k {
			good[j] = true
		}
		break
	}
	if data == nil {
		// Fallback: ask every member not tried whether it holds the shard.
		rep.Fallbacks++
		d, g, bad := c.broadcastFind(ctx, ref, rank, tried)
		rep.BadCopies += bad
		data, grant = d, g
	}
	if data == nil {
		return nil, rep, fmt.Errorf("shard %d (%s): %w (view of %d; %w)", i, ref.ID.Short(), ErrUnavailable, len(rank), errors.Join(errs...))
	}
	plain, err := OpenChunk(nil, key, m.FileID, uint64(i), data)
	if err != nil {
		return nil, rep, err
	}
	rep.Confirmations = len(good)
	if len(good) < k {
		rep.Repaired = c.repair(ctx, ref, data, grant, m.Owner, rank[:k], good)
	}
	return plain, rep, nil
}

// readFrom reads a shard from one node and checks it against its ID.
func (c *Client) readFrom(ctx context.Context, h Member, ref ShardRef) (data, grant []byte, err error) {
	ans, err := c.call(ctx, h, KindRead, idRequest{ID: ref.ID[:]})
	if err != nil {
		return nil, nil, err
	}
	r, err := decodeReadAnswer(ans)
	if err != nil {
		return nil, nil, err
	}
	got := IDOf(r.Data)
	if c.cfg.OnDelivery != nil {
		c.cfg.OnDelivery(Delivery{Holder: h.Key, Shard: ref.ID, Observed: got, Bytes: len(r.Data)})
	}
	if len(r.Data) != int(ref.Size) || got != ref.ID {
		return nil, nil, fmt.Errorf("%w: shard %s from %s", ErrHashMismatch, ref.ID.Short(), h.Addr)
	}
	return r.Data, r.Grant, nil
}

// broadcastFind is the fallback search: a "has" to every member not tried
// yet, then a read from those that say yes.
func (c *Client) broadcastFind(ctx context.Context, ref ShardRef, rank []Member, tried map[int]bool) (data, grant []byte, bad int) {
	hits := make(chan int, len(rank))
	var wg sync.WaitGroup
	for j, h := range rank {
		if tried[j] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := c.call(ctx, h, KindHas, hasRequest{IDs: [][]byte{ref.ID[:]}})
			if err != nil {
				return
			}
			if yes, err := decodeHasAnswer(ans, 1); err == nil && yes[0] {
				hits <- j
			}
		}()
	}
	wg.Wait()
	close(hits)
	for j := range hits {
		d, g, err := c.readFrom(ctx, rank[j], ref)
		if err == nil {
			return d, g, bad
		}
		bad++
	}
	return nil, nil, bad
}

// repair stores a shard back on the top-k holders that lack it: under a
// fresh grant when the reader owns the file, else under a grant a holder
// returned with the data (the owner's own permission either way).
func (c *Client) repair(ctx context.Context, ref ShardRef, data, grant []byte, owner ed25519.PublicKey, holders []Member, good map[int]bool) int {
	if owner == nil || owner.Equal(c.owner) {
		g, err := SignStore(c.cfg.Call.Key, c.cfg.Call.Network, ref.ID, len(data), c.cfg.Call.Now())
		if err != nil {
			return 0
		}
		grant = g.Raw()
	}
	if grant == nil {
		return 0
	}
	n := 0
	for j, h := range holders {
		if good[j] {
			continue
		}
		if _, err := c.call(ctx, h, KindStore, storeRequest{Grant: grant, Data: data}); err == nil {
			n++
		}
	}
	return n
}

// Delete removes the person's claim on every shard of m from its holders
// and the next k candidates (where a handoff may still hold a copy), with
// one signed, single-use delete per shard. Holders that cannot be reached
// keep their copy until the owner deletes again; the delete also revokes
// the grant, so no repair brings a deleted shard back to a holder that
// applied it.
func (c *Client) Delete(ctx context.Context, m *Manifest) error {
	members, err := c.members(ctx)
	if err != nil {
		return fmt.Errorf("shard delete: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, c.cfg.Parallel)
	for _, ref := range m.Shards {
		a, err := SignDelete(c.cfg.Call.Key, c.cfg.Call.Network, ref.ID, c.cfg.Call.Now())
		if err != nil {
			return fmt.Errorf("shard delete: %w", err)
		}
		rank := Rank(ref.ID, members)
		for _, h := range rank[:min(2*c.cfg.K, len(rank))] {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				_, err := c.call(ctx, h, KindDelete, deleteRequest{Auth: a.Raw()})
				if err != nil && !cell.HasCode(err, cell.CodeUnavailable) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("shard delete: %w", errors.Join(errs...))
	}
	return nil
}
