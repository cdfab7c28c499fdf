package crono

import "testing"

// BenchmarkNow is the cost of stamping an envelope.
func BenchmarkNow(b *testing.B) {
	c, _, _, t4 := syncedChild(b)
	l := t4
	for b.Loop() {
		l += 1000
		c.Now(l)
	}
}

// BenchmarkExchange is one full request, answer and response through the
// clock filter and the Kalman update: the CPU a parent and a child spend per
// poll.
func BenchmarkExchange(b *testing.B) {
	parent, _ := New(Config{Epoch: 1_700_000_000 * s})
	parent.SetRoot(0)
	child, _ := New(Config{Epoch: 1_700_000_000 * s})
	child.SetParent("p", 0)
	t := int64(0)
	for b.Loop() {
		t += s
		req := child.MakeRequest(t)
		resp := parent.Answer(req, t+2*ms, t+2*ms+us)
		if _, err := child.OnResponse(resp, t+4*ms); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
}
