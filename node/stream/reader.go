package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/borgios/borgios/node/shard"
)

// RangeReader reads a stored file at any offset, fetching only the chunks
// touched plus ReadAhead chunks after them, and keeps recently used
// decrypted chunks in a small LRU, so http.ServeContent can answer Range
// requests (a video starts and seeks without the whole download). It is an
// io.ReadSeeker and an io.ReaderAt; Read and Seek are for one goroutine,
// ReadAt is safe for concurrent use.
type RangeReader struct {
	f     *Fetcher
	m     *shard.Manifest
	key   [32]byte
	ctx   context.Context
	stop  context.CancelFunc
	off   int64
	limit int // chunks kept

	mu      sync.Mutex
	members []shard.Member
	fetched time.Time
	chunks  map[int]*chunk
	tick    int64
	down    map[string]time.Time // holder key -> skip until
}

type chunk struct {
	ready chan struct{}
	data  []byte
	err   error
	used  int64
}

// Open returns a RangeReader for m. ctx bounds every fetch it makes; Close
// stops them.
func (f *Fetcher) Open(ctx context.Context, m *shard.Manifest) (*RangeReader, error) {
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	return &RangeReader{f: f, m: m, key: shard.FileKey(f.cfg.FileRoot, m.FileID), ctx: ctx, stop: stop,
		limit: 2*f.cfg.ReadAhead + 4, chunks: map[int]*chunk{}, down: map[string]time.Time{}}, nil
}

// Size is the file's plaintext size.
func (r *RangeReader) Size() int64 { return r.m.Size }

// Close stops every fetch in flight.
func (r *RangeReader) Close() error {
	r.stop()
	return nil
}

// Seek implements io.Seeker.
func (r *RangeReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.m.Size
	default:
		return 0, fmt.Errorf("stream: seek whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("stream: seek to %d", offset)
	}
	r.off = offset
	return offset, nil
}

// Read implements io.Reader.
func (r *RangeReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (r *RangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("stream: read at %d", off)
	}
	n := 0
	cs := int64(r.m.ChunkSize)
	for n < len(p) {
		if off >= r.m.Size {
			return n, io.EOF
		}
		i := int(off / cs)
		data, err := r.chunk(i)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], data[off-int64(i)*cs:])
		n += c
		off += int64(c)
	}
	return n, nil
}

// chunk returns chunk i's plaintext, waiting for its fetch, and starts
// the read-ahead after it.
func (r *RangeReader) chunk(i int) ([]byte, error) {
	r.mu.Lock()
	c := r.start(i)
	for j := i + 1; j <= i+r.f.cfg.ReadAhead && j < len(r.m.Shards); j++ {
		r.start(j)
	}
	r.evict(i)
	r.mu.Unlock()
	select {
	case <-c.ready:
	case <-r.ctx.Done():
		return nil, ErrClosed
	}
	if c.err != nil {
		// Forget a failure so a later read tries again.
		r.mu.Lock()
		if r.chunks[i] == c {
			delete(r.chunks, i)
		}
		r.mu.Unlock()
		return nil, c.err
	}
	return c.data, nil
}

// start returns chunk i's entry, launching its fetch if there is none.
// r.mu is held.
func (r *RangeReader) start(i int) *chunk {
	r.tick++
	if c, ok := r.chunks[i]; ok {
		c.used = r.tick
		return c
	}
	c := &chunk{ready: make(chan struct{}), used: r.tick}
	r.chunks[i] = c
	go func() {
		c.data, c.err = r.fetch(i)
		close(c.ready)
	}()
	return c
}

// evict drops the least recently used finished chunks beyond the limit,
// never the window [i, i+ReadAhead] being read.
func (r *RangeReader) evict(i int) {
	for len(r.chunks) > r.limit {
		victim, oldest := -1, int64(0)
		for j, c := range r.chunks {
			if j >= i && j <= i+r.f.cfg.ReadAhead {
				continue
			}
			select {
			case <-c.ready:
			default:
				continue
			}
			if victim < 0 || c.used < oldest {
				victim, oldest = j, c.used
			}
		}
		if victim < 0 {
			return
		}
		delete(r.chunks, victim)
	}
}

// fetch reads chunk i from its holders in HRW order, skipping holders
// that recently failed or said they are busy.
func (r *RangeReader) fetch(i int) ([]byte, error) {
	var errs []error
	for round := 0; round < r.f.cfg.Rounds; round++ {
		members, err := r.view(round > 0)
		if err != nil {
			return nil, err
		}
		rank := shard.Rank(r.m.Shards[i].ID, members)
		rank = rank[:min(2*r.f.cfg.K, len(rank))]
		// Holders not marked down first, the others after them.
		now := time.Now()
		r.mu.Lock()
		var order, later []shard.Member
		for _, h := range rank {
			if now.Before(r.down[string(h.Key)]) {
				later = append(later, h)
			} else {
				order = append(order, h)
			}
		}
		r.mu.Unlock()
		queue := append(order, later...)
		for q := 0; q < len(queue); q++ {
			h := queue[q]
			ctx, cancel := context.WithTimeout(r.ctx, r.f.cfg.MaxTimeout)
			plain, buf, err := r.f.fetchChunk(ctx, r.m, &r.key, i, h)
			cancel()
			if err == nil {
				out := make([]byte, len(plain))
				copy(out, plain)
				r.f.putBuf(buf)
				return out, nil
			}
			if r.ctx.Err() != nil {
				return nil, ErrClosed
			}
			errs = append(errs, err)
			skip := 5 * time.Second
			if busy(err) {
				// A holder at capacity redirects us: try the holder it
				// names next (or the next one in line) and come back to
				// it a little later.
				skip = time.Second
				var be *busyError
				if errors.As(err, &be) && be.hint && len(queue) < 4*r.f.cfg.K {
					queue = slices.Insert(queue, q+1, be.next)
				}
			}
			r.mu.Lock()
			r.down[string(h.Key)] = time.Now().Add(skip)
			r.mu.Unlock()
		}
		t := time.NewTimer(min(250*time.Millisecond<<round, 5*time.Second))
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, ErrClosed
		}
	}
	return nil, fmt.Errorf("stream: chunk %d: %w: %w", i, ErrUnavailable, errors.Join(errs...))
}

func (r *RangeReader) view(refresh bool) ([]shard.Member, error) {
	r.mu.Lock()
	ms := r.members
	stale := ms == nil || (refresh && time.Since(r.fetched) > time.Second)
	r.mu.Unlock()
	if !stale {
		return ms, nil
	}
	ms, err := r.f.cfg.Members.Members(r.ctx)
	if err != nil {
		return nil, fmt.Errorf("stream: membership: %w", err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("stream: %w", shard.ErrNoMembers)
	}
	r.mu.Lock()
	r.members, r.fetched = ms, time.Now()
	r.mu.Unlock()
	return ms, nil
}

// Lookup resolves an HTTP request to a stored file: its manifest, a name
// (its extension sets Content-Type) and modification time. An error
// answers 404.
type Lookup func(r *http.Request) (m *shard.Manifest, name string, modtime time.Time, err error)

// Handler serves the files lookup names with Range support
// (http.ServeContent: single and multiple ranges, suffix ranges, 416 past
// the end, If-Range and conditional requests).
func (f *Fetcher) Handler(lookup Lookup) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		m, name, mod, err := lookup(req)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		f.ServeFile(w, req, m, name, mod)
	})
}

// ServeFile answers req with the file of m.
func (f *Fetcher) ServeFile(w http.ResponseWriter, req *http.Request, m *shard.Manifest, name string, modtime time.Time) {
	rr, err := f.Open(req.Context(), m)
	if err != nil {
		http.Error(w, "bad manifest", http.StatusInternalServerError)
		return
	}
	defer rr.Close()
	// The manifest's hash is a strong validator of the content.
	sum := m.WholeSum()
	w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sum[:16]))
	w.Header().Set("Accept-Ranges", "bytes")
	http.ServeContent(w, req, name, modtime, rr)
}
