package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketVotes = []byte("ledger-votes")
	bucketCerts = []byte("ledger-certs")
)

// BoltStore keeps a witness's votes and certificates in bbolt. Every
// write is one committed, fsynced transaction, so a vote that SaveVotes
// returned for survives kill -9 and power loss.
type BoltStore struct {
	db    *bolt.DB
	owned bool
}

// OpenBoltStore opens (creating if needed) a bbolt file for a witness.
func OpenBoltStore(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open witness store %s: %w", path, err)
	}
	s, err := NewBoltStore(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewBoltStore uses an already open database (the node's, from
// node/store) and keeps the ledger in its own buckets.
func NewBoltStore(db *bolt.DB) (*BoltStore, error) {
	if db.NoSync {
		return nil, errors.New("witness store: database opened with NoSync: votes would not survive a crash")
	}
	err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketVotes); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketCerts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("witness store: create buckets: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// Close closes the database if OpenBoltStore opened it.
func (s *BoltStore) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// voteKey is the slot key votes were saved under before they were
// appended by sequence; Load reads both layouts.
func voteKey(a AccountID, seq uint64) []byte {
	k := make([]byte, 40)
	copy(k, a[:])
	binary.BigEndian.PutUint64(k[32:], seq)
	return k
}

// SaveVotes implements Store.
func (s *BoltStore) SaveVotes(blocks []*Block) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putVotes(tx, blocks) })
}

// putVotes appends votes under an increasing 8-byte sequence. Keyed by
// slot (the layout before, 40-byte keys, still loaded), the votes of one
// batch landed on as many random leaf pages as accounts, and rewriting
// those pages was most of the commit; appended, a batch dirties the last
// page or two. A witness saves at most one vote per slot (admit refuses a
// second block, and the same block again is not fresh), so nothing
// depended on a second save replacing the first.
func putVotes(tx *bolt.Tx, blocks []*Block) error {
	bk := tx.Bucket(bucketVotes)
	bk.FillPercent = 1 // append-only: full pages
	for _, b := range blocks {
		n, err := bk.NextSequence()
		if err != nil {
			return err
		}
		if err := bk.Put(binary.BigEndian.AppendUint64(nil, n), b.Encode()); err != nil {
			return fmt.Errorf("save vote: %w", err)
		}
	}
	return nil
}

// SaveBatch implements BatchStore: certificates and votes in one
// committed, fsynced transaction.
func (s *BoltStore) SaveBatch(certs []*Certificate, votes []*Block) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := putCertificates(tx, certs); err != nil {
			return err
		}
		return putVotes(tx, votes)
	})
}

// SaveCertificates implements Store. Keys are an increasing sequence so
// Load replays certificates in the order they were accepted.
func (s *BoltStore) SaveCertificates(certs []*Certificate) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putCertificates(tx, certs) })
}

func putCertificates(tx *bolt.Tx, certs []*Certificate) error {
	bk := tx.Bucket(bucketCerts)
	bk.FillPercent = 1 // append-only: full pages
	for _, c := range certs {
		n, err := bk.NextSequence()
		if err != nil {
			return err
		}
		if err := bk.Put(binary.BigEndian.AppendUint64(nil, n), c.Encode()); err != nil {
			return fmt.Errorf("save certificate: %w", err)
		}
	}
	return nil
}

// Load implements Store.
func (s *BoltStore) Load(cert func(*Certificate) error, vote func(*Block) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketCerts).ForEach(func(k, v []byte) error {
			c, err := decodeStoredCertificate(v)
			if err != nil {
				return fmt.Errorf("certificate %x: %w", k, err)
			}
			return cert(c)
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketVotes).ForEach(func(k, v []byte) error {
			b, err := DecodeBlock(v)
			if err != nil {
				return fmt.Errorf("vote %x: %w", k, err)
			}
			return vote(b)
		})
	})
}

// MemStore keeps a witness's state in memory, for simulations where a
// crash is simulated by keeping the store and dropping the witness.
type MemStore struct {
	votes map[slot][]byte
	order [][]byte // vote encodings in save order
	certs [][]byte
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{votes: make(map[slot][]byte)} }

// SaveVotes implements Store.
func (m *MemStore) SaveVotes(blocks []*Block) error {
	for _, b := range blocks {
		enc := b.Encode()
		s := slot{b.Account, b.Seq}
		if _, ok := m.votes[s]; !ok {
			m.order = append(m.order, enc)
		}
		m.votes[s] = enc
	}
	return nil
}

// SaveCertificates implements Store.
func (m *MemStore) SaveCertificates(certs []*Certificate) error {
	for _, c := range certs {
		m.certs = append(m.certs, c.Encode())
	}
	return nil
}

// Load implements Store.
func (m *MemStore) Load(cert func(*Certificate) error, vote func(*Block) error) error {
	for _, raw := range m.certs {
		c, err := DecodeCertificate(raw)
		if err != nil {
			return err
		}
		if err := cert(c); err != nil {
			return err
		}
	}
	for _, raw := range m.order {
		b, err := DecodeBlock(raw)
		if err != nil {
			return err
		}
		if err := vote(b); err != nil {
			return err
		}
	}
	return nil
}
