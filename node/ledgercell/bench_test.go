package ledgercell

import (
	"context"
	"crypto/ed25519"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/monitor"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCertifiedTransfersQUIC runs the whole path over QUIC on
// 127.0.0.1 with four witness nodes in this process: owners sign sends,
// one client asks every witness for votes (requests merged per witness),
// witnesses check, persist (group commit, fsync) and sign, the client
// assembles certificates and pushes them until a quorum holds them. The
// latency is Certify's: time to a final certificate held by a quorum.
// The baseline in the same run is the cost of the Ed25519 operations the
// path cannot avoid, which bounds what this 2-core machine can do.
func BenchmarkCertifiedTransfersQUIC(b *testing.B) {
	for _, senders := range []int{8, 128, 512} {
		b.Run("senders="+itoa(senders), func(b *testing.B) { benchQUIC(b, senders, false) })
	}
	// A gateway's client (PushBehind): Certify returns at the certificate,
	// whose push rides on the next requests.
	for _, senders := range []int{128, 512} {
		b.Run("senders="+itoa(senders)+"/push=behind", func(b *testing.B) { benchQUIC(b, senders, true) })
	}
}

func itoa(i int) string {
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

func benchQUIC(b *testing.B, senders int, behind bool) {
	n := newTestNet(b, 0, senders+1)
	c := n.client(0)
	c.cfg.PushBehind = behind
	to := idOf(testKey("user", 0))
	fee := n.g.Params.TransferFee
	ctx := context.Background()

	// Baseline: the signature work one transfer needs at minimum.
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 32)
	sig := ed25519.Sign(priv, msg)
	t0 := time.Now()
	for range 200 {
		ed25519.Verify(pub, msg, sig)
	}
	verify := time.Since(t0) / 200
	t0 = time.Now()
	for range 200 {
		ed25519.Sign(priv, msg)
	}
	sign := time.Since(t0) / 200
	// Per transfer: 4 owner-signature checks and 4 vote signatures at the
	// witnesses, 3 vote checks at the client, 2 quorum checks at each of
	// 4 witnesses confirming (their own vote is trusted), plus 1 owner
	// signature: 19 verifications and 5 signatures, before any envelope.
	floor := 19*verify + 5*sign

	var mu sync.Mutex
	var lat []time.Duration
	per := (b.N + senders - 1) / senders
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	steal0, _ := monitor.HostSteal()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := testKey("user", s+1) // user 0 receives
			var seq uint64
			var prev ledger.Hash
			for range per {
				blk := ledger.NewBlock(n.g, key, seq, prev, &ledger.Send{To: to, Amount: 1, Fee: fee})
				t := time.Now()
				ct, err := c.Certify(ctx, blk)
				if err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				seq, prev = seq+1, ct.BlockHash()
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	steal1, _ := monitor.HostSteal()
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	if len(lat) == 0 {
		b.Fatal("nothing certified")
	}
	slices.Sort(lat)
	k := len(lat)
	rate := float64(k) / elapsed.Seconds()
	b.ReportMetric(rate, "transfers/s")
	// What the hypervisor took from the 2 cores meanwhile, as a share of
	// them: figures from a run with a high steal are the host's, not ours.
	b.ReportMetric((steal1-steal0).Seconds()/(2*elapsed.Seconds()), "host-steal-share")
	b.ReportMetric(float64(lat[k/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[k*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(k), "cpu-us/transfer")
	b.ReportMetric(float64(verify.Microseconds()), "ed25519-verify-us")
	// Everything the process allocated (4 witnesses, the client, QUIC),
	// per transfer: what the GC pays for.
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/1024/float64(k), "KB/transfer")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(k), "allocs/transfer")
	b.ReportMetric(2/floor.Seconds(), "sig-floor-2core-transfers/s")
	b.ReportMetric(rate/(2/floor.Seconds()), "ratio-to-sig-floor")
	b.ReportMetric(float64(c.stats.requests.Load())/float64(k), "requests/transfer")
	b.ReportMetric(float64(c.stats.blocks.Load())/float64(max(c.stats.requests.Load(), 1)), "blocks/request")
	b.ReportMetric(0, "ns/op")
}
