package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside a data directory.
const FileName = "node.db"

// ErrInUse means another process holds the data directory's database.
var ErrInUse = errors.New("data directory is in use by another process")

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("not found")

var (
	bucketNode = []byte("node")
	keyNodeKey = []byte("ed25519-private-key")
)

// DB is an open node database.
type DB struct {
	bolt *bolt.DB
	path string
}

// Open opens (creating if needed) the database in dir. It fails fast with
// ErrInUse instead of waiting when another process has it open, because two
// nodes sharing one identity would confuse the whole network.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (stop the other borgios node or choose another --data-dir)", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{bolt: b, path: path}, nil
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Close flushes and closes the database.
func (db *DB) Close() error { return db.bolt.Close() }

// Bolt exposes the underlying database to packages that keep their own
// buckets and need multi-key transactions.
func (db *DB) Bolt() *bolt.DB { return db.bolt }

// Put stores value under bucket/key durably (committed and fsynced).
func (db *DB) Put(bucket, key, value []byte) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(key, value)
	})
}

// Get returns a copy of the value under bucket/key, or ErrNotFound.
func (db *DB) Get(bucket, key []byte) ([]byte, error) {
	var out []byte
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(key)
		if v == nil {
			return ErrNotFound
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// NodeKey returns the node's Ed25519 key, creating and persisting a random
// one on first use. The key is generated and committed in one transaction so
// a crash can never leave a node that has used a key it did not save.
func (db *DB) NodeKey() (ed25519.PrivateKey, error) {
	var key ed25519.PrivateKey
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNode)
		if err != nil {
			return err
		}
		if v := b.Get(keyNodeKey); v != nil {
			if len(v) != ed25519.SeedSize {
				return fmt.Errorf("stored node key has %d bytes, want %d: the database is damaged", len(v), ed25519.SeedSize)
			}
			key = ed25519.NewKeyFromSeed(v)
			return nil
		}
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return fmt.Errorf("generate node key: %w", err)
		}
		key = ed25519.NewKeyFromSeed(seed)
		return b.Put(keyNodeKey, seed)
	})
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	return key, nil
}
