package shard

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// The bulk read protocol moves shard bytes without a signature per
// answer. Shards are content-addressed: a reader holds the owner-signed
// manifest and checks every shard's size and SHA-256 against it, so a
// signed answer proves nothing the hash does not, while signing and
// verifying 256 KiB answers cost more than moving them.
//
// A reader opens a stream with protocol BulkProtocol and sends one frame
// (big-endian u32 length, then the bytes): a signed envelope for this
// cell, kind KindBulk, which goes through the node's one Verify
// (signature, network, freshness, replay) exactly like a receptor request.
// It then sends requests of 32 bytes each (a shard ID) and reads, per
// request and in order, a 5-byte header (status, big-endian u32 length)
// and that many bytes: the shard on BulkOK, an encoded Redirect on
// BulkBusy, a short text otherwise. A reader that wants pieces from one
// holder in parallel opens several streams; each carries one request at a
// time, so a cancelled request costs one stream, not the others.
const (
	BulkProtocol = "shard/1/bulk"
	KindBulk     = "bulk"
)

// Bulk answer statuses.
const (
	BulkOK       byte = 0
	BulkNotFound byte = 1 // not held here (or dropped as corrupt)
	BulkBusy     byte = 2 // at capacity: try the Redirect's holder
	BulkDenied   byte = 3 // the opening request did not verify; the stream ends
	BulkError    byte = 4 // the holder could not read it
)

// BulkHeaderSize is the size of an answer header.
const BulkHeaderSize = 5

// MaxBulkOpen bounds the opening envelope; MaxBulkNote bounds a non-OK
// answer's body, so neither side allocates more on the other's word.
const (
	MaxBulkOpen = 4096
	MaxBulkNote = 1024
)

// bulkIdle is how long a holder keeps an idle bulk stream open; readers
// drop their idle streams well before.
const bulkIdle = 30 * time.Second

// BulkIdle is how long a reader may keep a bulk stream idle and still
// expect the holder to answer on it.
const BulkIdle = bulkIdle / 2

// bulkOpenTimeout bounds the wait for the opening request.
const bulkOpenTimeout = 10 * time.Second

// Redirect names a holder to try instead of a busy one.
type Redirect struct {
	Key  []byte `cbor:"1,keyasint"`
	Addr string `cbor:"2,keyasint"`
}

// DecodeRedirect decodes a BulkBusy answer's body; an empty body is a
// busy answer without a suggestion.
func DecodeRedirect(b []byte) (Member, bool, error) {
	if len(b) == 0 {
		return Member{}, false, nil
	}
	if len(b) > MaxBulkNote {
		return Member{}, false, fmt.Errorf("%w: redirect of %d bytes", ErrMalformed, len(b))
	}
	var r Redirect
	if err := wire.Unmarshal(b, &r); err != nil {
		return Member{}, false, fmt.Errorf("%w: redirect: %v", ErrMalformed, err)
	}
	if len(r.Key) != 32 || r.Addr == "" || len(r.Addr) > 256 {
		return Member{}, false, fmt.Errorf("%w: redirect fields", ErrMalformed)
	}
	return Member{Key: r.Key, Addr: r.Addr}, true, nil
}

// AppendBulkHeader appends an answer header.
func AppendBulkHeader(dst []byte, status byte, n int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, status), uint32(n))
}

// ParseBulkHeader splits an answer header.
func ParseBulkHeader(h []byte) (status byte, n uint32) {
	return h[0], binary.BigEndian.Uint32(h[1:BulkHeaderSize])
}

// AppendBulkOpen appends the opening frame around a sealed envelope.
func AppendBulkOpen(dst, env []byte) []byte {
	return append(binary.BigEndian.AppendUint32(dst, uint32(len(env))), env...)
}

// ErrBusy is a read refused at capacity. A ReadHook that throttles
// returns it (wrapped or not), and the reader is answered "busy" with
// another holder to try, as at the MaxReads limit.
var ErrBusy = errors.New("shard: at capacity")

// acquireRead takes one of the node's concurrent-read slots, or fails at
// capacity.
func (c *Cell) acquireRead() bool {
	if c.cfg.MaxReads <= 0 {
		c.reads.Add(1)
		return true
	}
	if c.reads.Add(1) > int64(c.cfg.MaxReads) {
		c.reads.Add(-1)
		c.m.busy.Inc()
		return false
	}
	return true
}

func (c *Cell) releaseRead() { c.reads.Add(-1) }

// Reads is how many shard reads this node is serving now.
func (c *Cell) Reads() int { return int(c.reads.Load()) }

// redirect picks another holder of id to send a reader to: the shard's
// other top-2k candidates in turn (round robin, so the readers a busy
// node turns away spread over all of them rather than piling on one),
// never this node nor the reader itself.
func (c *Cell) redirect(ctx context.Context, id ID, reader []byte) (Member, bool) {
	members, err := c.cfg.Members.Members(ctx)
	if err != nil {
		return Member{}, false
	}
	rank := Rank(id, members)
	rank = rank[:min(len(rank), 2*c.cfg.K)]
	var others []Member
	for _, m := range rank {
		if !m.Key.Equal(c.self) && string(m.Key) != string(reader) {
			others = append(others, m)
		}
	}
	if len(others) == 0 {
		return Member{}, false
	}
	return others[int(c.turn.Add(1)%uint64(len(others)))], true
}

var bulkBufs = sync.Pool{New: func() any { b := make([]byte, 0, DefaultChunkSize+Overhead); return &b }}

// serveBulk serves one bulk stream: one verified opening request, then
// shard reads until the reader closes it or it stays idle.
func (c *Cell) serveBulk(ctx context.Context, peer transport.Peer, s *transport.Stream) {
	br := bufio.NewReaderSize(s, 4096)
	deny := func(msg string) {
		if len(msg) > MaxBulkNote {
			msg = msg[:MaxBulkNote]
		}
		s.SetWriteDeadline(time.Now().Add(5 * time.Second))
		s.Write(append(AppendBulkHeader(nil, BulkDenied, len(msg)), msg...))
	}
	s.SetReadDeadline(time.Now().Add(bulkOpenTimeout))
	var lenb [4]byte
	if _, err := io.ReadFull(br, lenb[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(lenb[:])
	if n == 0 || n > MaxBulkOpen {
		deny(fmt.Sprintf("opening request of %d bytes", n))
		return
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(br, raw); err != nil {
		return
	}
	env, err := c.cfg.Host.Verifier.Verify(raw)
	if err != nil {
		c.m.refused.WithLabelValues(string(cell.CodeBadRequest)).Inc()
		deny(err.Error())
		return
	}
	if env.Cell != DNA.Name || env.Kind != KindBulk {
		deny(fmt.Sprintf("opening request for %s/%s, want %s/%s", env.Cell, env.Kind, DNA.Name, KindBulk))
		return
	}
	reader := []byte(env.Sender)
	var id ID
	hdr := make([]byte, 0, BulkHeaderSize)
	for {
		s.SetReadDeadline(time.Now().Add(bulkIdle))
		if _, err := io.ReadFull(br, id[:]); err != nil {
			return
		}
		s.SetReadDeadline(time.Time{})
		if err := c.answerBulk(ctx, s, id, reader, hdr); err != nil {
			return
		}
	}
}

func (c *Cell) answerBulk(ctx context.Context, s *transport.Stream, id ID, reader, hdr []byte) error {
	busy := func() error {
		var body []byte
		if m, ok := c.redirect(ctx, id, reader); ok {
			body, _ = wire.Marshal(Redirect{Key: m.Key, Addr: m.Addr})
		}
		_, err := s.Write(append(AppendBulkHeader(hdr, BulkBusy, len(body)), body...))
		return err
	}
	if !c.acquireRead() {
		return busy()
	}
	defer c.releaseRead()
	bp := bulkBufs.Get().(*[]byte)
	defer bulkBufs.Put(bp)
	data, err := c.read(ctx, id, (*bp)[:0])
	if cap(data) > cap(*bp) {
		*bp = data[:0]
	}
	if err != nil {
		status, msg := BulkError, "the node could not read this shard; try another node"
		switch {
		case errors.Is(err, ErrBusy):
			return busy()
		case errors.Is(err, ErrNotFound):
			status, msg = BulkNotFound, "not held here"
		case errors.Is(err, ErrCorrupt):
			status, msg = BulkNotFound, "local copy corrupt; dropped"
			c.corrupt(id)
		default:
			c.log.Error("bulk read failed", "shard", id.Short(), "err", err)
		}
		_, err := s.Write(append(AppendBulkHeader(hdr, status, len(msg)), msg...))
		return err
	}
	c.m.served.Inc()
	// Header and shard as two writes: the stream copies into its frames
	// either way, and joining them would cost a 256 KiB copy.
	if _, err := s.Write(AppendBulkHeader(hdr, BulkOK, len(data))); err != nil {
		return err
	}
	_, err = s.Write(data)
	return err
}
