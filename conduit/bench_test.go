package conduit

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkPageRender measures each page through the whole handler
// (Host, secret and idle checks, network status, templ, buffering) and
// reports p50 and p99 latency; the target is p99 under 20 ms. The static
// stylesheet through the same handler is the baseline: the cost of the
// security layer and routing alone.
func BenchmarkPageRender(b *testing.B) {
	s, err := New(Config{Network: StaticStatus{Health: HealthOK, Summary: "Connected to 3 nodes.", Peers: 3}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.ln.Close()
	h := s.Handler()
	host := "127.0.0.1:" + s.port
	cookie := &http.Cookie{Name: s.cookieName, Value: s.session}
	get := func(path string) *http.Request {
		r := httptest.NewRequest("GET", "http://"+host+path, nil)
		r.AddCookie(cookie)
		return r
	}
	if _, err := s.startCreate(); err != nil {
		b.Fatal(err)
	}
	locked := []string{"/welcome", "/welcome/restore", "/welcome/words", "/welcome/confirm", "/network", "/nope"}
	unlocked := []string{"/home", "/settings", "/network"}

	var baseline time.Duration
	measure := func(b *testing.B, path string, want int) time.Duration {
		lat := make([]time.Duration, 0, 1024)
		var size int
		for b.Loop() {
			w := httptest.NewRecorder()
			r := get(path)
			start := time.Now()
			h.ServeHTTP(w, r)
			lat = append(lat, time.Since(start))
			if w.Code != want {
				b.Fatalf("%s: status %d", path, w.Code)
			}
			size = w.Body.Len()
		}
		slices.Sort(lat)
		p50 := lat[len(lat)/2]
		p99 := lat[min(len(lat)-1, len(lat)*99/100)]
		b.SetBytes(int64(size))
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		if baseline > 0 {
			b.ReportMetric(float64(p50)/float64(baseline), "p50-x-static")
		}
		return p50
	}
	b.Run("baseline-static-css", func(b *testing.B) { baseline = measure(b, "/static/app.css", http.StatusOK) })
	for _, p := range locked {
		want := http.StatusOK
		if p == "/nope" {
			want = http.StatusNotFound
		}
		b.Run("locked"+p, func(b *testing.B) { measure(b, p, want) })
	}
	if _, err := s.vault.Unlock(testKeys(b)); err != nil {
		b.Fatal(err)
	}
	for _, p := range unlocked {
		b.Run("unlocked"+p, func(b *testing.B) { measure(b, p, http.StatusOK) })
	}
}
