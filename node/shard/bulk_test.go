package shard

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// bulkStream opens a bulk stream to n with the given opening envelope.
func bulkStream(t *testing.T, p *person, n *tnode, open []byte) *transport.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s, err := p.call.Transport.OpenStream(ctx, n.tr.Addr().String(), n.pub(), BulkProtocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Write(AppendBulkOpen(nil, open)); err != nil {
		t.Fatal(err)
	}
	return s
}

func sealOpen(t *testing.T, p *person, kind string) []byte {
	t.Helper()
	env, err := wire.SealEnvelope(p.key, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: kind, Time: nowMs()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return env.Bytes()
}

// ask sends one request and reads its answer.
func ask(t *testing.T, s *transport.Stream, id ID) (byte, []byte) {
	t.Helper()
	if _, err := s.Write(id[:]); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, BulkHeaderSize)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	st, n := ParseBulkHeader(hdr)
	if n > MaxShardSize {
		t.Fatalf("answer of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return st, body
}

// TestBulkProtocol: one verified opening request, then shard bytes
// without signatures; a replayed or wrong opening is denied; at the
// concurrent-read limit a reader is told "busy" with another holder of
// the shard to try.
func TestBulkProtocol(t *testing.T) {
	var gate sync.Mutex // held: every read waits
	var waiting atomic.Int64
	hook := func(next ReadFunc) ReadFunc {
		return func(ctx context.Context, id ID, buf []byte) ([]byte, error) {
			waiting.Add(1)
			gate.Lock()
			gate.Unlock()
			waiting.Add(-1)
			return next(ctx, id, buf)
		}
	}
	nodes := startNetwork(t, 4, nodeOpts{maxReads: 1, readHook: hook})
	p := newPerson(t, nodes...)
	data := bytes.Repeat([]byte("bulk"), 200_000)
	m, err := p.client.Put(context.Background(), bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := m.Shards[0].ID
	h := holdersOf(nodes, id)[0]

	open := sealOpen(t, p, KindBulk)
	s := bulkStream(t, p, h, open)
	if st, b := ask(t, s, id); st != BulkOK || IDOf(b) != id {
		t.Fatalf("read: status %d, %d bytes", st, len(b))
	}
	if st, _ := ask(t, s, ID{1}); st != BulkNotFound {
		t.Fatalf("unknown shard: status %d", st)
	}
	if st, b := ask(t, s, id); st != BulkOK || IDOf(b) != id {
		t.Fatalf("read after a miss: status %d", st)
	}

	t.Run("replayed opening denied", func(t *testing.T) {
		if st, _ := ask(t, bulkStream(t, p, h, open), id); st != BulkDenied {
			t.Fatalf("replay: status %d", st)
		}
	})
	t.Run("wrong kind denied", func(t *testing.T) {
		if st, _ := ask(t, bulkStream(t, p, h, sealOpen(t, p, KindRead)), id); st != BulkDenied {
			t.Fatalf("wrong kind: status %d", st)
		}
	})
	t.Run("busy names another holder", func(t *testing.T) {
		gate.Lock()
		first := bulkStream(t, p, h, sealOpen(t, p, KindBulk))
		if _, err := first.Write(id[:]); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for waiting.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("first read never started")
			}
			time.Sleep(5 * time.Millisecond)
		}
		st, b := ask(t, bulkStream(t, p, h, sealOpen(t, p, KindBulk)), id)
		gate.Unlock()
		if st != BulkBusy {
			t.Fatalf("at capacity: status %d", st)
		}
		next, ok, err := DecodeRedirect(b)
		if err != nil || !ok {
			t.Fatalf("redirect: %v %v", ok, err)
		}
		members, _ := RegistryMembers(h.reg).Members(context.Background())
		rank := Rank(id, members)
		rank = rank[:min(len(rank), 2*DefaultK)]
		found := false
		for _, r := range rank {
			found = found || (r.Key.Equal(next.Key) && r.Addr == next.Addr)
		}
		if !found || next.Key.Equal(h.pub()) {
			t.Fatalf("redirected to %s, not another candidate holder", next.Addr)
		}
		hdr := make([]byte, BulkHeaderSize)
		if _, err := io.ReadFull(first, hdr); err != nil {
			t.Fatal(err)
		}
		if st, n := ParseBulkHeader(hdr); st != BulkOK || n != m.Shards[0].Size {
			t.Fatalf("held read: status %d, %d bytes", st, n)
		}
	})
}

// TestOnAudit: every storage challenge of a scrub pass is reported, with
// the expected and observed proofs and the pass number; a holder with a
// flipped byte fails.
func TestOnAudit(t *testing.T) {
	var mu sync.Mutex
	var events []AuditEvent
	var auditor atomic.Pointer[ed25519.PublicKey]
	nodes := startNetwork(t, 3, nodeOpts{onAudit: func(by ed25519.PublicKey, e AuditEvent) {
		if a := auditor.Load(); a != nil && a.Equal(by) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	}})
	p := newPerson(t, nodes...)
	m, err := p.client.Put(context.Background(), bytes.NewReader(bytes.Repeat([]byte{7}, 1000)), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := m.Shards[0].ID
	hs := holdersOf(nodes, id)
	a := hs[0].pub()
	auditor.Store(&a)
	flipByte(t, hs[1], id)
	for pass := uint64(1); pass <= 2; pass++ {
		mu.Lock()
		events = nil
		mu.Unlock()
		hs[0].shard.Scrub(context.Background())
		mu.Lock()
		got := append([]AuditEvent(nil), events...)
		mu.Unlock()
		if len(got) != DefaultK-1 {
			t.Fatalf("pass %d: %d audit events, want %d", pass, len(got), DefaultK-1)
		}
		for _, e := range got {
			if e.Shard != id || e.Period != pass || e.Size != int64(m.Shards[0].Size) {
				t.Fatalf("pass %d: event %+v", pass, e)
			}
			bad := pass == 1 && e.Holder.Equal(hs[1].pub())
			if e.Passed == bad || (e.Expected == e.Observed) == bad {
				t.Fatalf("pass %d: holder %x passed=%v, expected %x observed %x", pass, e.Holder[:4], e.Passed, e.Expected[:4], e.Observed[:4])
			}
		}
	}
}
