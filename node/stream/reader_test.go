package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/shard"
)

func TestRangeRequests(t *testing.T) {
	t.Parallel()
	var busyRefused atomic.Int64
	busyNode := func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			busyRefused.Add(1)
			return buf, shard.ErrBusy
		}
	}
	_, v := startNetwork(t, 3, map[int]nodeMod{0: reads(busyNode)})
	p := newPerson(t, v, 3)
	// Not a multiple of the chunk size, so the last chunk is short.
	data, m := p.put(t, 5*shard.DefaultChunkSize+12345)
	f := p.fetcher(t, v, nil)
	srv := httptest.NewServer(f.Handler(func(r *http.Request) (*shard.Manifest, string, time.Time, error) {
		if r.URL.Path != "/video.mp4" {
			return nil, "", time.Time{}, errors.New("no such file")
		}
		return m, "video.mp4", time.Unix(1700000000, 0), nil
	}))
	defer srv.Close()
	size := int64(len(data))
	cs := int64(shard.DefaultChunkSize)
	cases := []struct {
		rng        string
		status     int
		start, end int64 // inclusive
	}{
		{"", 200, 0, size - 1},
		{"bytes=0-99", 206, 0, 99},
		{fmt.Sprintf("bytes=%d-%d", cs-10, 2*cs+10), 206, cs - 10, 2*cs + 10}, // crosses two boundaries
		{"bytes=-500", 206, size - 500, size - 1},
		{fmt.Sprintf("bytes=%d-", size-3), 206, size - 3, size - 1},
		{fmt.Sprintf("bytes=%d-%d", size-10, size+1000), 206, size - 10, size - 1},
		{fmt.Sprintf("bytes=%d-", size), 416, 0, 0},
		{fmt.Sprintf("bytes=%d-%d", size+5, size+10), 416, 0, 0},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", srv.URL+"/video.mp4", nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Fatalf("%q: status %d, want %d", c.rng, resp.StatusCode, c.status)
		}
		if c.status == 416 {
			continue
		}
		if want := data[c.start : c.end+1]; string(body) != string(want) {
			t.Fatalf("%q: %d bytes differ from [%d,%d]", c.rng, len(body), c.start, c.end)
		}
		if c.status == 206 {
			if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size) {
				t.Fatalf("%q: Content-Range %q", c.rng, cr)
			}
		}
		if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
			t.Fatalf("Content-Type %q", ct)
		}
	}
	resp, err := http.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown file: %d", resp.StatusCode)
	}
	if busyRefused.Load() == 0 {
		t.Log("the busy holder ranked after the others for every chunk")
	}
}

func TestRangeReaderSeek(t *testing.T) {
	t.Parallel()
	_, v := startNetwork(t, 2, nil)
	p := newPerson(t, v, 2)
	data, m := p.put(t, 9*shard.DefaultChunkSize+7)
	rr, err := p.fetcher(t, v, func(c *Config) { c.ReadAhead = 2 }).Open(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	buf := make([]byte, 1000)
	for _, off := range []int64{int64(len(data)) / 2, 0, int64(len(data)) - 400, 3*shard.DefaultChunkSize - 1} {
		if _, err := rr.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		n, err := io.ReadFull(rr, buf)
		want := data[off:min(off+int64(len(buf)), int64(len(data)))]
		if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && n == len(want)) {
			t.Fatalf("read at %d: %d bytes, %v", off, n, err)
		}
		if string(buf[:n]) != string(want) {
			t.Fatalf("bytes at %d differ", off)
		}
	}
	if pos, _ := rr.Seek(-10, io.SeekEnd); pos != int64(len(data))-10 {
		t.Fatalf("seek from end: %d", pos)
	}
	rest, err := io.ReadAll(rr)
	if err != nil || string(rest) != string(data[len(data)-10:]) {
		t.Fatalf("tail: %d bytes, %v", len(rest), err)
	}
	// The whole file through the reader; the LRU stays bounded.
	rr.Seek(0, io.SeekStart)
	all, err := io.ReadAll(rr)
	if err != nil || string(all) != string(data) {
		t.Fatalf("whole file: %d bytes, %v", len(all), err)
	}
	rr.mu.Lock()
	cached := len(rr.chunks)
	rr.mu.Unlock()
	if cached > rr.limit+1 {
		t.Fatalf("%d chunks cached, limit %d", cached, rr.limit)
	}
}
