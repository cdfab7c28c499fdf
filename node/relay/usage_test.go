package relay

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
)

// TestRelayUsageAndMetrics: the bytes a relay carries are counted per
// client by full key, in Usage, Status and the Prometheus metrics alike,
// and the count outlives the client's registration.
func TestRelayUsageAndMetrics(t *testing.T) {
	r, b, n, d := newNode(t, true), newNode(t, false), newNode(t, false), newNode(t, false)
	reg := prometheus.NewRegistry()
	if err := r.svc.registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	addr := relayed(t, r, b, n)
	big := bytes.Repeat([]byte("y"), 256<<10)
	if _, err := d.tr.Request(ctxT(t, 60*time.Second), addr, n.pub(), "echo", big); err != nil {
		t.Fatal(err)
	}
	use := r.svc.Usage()
	if len(use) != 1 || !use[0].Client.Equal(n.pub()) || use[0].Bytes < 2*uint64(len(big)) || use[0].Tunnels != 1 {
		t.Fatalf("usage %+v, want %x with >= %d bytes in 1 tunnel", use, n.pub()[:8], 2*len(big))
	}
	st := r.svc.Status()
	if st.Clients[hex.EncodeToString(n.pub())] < use[0].Bytes {
		t.Fatalf("status clients %v, usage %d", st.Clients, use[0].Bytes)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	reach := -1.0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "borgios_relay_client_bytes_total":
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == hex.EncodeToString(n.pub()) {
					got = m.GetCounter().GetValue()
				}
			}
		case "borgios_nat_reachability":
			reach = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if got < float64(2*len(big)) || reach != float64(registry.ReachPublic) {
		t.Fatalf("metrics: client bytes %v reach %v", got, reach)
	}
	// The client's renewal carries its own signed count: a receipt.
	if _, err := n.svc.registerWith(ctxT(t, 30*time.Second), r.target()); err != nil {
		t.Fatal(err)
	}
	use = r.svc.Usage()
	if use[0].Acked < 2*uint64(len(big)) {
		t.Fatalf("client acknowledged %d bytes, want >= %d (relay counted %d)", use[0].Acked, 2*len(big), use[0].Bytes)
	}
	rc, err := VerifyReceipt(network, use[0].Receipt)
	if err != nil || !rc.Client.Equal(n.pub()) || !rc.Relay.Equal(r.pub()) || rc.Carried != use[0].Acked {
		t.Fatalf("receipt %+v (%v), want %d bytes from %x for %x", rc, err, use[0].Acked, n.pub()[:8], r.pub()[:8])
	}
	t.Logf("relay counted %d bytes, client signed for %d", use[0].Bytes, use[0].Acked)
	// The client's registration goes (as expireLocked drops it once it
	// stops renewing and its tunnels end); its usage stays payable.
	r.svc.mu.Lock()
	clear(r.svc.clients)
	r.svc.mu.Unlock()
	if use2 := r.svc.Usage(); len(use2) != 1 || use2[0].Bytes < use[0].Bytes {
		t.Fatalf("usage after expiry %+v", use2)
	}
}

// TestAutoPunch: after a relayed dial, a node that knows its own address
// tries a direct path by itself, and requests then take it.
func TestAutoPunch(t *testing.T) {
	r, b, n, d := newNode(t, true), newNode(t, false), newNode(t, false), newNode(t, false)
	addr := relayed(t, r, b, n)
	if res, err := d.svc.Detect(ctxT(t, 60*time.Second), []cell.Target{b.target()}); err != nil || res.Reach != registry.ReachPublic {
		t.Fatalf("detect: %+v %v", res, err)
	}
	if _, err := d.tr.Request(ctxT(t, 60*time.Second), addr, n.pub(), "echo", []byte("via relay")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for d.svc.Status().Direct[addr] == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no direct path within 60s: %+v", d.svc.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := d.svc.Status(); st.Direct[addr] != n.tr.LocalAddr().String() || st.PunchDirect != 1 {
		t.Fatalf("status %+v, want direct %s", st, n.tr.LocalAddr())
	}
	before := r.svc.Status().RelayedBytes
	if _, err := d.tr.Request(ctxT(t, 60*time.Second), addr, n.pub(), "echo", bytes.Repeat([]byte("z"), 64<<10)); err != nil {
		t.Fatal(err)
	}
	if after := r.svc.Status().RelayedBytes; after-before > 16<<10 {
		t.Fatalf("64 KiB request after the punch still crossed the relay (%d bytes)", after-before)
	}
}
