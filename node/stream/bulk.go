package stream

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// session is one bulk stream to a holder: opened with one signed request,
// then one shard request at a time.
type session struct {
	s    *transport.Stream
	used time.Time
	hdr  [shard.BulkHeaderSize]byte
}

// sessions keeps idle bulk streams per holder, so a transfer signs one
// opening request per stream rather than one per piece, and transfers of
// the same Fetcher reuse each other's streams.
type sessions struct {
	mu    sync.Mutex
	idle  map[string][]*session // by holder key and address
	swept time.Time
}

// maxIdlePerHolder bounds the idle streams kept per holder.
const maxIdlePerHolder = 64

func holderKey(m shard.Member) string { return string(m.Key) + "@" + m.Addr }

func (p *sessions) get(m shard.Member) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := holderKey(m)
	l := p.idle[k]
	for len(l) > 0 {
		s := l[len(l)-1]
		l = l[:len(l)-1]
		if time.Since(s.used) < shard.BulkIdle {
			p.idle[k] = l
			return s
		}
		s.s.Close()
	}
	delete(p.idle, k)
	return nil
}

func (p *sessions) put(m shard.Member, s *session) {
	s.used = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*session{}
	}
	k := holderKey(m)
	if len(p.idle[k]) >= maxIdlePerHolder {
		s.s.Close()
		return
	}
	p.idle[k] = append(p.idle[k], s)
	if time.Since(p.swept) > shard.BulkIdle {
		// Streams to holders no longer asked would otherwise stay
		// until the holder's idle timeout and beyond on this side.
		p.swept = time.Now()
		for k, l := range p.idle {
			keep := l[:0]
			for _, s := range l {
				if time.Since(s.used) < shard.BulkIdle {
					keep = append(keep, s)
				} else {
					s.s.Close()
				}
			}
			if len(keep) == 0 {
				delete(p.idle, k)
			} else {
				p.idle[k] = keep
			}
		}
	}
}

// closeAll closes every idle stream.
func (p *sessions) closeAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, l := range idle {
		for _, s := range l {
			s.s.Close()
		}
	}
}

// drop closes every idle stream to m (it failed or restarted).
func (p *sessions) drop(m shard.Member) {
	p.mu.Lock()
	l := p.idle[holderKey(m)]
	delete(p.idle, holderKey(m))
	p.mu.Unlock()
	for _, s := range l {
		s.s.Close()
	}
}

// open starts a bulk stream to m with a freshly signed opening request.
// The stream outlives the request that opened it (it is pooled), so it
// runs under a background context; each request cancels it by reset.
func (f *Fetcher) open(ctx context.Context, m shard.Member) (*session, error) {
	c := f.cfg.Call
	env, err := wire.SealEnvelope(c.Key, wire.Header{Network: c.Network, Cell: shard.DNA.Name, Kind: shard.KindBulk, Time: c.Now()}, nil)
	if err != nil {
		return nil, fmt.Errorf("stream: seal bulk request: %w", err)
	}
	type opened struct {
		s   *transport.Stream
		err error
	}
	done := make(chan opened, 1)
	go func() {
		s, err := c.Transport.OpenStream(context.Background(), m.Addr, m.Key, shard.BulkProtocol)
		done <- opened{s, err}
	}()
	var o opened
	select {
	case o = <-done:
	case <-ctx.Done():
		go func() {
			if o := <-done; o.s != nil {
				o.s.Reset()
			}
		}()
		return nil, ctx.Err()
	}
	if o.err != nil {
		return nil, &cell.Error{Code: cell.CodeUnavailable, Message: o.err.Error()}
	}
	if _, err := o.s.Write(shard.AppendBulkOpen(nil, env.Bytes())); err != nil {
		o.s.Reset()
		return nil, &cell.Error{Code: cell.CodeUnavailable, Message: err.Error()}
	}
	f.opens.Add(1)
	return &session{s: o.s}, nil
}

// busyError is a holder at capacity, with the holder it suggests.
type busyError struct {
	holder string
	next   shard.Member
	hint   bool
}

func (e *busyError) Error() string {
	if e.hint {
		return fmt.Sprintf("holder %s busy; try %s", e.holder, e.next.Addr)
	}
	return fmt.Sprintf("holder %s busy", e.holder)
}

// holderError is a holder's non-OK bulk answer other than busy.
type holderError struct {
	status byte
	msg    string
}

func (e *holderError) Error() string { return fmt.Sprintf("holder answered %d: %s", e.status, e.msg) }

// errStale: a pooled stream the holder had already closed; the request
// is retried once on a fresh stream.
var errStale = errors.New("stream: pooled bulk stream closed")

// bulkRead asks m for piece ref over a pooled or fresh bulk stream and
// reads the sealed bytes into buf (whose capacity must hold ref.Size).
// The holder's declared length must equal the manifest's size before a
// byte of the body is read, so no holder makes us read or allocate more.
func (f *Fetcher) bulkRead(ctx context.Context, m shard.Member, ref shard.ShardRef, buf []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		s := f.sess.get(m)
		fresh := s == nil
		if fresh {
			var err error
			if s, err = f.open(ctx, m); err != nil {
				return nil, err
			}
		}
		data, err := f.request(ctx, s, m, ref, buf, fresh)
		if errors.Is(err, errStale) && attempt == 0 {
			continue
		}
		return data, err
	}
}

func (f *Fetcher) request(ctx context.Context, s *session, m shard.Member, ref shard.ShardRef, buf []byte, fresh bool) ([]byte, error) {
	stop := context.AfterFunc(ctx, s.s.Reset)
	keep := false
	defer func() {
		if !stop() || !keep {
			s.s.Reset()
			return
		}
		f.sess.put(m, s)
	}()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !fresh {
			f.sess.drop(m)
			return fmt.Errorf("%w: %v", errStale, err)
		}
		return &cell.Error{Code: cell.CodeUnavailable, Message: err.Error()}
	}
	if _, err := s.s.Write(ref.ID[:]); err != nil {
		return nil, fail(err)
	}
	data, err := readBulkAnswer(s.s, s.hdr[:], ref, buf)
	var ioe *ioError
	switch {
	case errors.As(err, &ioe) && !ioe.body:
		return nil, fail(ioe.err)
	case errors.As(err, &ioe):
		return nil, &cell.Error{Code: cell.CodeUnavailable, Message: ioe.err.Error()}
	case err == nil:
		keep = true
		return data, nil
	}
	var be *busyError
	var he *holderError
	switch {
	case errors.As(err, &be):
		keep = true
		be.holder = m.Addr
		return nil, be
	case errors.As(err, &he) && he.status == shard.BulkNotFound:
		keep = true
		return nil, &cell.Error{Code: cell.CodeNotFound, Message: he.msg}
	case errors.As(err, &he) && he.status == shard.BulkDenied:
		return nil, &cell.Error{Code: cell.CodeBadRequest, Message: he.msg}
	case errors.As(err, &he):
		keep = he.status == shard.BulkError
		return nil, &cell.Error{Code: cell.CodeInternal, Message: he.msg}
	}
	return nil, fmt.Errorf("holder %s: %w", m.Addr, err)
}

// ioError is a stream failure while reading an answer; body says whether
// the header had arrived.
type ioError struct {
	err  error
	body bool
}

func (e *ioError) Error() string { return e.err.Error() }

// readBulkAnswer reads one answer to a request for ref from r into buf
// (capacity at least ref.Size). The declared length of a shard must equal
// the manifest's size before any of it is read, and a note is bounded, so
// no holder makes the reader read or allocate more than the manifest
// says. It returns the shard bytes, or a *busyError, *holderError,
// *ioError, or ErrBadPiece / ErrMalformed.
func readBulkAnswer(r io.Reader, hdr []byte, ref shard.ShardRef, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, hdr[:shard.BulkHeaderSize]); err != nil {
		return nil, &ioError{err: err}
	}
	status, n := shard.ParseBulkHeader(hdr)
	if status == shard.BulkOK {
		if n != ref.Size || cap(buf) < int(n) {
			return nil, fmt.Errorf("%w: declares %d bytes, manifest says %d", ErrBadPiece, n, ref.Size)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, &ioError{err: err, body: true}
		}
		return buf, nil
	}
	if n > shard.MaxBulkNote {
		return nil, fmt.Errorf("%w: %d-byte note", ErrMalformed, n)
	}
	note := make([]byte, n)
	if _, err := io.ReadFull(r, note); err != nil {
		return nil, &ioError{err: err, body: true}
	}
	switch status {
	case shard.BulkBusy:
		next, ok, err := shard.DecodeRedirect(note)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return nil, &busyError{next: next, hint: ok}
	case shard.BulkNotFound, shard.BulkDenied, shard.BulkError:
		return nil, &holderError{status: status, msg: string(note)}
	}
	return nil, fmt.Errorf("%w: status %d", ErrMalformed, status)
}

// DeliveryEvent is one shard answer a transfer received from a holder,
// verified or not (the ledger's bandwidth rewards, and evidence against
// a holder that serves bad bytes).
type DeliveryEvent struct {
	Holder ed25519.PublicKey
	Shard  shard.ID
	// Bytes is the number of shard bytes received.
	Bytes int64
	// Expected is the shard ID in the manifest; Observed the SHA-256 of
	// the bytes received. They are equal for a good delivery (bytes that
	// authenticate under the file key are the named shard, and are not
	// hashed again: see fetchChunk).
	Expected, Observed [32]byte
	// Request numbers the Fetcher's requests (1, 2, ...).
	Request uint64
}

func (f *Fetcher) delivered(m shard.Member, ref shard.ShardRef, data []byte, got shard.ID, req uint64) shard.ID {
	if f.cfg.OnDelivery != nil {
		f.cfg.OnDelivery(DeliveryEvent{Holder: m.Key, Shard: ref.ID, Bytes: int64(len(data)), Expected: ref.ID, Observed: got, Request: req})
	}
	return got
}
