package files

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// ClientConfig configures a person's file tree client.
type ClientConfig struct {
	// Call signs every request with the person's account key and verifies
	// every answer.
	Call *cell.Client
	// Shards stores file contents and directory blobs; it must use the
	// same account key and file-key root.
	Shards *shard.Client
	// Members is the files cell's membership view (RemoteMembers in a
	// conduit, RegistryMembers on a node).
	Members shard.Membership
	// K is the number of holders per head (default shard.DefaultK).
	K int
	// Retries bounds how often an update re-reads and re-applies itself
	// after losing a race to another conduit (default 10).
	Retries int
	// CallTimeout bounds one head request (default 10 s).
	CallTimeout time.Duration
	// Device names this conduit in the heads it writes, so a merge that
	// keeps both sides of a conflict can say where each came from
	// (default: the host name).
	Device string
}

// Client is a person's view of their file tree. Every update reads the
// tips, merges them when there are several, applies the change to the
// tree, stores the changed directories and writes a head extending every
// tip; on "conflict" it starts over from the new tips, so a concurrent
// update is merged, never lost (DESIGN.md). It is safe for concurrent use.
type Client struct {
	cfg   ClientConfig
	owner ed25519.PublicKey
}

// NewClient checks cfg and fills defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Call == nil || len(cfg.Call.Key) != ed25519.PrivateKeySize || cfg.Shards == nil || cfg.Members == nil {
		return nil, errors.New("files client: Call (with the account key), Shards and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 10
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Device == "" {
		cfg.Device, _ = os.Hostname()
	}
	cfg.Device = deviceLabel(cfg.Device)
	return &Client{cfg: cfg, owner: cfg.Call.Key.Public().(ed25519.PublicKey)}, nil
}

// Account is the tree's owner.
func (c *Client) Account() ed25519.PublicKey { return c.owner }

func (c *Client) call(ctx context.Context, m shard.Member, kind string, v any) ([]byte, error) {
	payload, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	return c.cfg.Call.Call(ctx, cell.Target{Key: m.Key, Addr: m.Addr}, DNA, kind, payload)
}

// holderTips is one reachable holder and the tips it keeps.
type holderTips struct {
	m    shard.Member
	tips []*SignedHead
}

// headView is what reading the head found: the live tips (none: the tree
// is empty; more than one: concurrent updates to merge), the base of that
// merge (their newest common ancestor, nil when none is known), the k
// reachable holders with what each keeps, and every head seen on the way,
// for the chains that link a new head to each holder's tips.
type headView struct {
	live    []*SignedHead
	base    *SignedHead
	holders []holderTips
	cache   map[HeadHash]*SignedHead
}

func (v *headView) get(h HeadHash) *SignedHead { return v.cache[h] }

type headAnswer struct {
	m     shard.Member
	heads []*SignedHead
	err   error
}

func (c *Client) ask(ctx context.Context, ms []shard.Member, kind string, req any) []headAnswer {
	out := make([]headAnswer, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].m = m
			b, err := c.call(ctx, m, kind, req)
			if err != nil {
				out[i].err = err
				return
			}
			out[i].heads, out[i].err = decodeHeads(b, c.owner)
		}()
	}
	wg.Wait()
	return out
}

// readHead asks the first k reachable holders in rendezvous order (and a
// few further down when none of them has a head, where one may sit after
// the view changed) for their tips, reduces them to the live ones, and
// pushes to each holder the live tips it lacks, so a fork is known to
// every holder until it is merged.
func (c *Client) readHead(ctx context.Context) (*headView, error) {
	members, err := c.cfg.Members.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	rank := shard.Rank(HeadID(c.owner), members)
	if len(rank) == 0 {
		return nil, fmt.Errorf("%w: no node runs the files cell", ErrUnavailable)
	}
	view := &headView{cache: map[HeadHash]*SignedHead{}}
	var (
		all  []*SignedHead
		errs []error
		next int
	)
	req := accountRequest{Account: c.owner}
	for len(view.holders) < c.cfg.K && next < len(rank) {
		batch := rank[next:min(next+c.cfg.K-len(view.holders), len(rank))]
		next += len(batch)
		for _, a := range c.ask(ctx, batch, KindGetHead, req) {
			switch {
			case a.err == nil:
				view.holders = append(view.holders, holderTips{m: a.m, tips: a.heads})
				all = append(all, a.heads...)
			case cell.HasCode(a.err, cell.CodeNotFound):
				view.holders = append(view.holders, holderTips{m: a.m})
			default:
				errs = append(errs, a.err)
			}
		}
	}
	if len(view.holders) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
	}
	if len(all) == 0 && next < len(rank) {
		for _, a := range c.ask(ctx, rank[next:min(next+2*c.cfg.K, len(rank))], KindGetHead, req) {
			if a.err == nil {
				all = append(all, a.heads...)
			}
		}
	}
	for _, h := range all {
		view.cache[h.hash] = h
	}
	view.live, view.base = resolveTips(all, func(hs []HeadHash) []*SignedHead {
		return c.fetchHeads(ctx, view, hs)
	})
	c.repair(ctx, view)
	return view, nil
}

// fetchHeads asks the holders, in turn, for heads not in the cache.
func (c *Client) fetchHeads(ctx context.Context, v *headView, hs []HeadHash) []*SignedHead {
	var out []*SignedHead
	want := map[HeadHash]bool{}
	for _, h := range hs {
		if got := v.cache[h]; got != nil {
			out = append(out, got)
		} else {
			want[h] = true
		}
	}
	for _, ht := range v.holders {
		if len(want) == 0 {
			break
		}
		var ask [][]byte
		for h := range want {
			ask = append(ask, bytes.Clone(h[:]))
		}
		for _, a := range c.ask(ctx, []shard.Member{ht.m}, KindGetHeads, headsRequest{Account: c.owner, Hashes: ask}) {
			for _, h := range a.heads {
				if want[h.hash] {
					delete(want, h.hash)
					v.cache[h.hash] = h
					out = append(out, h)
				}
			}
		}
	}
	return out
}

// repair sends each holder the live tips it lacks, with the chains that
// link them to what it keeps. Best effort: a holder that refuses is
// reached again by the next read, write or sync pass.
func (c *Client) repair(ctx context.Context, v *headView) {
	var wg sync.WaitGroup
	for _, ht := range v.holders {
		for _, h := range v.live {
			if slices.ContainsFunc(ht.tips, func(t *SignedHead) bool { return t.hash == h.hash }) {
				continue
			}
			chain := chainTo(h, ht.tips, v.get, MaxChain, maxChainBytes)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.call(ctx, ht.m, KindSyncHead, headMsg{Head: h.raw, Chain: rawsOf(chain)})
			}()
		}
	}
	wg.Wait()
}

// putHead sends next (which extends every live tip) to the holders, each
// with the chain that links it to the tips it keeps: it is accepted once a
// majority of them took it. A refusal by a majority-blocking share is
// ErrConflict.
func (c *Client) putHead(ctx context.Context, v *headView, next *SignedHead) error {
	errs := make([]error, len(v.holders))
	var wg sync.WaitGroup
	for i, ht := range v.holders {
		chain := chainTo(next, ht.tips, v.get, MaxChain, maxChainBytes)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.call(ctx, ht.m, KindPutHead, headMsg{Head: next.raw, Chain: rawsOf(chain)})
		}()
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case cell.HasCode(err, CodeConflict), cell.HasCode(err, CodeStale), cell.HasCode(err, CodeTooManyTips):
			conflicts++
		}
	}
	if ok >= len(v.holders)/2+1 {
		return nil
	}
	if conflicts > 0 {
		return fmt.Errorf("%w: head %d taken by %d of %d holders, refused by %d", ErrConflict, next.Seq, ok, len(v.holders), conflicts)
	}
	return fmt.Errorf("%w: head %d taken by %d of %d holders: %w", ErrUnavailable, next.Seq, ok, len(v.holders), errors.Join(errs...))
}

// Head returns the newest head of the tree, or nil when it is empty. When
// concurrent updates left several tips not merged yet, it is the one with
// the highest seq; Tips lists them all.
func (c *Client) Head(ctx context.Context) (*SignedHead, error) {
	v, err := c.readHead(ctx)
	if err != nil || len(v.live) == 0 {
		return nil, err
	}
	return v.live[0], nil
}

// Tips returns the live tips of the tree: one normally, several after
// concurrent updates until the next write (or Merge) merges them.
func (c *Client) Tips(ctx context.Context) ([]*SignedHead, error) {
	v, err := c.readHead(ctx)
	if err != nil {
		return nil, err
	}
	return v.live, nil
}

// Merge writes a merge head when the tree has several tips, and reports
// whether it did. Reads merge in memory; every write merges too, so
// calling it is only needed to settle a fork without changing anything.
func (c *Client) Merge(ctx context.Context) (bool, error) {
	merged := false
	err := c.update(ctx, func(t *tree) error {
		merged = t.root.dirty
		return nil
	})
	return merged, err
}

func (c *Client) loadDir(ctx context.Context, ref []byte) (*Directory, error) {
	m, err := c.cfg.Shards.OpenManifest(ref)
	if err != nil {
		return nil, fmt.Errorf("files: directory manifest: %w", err)
	}
	if m.Size > MaxDirectory {
		return nil, fmt.Errorf("%w: directory of %d bytes", ErrMalformed, m.Size)
	}
	var buf bytes.Buffer
	if _, err := c.cfg.Shards.Get(ctx, m, &buf); err != nil {
		return nil, fmt.Errorf("files: read directory: %w", err)
	}
	return DecodeDirectory(buf.Bytes())
}

func (c *Client) storeDir(ctx context.Context, d *Directory) ([]byte, error) {
	b, err := d.Encode()
	if err != nil {
		return nil, err
	}
	m, err := c.cfg.Shards.Put(ctx, bytes.NewReader(b), nil)
	if err != nil {
		return nil, fmt.Errorf("files: store directory: %w", err)
	}
	return c.cfg.Shards.SealManifest(m)
}

// dnode is a directory loaded into a transaction.
type dnode struct {
	dir      *Directory
	dirty    bool
	children map[string]*dnode
}

// tree is one attempt at reading or changing the tree from one head.
type tree struct {
	c    *Client
	ctx  context.Context
	root *dnode
	// after runs once the new head is in (deleting replaced contents).
	after []*shard.Manifest
}

func (c *Client) snapshot(ctx context.Context) (*tree, *headView, error) {
	v, err := c.readHead(ctx)
	if err != nil {
		return nil, nil, err
	}
	t := &tree{c: c, ctx: ctx}
	if len(v.live) > MaxParents {
		// One merge head names at most MaxParents tips; the rest stay
		// tips and the next write merges them. The base stays a common
		// ancestor of those merged, if maybe not the newest.
		v.live = v.live[:MaxParents]
	}
	switch len(v.live) {
	case 0:
		t.root = &dnode{dir: &Directory{Version: dirVersion}}
	case 1:
		root, err := c.loadDir(ctx, v.live[0].Root)
		if err != nil {
			return nil, nil, err
		}
		t.root = &dnode{dir: root}
	default:
		if t.root, err = c.mergeTips(ctx, v); err != nil {
			return nil, nil, err
		}
	}
	return t, v, nil
}

// dir walks to the directory at names, creating missing ones if create.
func (t *tree) dir(names []string, create bool) (*dnode, error) {
	n := t.root
	for i, name := range names {
		if child, ok := n.children[name]; ok {
			n = child
			continue
		}
		var child *dnode
		switch j := n.dir.Find(name); {
		case j < 0 && !create:
			return nil, fmt.Errorf("%w: /%s", ErrNotFound, path.Join(names[:i+1]...))
		case j < 0:
			child = &dnode{dir: &Directory{Version: dirVersion}, dirty: true}
		case n.dir.Entries[j].Kind != KindDir:
			return nil, fmt.Errorf("%w: /%s", ErrNotDir, path.Join(names[:i+1]...))
		default:
			d, err := t.c.loadDir(t.ctx, n.dir.Entries[j].Ref)
			if err != nil {
				return nil, err
			}
			child = &dnode{dir: d}
		}
		if n.children == nil {
			n.children = map[string]*dnode{}
		}
		n.children[name] = child
		n = child
	}
	return n, nil
}

// touch marks the path to names dirty so commit rewrites it.
func (t *tree) touch(names []string) {
	n := t.root
	n.dirty = true
	for _, name := range names {
		n = n.children[name]
		n.dirty = true
	}
}

// store writes every dirty directory bottom-up and returns the root's ref.
func (t *tree) store(n *dnode, now int64) ([]byte, error) {
	for name, child := range n.children {
		if !child.dirty {
			continue
		}
		ref, err := t.store(child, now)
		if err != nil {
			return nil, err
		}
		n.dir.Set(Entry{Name: name, Kind: KindDir, Size: int64(len(child.dir.Entries)), MTime: now, Ref: ref})
	}
	return t.c.storeDir(t.ctx, n.dir)
}

// update applies change to the newest tree and swaps the head, starting
// over from the newer head after a conflict.
func (c *Client) update(ctx context.Context, change func(t *tree) error) error {
	var last error
	for attempt := range c.cfg.Retries {
		if attempt > 0 {
			// A little random pause so two conduits racing do not collide
			// again in lockstep.
			d := time.Duration(rand.Int64N(int64(50*time.Millisecond) << min(attempt, 5)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		t, v, err := c.snapshot(ctx)
		if err != nil {
			return err
		}
		if err := change(t); err != nil {
			return err
		}
		if !t.root.dirty {
			return nil
		}
		now := c.cfg.Call.Now()
		root, err := t.store(t.root, now)
		if err != nil {
			return err
		}
		// The new head extends every live tip: a merge head when there
		// were several, so holders drop them all for it.
		h := Head{Seq: 1, Root: root, Time: now, Device: c.cfg.Device}
		for _, tip := range v.live {
			h.Parents = append(h.Parents, bytes.Clone(tip.hash[:]))
			h.Seq = max(h.Seq, tip.Seq+1)
		}
		next, err := SignHead(c.cfg.Call.Key, h)
		if err != nil {
			return err
		}
		v.cache[next.hash] = next
		if err := c.putHead(ctx, v, next); err != nil {
			if errors.Is(err, ErrConflict) {
				last = err
				continue
			}
			return err
		}
		for _, m := range t.after {
			// Best effort: a holder that misses the delete keeps the copy
			// until the owner deletes again; the tree no longer names it.
			c.cfg.Shards.Delete(ctx, m)
		}
		return nil
	}
	return fmt.Errorf("files: gave up after %d attempts: %w", c.cfg.Retries, last)
}

// Put stores r as the file at p (parent directories are created),
// replacing a file already there. progress, if not nil, is called with the
// bytes stored so far. The contents are stored once; only the directory
// change is re-applied if another conduit updated the tree meanwhile.
func (c *Client) Put(ctx context.Context, p string, r io.Reader, progress func(stored int64)) (Entry, error) {
	names, err := SplitPath(p)
	if err != nil {
		return Entry{}, err
	}
	if len(names) == 0 {
		return Entry{}, fmt.Errorf("%w: cannot put a file at the root", ErrBadPath)
	}
	m, err := c.cfg.Shards.Put(ctx, r, progress)
	if err != nil {
		return Entry{}, fmt.Errorf("files put %s: %w", p, err)
	}
	ref, err := c.cfg.Shards.SealManifest(m)
	if err != nil {
		return Entry{}, fmt.Errorf("files put %s: %w", p, err)
	}
	e := Entry{Name: names[len(names)-1], Kind: KindFile, Size: m.Size, MTime: m.Created, Ref: ref}
	err = c.update(ctx, func(t *tree) error {
		parent, err := t.dir(names[:len(names)-1], true)
		if err != nil {
			return err
		}
		if i := parent.dir.Find(e.Name); i >= 0 {
			old := parent.dir.Entries[i]
			if old.Kind == KindDir {
				return fmt.Errorf("%w: %s is a directory", ErrExists, p)
			}
			// A retry after a conflict can find this very entry already in
			// the tree (an earlier attempt's head was accepted after all):
			// then there is nothing to replace, and deleting "the old
			// contents" would delete the file just stored.
			if om, err := c.cfg.Shards.OpenManifest(old.Ref); err == nil && !bytes.Equal(old.Ref, e.Ref) && om.FileID != m.FileID {
				t.after = append(t.after, om)
			}
		}
		parent.dir.Set(e)
		t.touch(names[:len(names)-1])
		return nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("files put %s: %w", p, err)
	}
	return e, nil
}

// Mkdir creates the directory p and its parents; an existing directory is
// not an error.
func (c *Client) Mkdir(ctx context.Context, p string) error {
	names, err := SplitPath(p)
	if err != nil {
		return err
	}
	err = c.update(ctx, func(t *tree) error {
		n := t.root
		for i := range names {
			j := n.dir.Find(names[i])
			if j >= 0 && n.dir.Entries[j].Kind != KindDir {
				return fmt.Errorf("%w: /%s is a file", ErrExists, path.Join(names[:i+1]...))
			}
			if j < 0 {
				if _, err := t.dir(names, true); err != nil {
					return err
				}
				t.touch(names)
				return nil
			}
			var err error
			if n, err = t.dir(names[:i+1], false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("files mkdir %s: %w", p, err)
	}
	return nil
}

// Stat returns the entry at p; the root is a directory entry named "/".
func (c *Client) Stat(ctx context.Context, p string) (Entry, error) {
	t, _, err := c.snapshot(ctx)
	if err != nil {
		return Entry{}, err
	}
	return t.stat(p)
}

func (t *tree) stat(p string) (Entry, error) {
	names, err := SplitPath(p)
	if err != nil {
		return Entry{}, err
	}
	if len(names) == 0 {
		return Entry{Name: "/", Kind: KindDir, Size: int64(len(t.root.dir.Entries))}, nil
	}
	parent, err := t.dir(names[:len(names)-1], false)
	if err != nil {
		return Entry{}, err
	}
	i := parent.dir.Find(names[len(names)-1])
	if i < 0 {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return parent.dir.Entries[i], nil
}

// List returns the entries of the directory at p, sorted by name.
func (c *Client) List(ctx context.Context, p string) ([]Entry, error) {
	t, _, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	names, err := SplitPath(p)
	if err != nil {
		return nil, err
	}
	n, err := t.dir(names, false)
	if err != nil {
		return nil, fmt.Errorf("files ls %s: %w", p, err)
	}
	return n.dir.Entries, nil
}

// Walk calls fn for every entry under the directory p, depth first in name
// order, with the entry's full path, all from one head.
func (c *Client) Walk(ctx context.Context, p string, fn func(p string, e Entry) error) error {
	t, _, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	names, err := SplitPath(p)
	if err != nil {
		return err
	}
	return t.walk(names, fn)
}

func (t *tree) walk(names []string, fn func(p string, e Entry) error) error {
	n, err := t.dir(names, false)
	if err != nil {
		return err
	}
	for _, e := range n.dir.Entries {
		sub := append(append([]string(nil), names...), e.Name)
		if err := fn("/"+path.Join(sub...), e); err != nil {
			return err
		}
		if e.Kind == KindDir {
			if err := t.walk(sub, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Get writes the file at p to w, verified shard by shard and against the
// file's hash at the end.
func (c *Client) Get(ctx context.Context, p string, w io.Writer) (Entry, error) {
	e, err := c.Stat(ctx, p)
	if err != nil {
		return Entry{}, fmt.Errorf("files get %s: %w", p, err)
	}
	if err := c.GetEntry(ctx, e, w); err != nil {
		return e, fmt.Errorf("files get %s: %w", p, err)
	}
	return e, nil
}

// GetEntry writes the file an entry (from List or Walk) names to w.
func (c *Client) GetEntry(ctx context.Context, e Entry, w io.Writer) error {
	if e.Kind != KindFile {
		return ErrIsDir
	}
	m, err := c.cfg.Shards.OpenManifest(e.Ref)
	if err != nil {
		return err
	}
	_, err = c.cfg.Shards.Get(ctx, m, w)
	return err
}

// Remove deletes the file or directory (with everything under it) at p
// from the tree, then the contents from their holders.
func (c *Client) Remove(ctx context.Context, p string) error {
	names, err := SplitPath(p)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("files rm: %w: cannot remove the root", ErrBadPath)
	}
	err = c.update(ctx, func(t *tree) error {
		parent, err := t.dir(names[:len(names)-1], false)
		if err != nil {
			return err
		}
		i := parent.dir.Find(names[len(names)-1])
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		e := parent.dir.Entries[i]
		if e.Kind == KindFile {
			if m, err := c.cfg.Shards.OpenManifest(e.Ref); err == nil {
				t.after = append(t.after, m)
			}
		} else if err := t.walk(names, func(_ string, e Entry) error {
			if e.Kind == KindFile {
				if m, err := c.cfg.Shards.OpenManifest(e.Ref); err == nil {
					t.after = append(t.after, m)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		parent.dir.Remove(i)
		delete(parent.children, e.Name)
		t.touch(names[:len(names)-1])
		return nil
	})
	if err != nil {
		return fmt.Errorf("files rm %s: %w", p, err)
	}
	return nil
}
