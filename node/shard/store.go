package shard

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/borgios/borgios/node/wire"
)

// Holder store errors; the receptor maps each to its own code.
var (
	ErrNotFound       = errors.New("shard: not held here")
	ErrCorrupt        = errors.New("shard: local copy corrupt")
	ErrQuota          = errors.New("shard: owner quota exceeded")
	ErrFull           = errors.New("shard: node storage full")
	ErrRevoked        = errors.New("shard: grant predates the owner's delete")
	ErrReplayedDelete = errors.New("shard: delete nonce already used")
	ErrStaleDelete    = errors.New("shard: delete outside the time window")
	ErrWrongKind      = errors.New("shard: auth of the wrong kind")
)

var (
	bucketShards  = []byte("shards")  // ID -> record
	bucketUsage   = []byte("usage")   // owner -> u64 bytes charged
	bucketRevoked = []byte("revoked") // owner||ID -> i64 time of the latest delete
	bucketNonces  = []byte("dnonces") // owner||ID||nonce -> i64 delete time
)

// record is the index entry of one shard.
type record struct {
	Size   uint32  `cbor:"1,keyasint"`
	Owners []claim `cbor:"2,keyasint"`
	// Missing: the blob was found corrupt and dropped; the claims stay so
	// the scrub can fetch a good copy and store it under the same grants.
	Missing bool `cbor:"3,keyasint"`
}

type claim struct {
	Owner []byte `cbor:"1,keyasint"`
	Grant []byte `cbor:"2,keyasint"`
}

// Store is a holder's shard store: one file per shard under blobs/, and a
// bbolt index of owners, grants, per-owner usage and delete records. A
// store is acknowledged only after the blob is durable (temp file, fsync,
// rename, directory fsync) and the index transaction committed (bbolt
// fsyncs), so an acknowledged shard survives kill -9; a crash in between
// leaves an orphan blob that Open removes.
type Store struct {
	dir   string
	db    *bolt.DB
	quota int64
	limit int64

	locks [256]sync.Mutex // by first ID byte: one writer per shard at a time
}

// OpenStore opens (creating) a store in dir. quota bounds each owner's
// bytes, limit all bytes (0: unlimited).
func OpenStore(dir string, quota, limit int64) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("shard store: %w", err)
		}
	}
	db, err := bolt.Open(filepath.Join(dir, "shards.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("shard store: open index: %w", err)
	}
	s := &Store{dir: dir, db: db, quota: quota, limit: limit}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketShards, bucketUsage, bucketRevoked, bucketNonces} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.reconcile()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("shard store: %w", err)
	}
	return s, nil
}

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) blobPath(id ID) string {
	h := id.String()
	return filepath.Join(s.dir, "blobs", h[:2], h)
}

// reconcile repairs what a crash can leave: temp files, blobs the index
// never committed, and index entries whose blob vanished (marked missing,
// so the scrub fetches them again).
func (s *Store) reconcile() error {
	tmp := filepath.Join(s.dir, "tmp")
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		os.Remove(filepath.Join(tmp, e.Name()))
	}
	held := map[ID]bool{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShards)
		return b.ForEach(func(k, v []byte) error {
			id, err := idFrom(k)
			if err != nil {
				return nil
			}
			var r record
			if err := wire.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("index entry %s: %w", id.Short(), err)
			}
			if _, err := os.Stat(s.blobPath(id)); err != nil && !r.Missing {
				r.Missing = true
				enc, _ := wire.Marshal(&r)
				return b.Put(k, enc)
			}
			held[id] = true
			return nil
		})
	})
	if err != nil {
		return err
	}
	return filepath.WalkDir(filepath.Join(s.dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if id, perr := ParseID(d.Name()); perr != nil || !held[id] {
			os.Remove(p)
		}
		return nil
	})
}

func ownerID(owner []byte, id ID) []byte {
	return append(append(make([]byte, 0, 64), owner...), id[:]...)
}

// Put stores data under a verified store grant. It is idempotent: the same
// owner storing the same shard again costs nothing, and a blob found
// corrupt (or missing) is rewritten from the good data.
func (s *Store) Put(a *Auth, data []byte) error {
	if a.Kind != AuthStore {
		return ErrWrongKind
	}
	if len(data) != int(a.Size) || IDOf(data) != a.ID {
		return fmt.Errorf("%w: %d bytes for shard %s of %d", ErrHashMismatch, len(data), a.ID.Short(), a.Size)
	}
	mu := &s.locks[a.ID[0]]
	mu.Lock()
	defer mu.Unlock()

	var rec record
	exists := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if t := tx.Bucket(bucketRevoked).Get(ownerID(a.Owner, a.ID)); len(t) == 8 && int64(binary.BigEndian.Uint64(t)) >= a.Time {
			return ErrRevoked
		}
		if v := tx.Bucket(bucketShards).Get(a.ID[:]); v != nil {
			exists = true
			if err := wire.Unmarshal(v, &rec); err != nil {
				return err
			}
		}
		// Refuse over-quota before writing a blob nobody would index.
		for _, c := range rec.Owners {
			if bytes.Equal(c.Owner, a.Owner) {
				return nil
			}
		}
		if used := getU64(tx.Bucket(bucketUsage).Get(a.Owner)); int64(used)+int64(a.Size) > s.quota {
			return fmt.Errorf("%w: %d of %d bytes used", ErrQuota, used, s.quota)
		}
		if s.limit > 0 && !exists && s.totalLocked(tx)+int64(a.Size) > s.limit {
			return ErrFull
		}
		return nil
	})
	if err != nil {
		return err
	}
	hasClaim := false
	for _, c := range rec.Owners {
		if bytes.Equal(c.Owner, a.Owner) {
			hasClaim = true
		}
	}
	if hasClaim && !rec.Missing && s.blobOK(a.ID) {
		return nil
	}
	if !exists || rec.Missing || !s.blobOK(a.ID) {
		if err := s.writeBlob(a.ID, data); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShards)
		rec = record{}
		if v := b.Get(a.ID[:]); v != nil {
			if err := wire.Unmarshal(v, &rec); err != nil {
				return err
			}
		}
		rec.Size, rec.Missing = a.Size, false
		if !hasClaim {
			u := tx.Bucket(bucketUsage)
			used := getU64(u.Get(a.Owner))
			if int64(used)+int64(a.Size) > s.quota {
				return fmt.Errorf("%w: %d of %d bytes used", ErrQuota, used, s.quota)
			}
			if s.limit > 0 && !exists && s.totalLocked(tx)+int64(a.Size) > s.limit {
				return ErrFull
			}
			if err := u.Put(a.Owner, putU64(used+uint64(a.Size))); err != nil {
				return err
			}
			rec.Owners = append(rec.Owners, claim{Owner: a.Owner, Grant: a.Raw()})
			if !exists {
				tot := tx.Bucket(bucketUsage)
				if err := tot.Put([]byte("total"), putU64(getU64(tot.Get([]byte("total")))+uint64(a.Size))); err != nil {
					return err
				}
			}
		}
		enc, err := wire.Marshal(&rec)
		if err != nil {
			return err
		}
		return b.Put(a.ID[:], enc)
	})
}

func (s *Store) totalLocked(tx *bolt.Tx) int64 {
	return int64(getU64(tx.Bucket(bucketUsage).Get([]byte("total"))))
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func putU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func (s *Store) blobOK(id ID) bool {
	b, err := os.ReadFile(s.blobPath(id))
	return err == nil && sha256.Sum256(b) == id
}

// writeBlob makes the blob durable before the index mentions it.
func (s *Store) writeBlob(id ID, data []byte) error {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-*")
	if err != nil {
		return fmt.Errorf("shard store: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("shard store: write blob: %w", err)
	}
	dst := s.blobPath(id)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("shard store: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("shard store: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("shard store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("shard store: sync dir: %w", err)
	}
	return nil
}

// Get returns a shard's bytes after checking them against the ID. A copy
// that fails is never returned: its blob is dropped, the shard marked
// missing (its grants kept for the repair), and ErrCorrupt returned.
func (s *Store) Get(id ID) ([]byte, error) {
	if !s.Has(id) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(s.blobPath(id))
	if err == nil && sha256.Sum256(b) == id {
		return b, nil
	}
	s.markMissing(id)
	return nil, fmt.Errorf("%w: shard %s", ErrCorrupt, id.Short())
}

func (s *Store) markMissing(id ID) {
	mu := &s.locks[id[0]]
	mu.Lock()
	defer mu.Unlock()
	if s.blobOK(id) { // repaired meanwhile
		return
	}
	os.Remove(s.blobPath(id))
	s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShards)
		var r record
		if v := b.Get(id[:]); v == nil || wire.Unmarshal(v, &r) != nil {
			return nil
		}
		r.Missing = true
		enc, err := wire.Marshal(&r)
		if err != nil {
			return err
		}
		return b.Put(id[:], enc)
	})
}

// Has reports whether a good-looking copy is indexed (not re-hashed).
func (s *Store) Has(id ID) bool {
	held := false
	s.db.View(func(tx *bolt.Tx) error {
		var r record
		if v := tx.Bucket(bucketShards).Get(id[:]); v != nil && wire.Unmarshal(v, &r) == nil {
			held = !r.Missing
		}
		return nil
	})
	return held
}

// Info is a shard's index entry as the scrub sees it.
type Info struct {
	ID      ID
	Size    uint32
	Missing bool
	// Grants are the owners' store grants, exact signed bytes.
	Grants [][]byte
}

// Info returns a shard's index entry.
func (s *Store) Info(id ID) (Info, bool) {
	var in Info
	ok := false
	s.db.View(func(tx *bolt.Tx) error {
		var r record
		if v := tx.Bucket(bucketShards).Get(id[:]); v != nil && wire.Unmarshal(v, &r) == nil {
			in, ok = infoOf(id, &r), true
		}
		return nil
	})
	return in, ok
}

func infoOf(id ID, r *record) Info {
	in := Info{ID: id, Size: r.Size, Missing: r.Missing}
	for _, c := range r.Owners {
		in.Grants = append(in.Grants, c.Grant)
	}
	return in
}

// List returns every indexed shard.
func (s *Store) List() []Info {
	var out []Info
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketShards).ForEach(func(k, v []byte) error {
			var r record
			if id, err := idFrom(k); err == nil && wire.Unmarshal(v, &r) == nil {
				out = append(out, infoOf(id, &r))
			}
			return nil
		})
	})
	return out
}

// Usage returns the bytes charged to an owner.
func (s *Store) Usage(owner ed25519.PublicKey) int64 {
	var u uint64
	s.db.View(func(tx *bolt.Tx) error {
		u = getU64(tx.Bucket(bucketUsage).Get(owner))
		return nil
	})
	return int64(u)
}

// Delete applies a verified owner delete at network time now: it must lie
// within window of now and carry a nonce never used for this owner and
// shard; it drops the owner's claim (the blob goes with the last claim)
// and revokes the owner's older grants for the shard, so a repair or a
// replay cannot bring it back. Deleting what is not held succeeds.
func (s *Store) Delete(a *Auth, now int64, window time.Duration) error {
	if a.Kind != AuthDelete {
		return ErrWrongKind
	}
	if d := now - a.Time; d > window.Milliseconds() || -d > window.Milliseconds() {
		return fmt.Errorf("%w: signed %d ms from now", ErrStaleDelete, d)
	}
	mu := &s.locks[a.ID[0]]
	mu.Lock()
	defer mu.Unlock()
	removeBlob := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		nk := append(ownerID(a.Owner, a.ID), a.Nonce[:]...)
		nb := tx.Bucket(bucketNonces)
		if nb.Get(nk) != nil {
			return ErrReplayedDelete
		}
		if err := nb.Put(nk, putU64(uint64(a.Time))); err != nil {
			return err
		}
		rb := tx.Bucket(bucketRevoked)
		ok := ownerID(a.Owner, a.ID)
		if prev := rb.Get(ok); len(prev) != 8 || int64(binary.BigEndian.Uint64(prev)) < a.Time {
			if err := rb.Put(ok, putU64(uint64(a.Time))); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketShards)
		v := b.Get(a.ID[:])
		if v == nil {
			return nil
		}
		var r record
		if err := wire.Unmarshal(v, &r); err != nil {
			return err
		}
		kept := r.Owners[:0]
		dropped := false
		for _, c := range r.Owners {
			if bytes.Equal(c.Owner, a.Owner) {
				dropped = true
				continue
			}
			kept = append(kept, c)
		}
		if !dropped {
			return nil
		}
		u := tx.Bucket(bucketUsage)
		if err := u.Put(a.Owner, putU64(getU64(u.Get(a.Owner))-uint64(r.Size))); err != nil {
			return err
		}
		r.Owners = kept
		if len(kept) == 0 {
			removeBlob = true
			if err := u.Put([]byte("total"), putU64(getU64(u.Get([]byte("total")))-uint64(r.Size))); err != nil {
				return err
			}
			return b.Delete(a.ID[:])
		}
		enc, err := wire.Marshal(&r)
		if err != nil {
			return err
		}
		return b.Put(a.ID[:], enc)
	})
	if err != nil {
		return err
	}
	if removeBlob {
		os.Remove(s.blobPath(a.ID))
	}
	return nil
}

// Drop removes a shard and all claims without an owner's delete: only for
// a handoff, once the scrub confirmed k good copies on the rightful
// holders. Owners' usage is refunded.
func (s *Store) Drop(id ID) error {
	mu := &s.locks[id[0]]
	mu.Lock()
	defer mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShards)
		var r record
		v := b.Get(id[:])
		if v == nil {
			return nil
		}
		if err := wire.Unmarshal(v, &r); err != nil {
			return err
		}
		u := tx.Bucket(bucketUsage)
		for _, c := range r.Owners {
			u.Put(c.Owner, putU64(getU64(u.Get(c.Owner))-uint64(r.Size)))
		}
		u.Put([]byte("total"), putU64(getU64(u.Get([]byte("total")))-uint64(r.Size)))
		return b.Delete(id[:])
	})
	if err == nil {
		os.Remove(s.blobPath(id))
	}
	return err
}

// PruneNonces forgets delete nonces older than before: a delete that old
// is refused as stale anyway, so its nonce no longer needs remembering.
func (s *Store) PruneNonces(before int64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNonces).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if int64(getU64(v)) < before {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ReadTo appends a held shard's bytes to buf without re-hashing them: the
// hash is checked when the shard is stored and by every scrub pass, and
// every reader checks each shard against the ID in its manifest, so a
// copy that rots on disk costs its reader one re-request and is dropped
// by the next scrub. Hashing 256 KiB per read would cost a holder more
// CPU than sending it. A blob whose length disagrees with the index is
// dropped at once (ErrCorrupt).
func (s *Store) ReadTo(id ID, buf []byte) ([]byte, error) {
	var size uint32
	held := false
	s.db.View(func(tx *bolt.Tx) error {
		var r record
		if v := tx.Bucket(bucketShards).Get(id[:]); v != nil && wire.Unmarshal(v, &r) == nil {
			held, size = !r.Missing, r.Size
		}
		return nil
	})
	if !held {
		return buf, ErrNotFound
	}
	f, err := os.Open(s.blobPath(id))
	if err != nil {
		if os.IsNotExist(err) {
			s.markMissing(id)
			return buf, fmt.Errorf("%w: shard %s: blob gone", ErrCorrupt, id.Short())
		}
		return buf, fmt.Errorf("shard store: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != int64(size) {
		s.markMissing(id)
		return buf, fmt.Errorf("%w: shard %s: blob of the wrong size", ErrCorrupt, id.Short())
	}
	n := len(buf)
	if cap(buf)-n < int(size) {
		nb := make([]byte, n, n+int(size))
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:n+int(size)]
	if _, err := io.ReadFull(f, buf[n:]); err != nil {
		return buf[:n], fmt.Errorf("shard store: read blob: %w", err)
	}
	return buf, nil
}
