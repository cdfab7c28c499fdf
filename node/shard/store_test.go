package shard

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func grantFor(t *testing.T, key ed25519.PrivateKey, data []byte, now int64) *Auth {
	t.Helper()
	g, err := SignStore(key, "n", IDOf(data), len(data), now)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestStoreDurableAndReconciled: what Put acknowledged survives a reopen;
// a blob the index never committed (crash between rename and commit) is
// removed, and an indexed shard whose blob vanished is marked missing.
func TestStoreDurableAndReconciled(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	owner := newKey(t)
	a, b := randBytes(1000), randBytes(2000)
	if err := s.Put(grantFor(t, owner, a, 1), a); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(grantFor(t, owner, b, 1), b); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(grantFor(t, owner, a, 2), a); err != nil { // idempotent
		t.Fatal(err)
	}
	if u := s.Usage(owner.Public().(ed25519.PublicKey)); u != 3000 {
		t.Fatalf("usage %d", u)
	}
	orphan := randBytes(10)
	if err := s.writeBlob(IDOf(orphan), orphan); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Remove(s.blobPath(IDOf(b)))

	s, err = OpenStore(dir, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Get(IDOf(a)); err != nil || string(got) != string(a) {
		t.Fatalf("acknowledged shard lost: %v", err)
	}
	if _, err := os.Stat(s.blobPath(IDOf(orphan))); !os.IsNotExist(err) {
		t.Fatal("orphan blob kept")
	}
	if in, ok := s.Info(IDOf(b)); !ok || !in.Missing || s.Has(IDOf(b)) {
		t.Fatalf("vanished blob: %+v", in)
	}
	// A missing shard comes back under its kept grant.
	g, _ := VerifyAuth(mustInfo(t, s, IDOf(b)).Grants[0], "n")
	if err := s.Put(g, b); err != nil || !s.Has(IDOf(b)) {
		t.Fatalf("restore: %v", err)
	}
	if u := s.Usage(owner.Public().(ed25519.PublicKey)); u != 3000 {
		t.Fatalf("usage after restore %d", u)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Fatal("temp files left")
	}
}

func mustInfo(t *testing.T, s *Store, id ID) Info {
	in, ok := s.Info(id)
	if !ok {
		t.Fatal("not indexed")
	}
	return in
}

func TestStoreQuotaAndDelete(t *testing.T) {
	s, err := OpenStore(t.TempDir(), 2500, 3200)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice, bob, carol := newKey(t), newKey(t), newKey(t)
	a, b := randBytes(1000), randBytes(2000)
	if err := s.Put(grantFor(t, alice, a, 1), a); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(grantFor(t, alice, b, 1), b); !errors.Is(err, ErrQuota) {
		t.Fatalf("over quota: %v", err)
	}
	if s.Has(IDOf(b)) {
		t.Fatal("over-quota shard stored")
	}
	if err := s.Put(grantFor(t, bob, b, 1), b); err != nil {
		t.Fatal(err)
	}
	c := randBytes(400)
	if err := s.Put(grantFor(t, bob, c, 1), c); !errors.Is(err, ErrFull) {
		t.Fatalf("node full: %v", err)
	}
	// Two owners of one shard: the blob goes with the last claim.
	if err := s.Put(grantFor(t, carol, a, 1), a); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	da, _ := SignDelete(alice, "n", IDOf(a), now)
	if err := s.Delete(da, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if !s.Has(IDOf(a)) {
		t.Fatal("another owner's claim deleted")
	}
	if err := s.Delete(da, now, time.Minute); !errors.Is(err, ErrReplayedDelete) {
		t.Fatalf("replay: %v", err)
	}
	db, _ := SignDelete(carol, "n", IDOf(a), now)
	if err := s.Delete(db, now, time.Minute); err != nil || s.Has(IDOf(a)) {
		t.Fatalf("last claim: %v", err)
	}
	if _, err := os.Stat(s.blobPath(IDOf(a))); !os.IsNotExist(err) {
		t.Fatal("blob of a deleted shard kept")
	}
	if err := s.Put(grantFor(t, alice, a, now-1), a); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked grant: %v", err)
	}
	if u := s.Usage(alice.Public().(ed25519.PublicKey)); u != 0 {
		t.Fatalf("alice usage %d", u)
	}
	// Pruned nonces are only those already stale.
	if err := s.PruneNonces(now + 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(da, now, time.Minute); err != nil {
		t.Fatalf("after prune the window is what refuses: %v", err)
	}
}
