package netclient

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/wire"
)

// clockSamples is how many exchanges one measurement takes; the one with
// the shortest round trip wins, as in NTP, because queueing only ever
// adds delay and makes the two directions unequal.
const clockSamples = 3

// ClockOffset is how far this computer's clock is from network time, as
// measured against one crono node.
type ClockOffset struct {
	// OffsetMs is network time minus this computer's clock.
	OffsetMs float64 `json:"offset_ms"`
	// RTTMs is the round trip of the sample used; the offset is uncertain
	// by up to half of it.
	RTTMs float64 `json:"rtt_ms"`
	// Node is the hex key of the crono node asked.
	Node string `json:"node"`
	// Synced says the node follows the network's time root (or is it);
	// an unsynced node's time is only its own guess.
	Synced  bool      `json:"synced"`
	Stratum int       `json:"stratum"`
	ErrorMs float64   `json:"error_ms"`
	At      time.Time `json:"at"`
}

// MeasureClock measures the offset between this computer's clock and
// network time with the best crono endpoint (failing over like Do), and
// keeps it for Status.
func (p *Pool) MeasureClock(ctx context.Context) (ClockOffset, error) {
	var out ClockOffset
	err := p.Do(ctx, netclock.DNA.Name, func(ctx context.Context, t cell.Target) error {
		best := ClockOffset{RTTMs: -1}
		for i := range clockSamples {
			o, err := p.clockSample(ctx, t, uint64(i+1))
			if err != nil {
				return err
			}
			if best.RTTMs < 0 || o.RTTMs < best.RTTMs {
				best = o
			}
		}
		out = best
		return nil
	})
	if err != nil {
		return ClockOffset{}, fmt.Errorf("netclient: measuring the clock: %w", err)
	}
	p.mu.Lock()
	p.clock = &out
	p.mu.Unlock()
	return out, nil
}

// clockSample is one NTP-style exchange. T1 is this computer's wall clock
// in ns (the node only echoes it); the round trip is measured on the
// monotonic clock so a clock step in between cannot distort it.
func (p *Pool) clockSample(ctx context.Context, t cell.Target, seq uint64) (ClockOffset, error) {
	start := time.Now()
	t1 := start.UnixNano()
	payload, err := wire.Marshal(crono.Request{Seq: seq, T1: t1})
	if err != nil {
		return ClockOffset{}, err
	}
	raw, err := p.anon.Call(ctx, t, netclock.DNA, netclock.KindSync, payload)
	rtt := time.Since(start)
	if err != nil {
		return ClockOffset{}, err
	}
	r, err := netclock.DecodeResponse(raw)
	if err != nil {
		return ClockOffset{}, cell.Errorf(cell.CodeBadAnswer, "%v", err)
	}
	if r.Seq != seq || r.T1 != t1 {
		return ClockOffset{}, cell.Errorf(cell.CodeBadAnswer, "time answer for another request")
	}
	t4 := t1 + rtt.Nanoseconds()
	off := ((r.T2 - t1) + (r.T3 - t4)) / 2
	return ClockOffset{
		OffsetMs: float64(off) / 1e6, RTTMs: float64(rtt.Microseconds()) / 1000,
		Node: hex.EncodeToString(t.Key), Synced: r.Synced, Stratum: int(r.Stratum),
		ErrorMs: float64(r.Error) / 1e6, At: time.Now(),
	}, nil
}
