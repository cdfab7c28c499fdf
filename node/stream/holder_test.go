package stream

import (
	"testing"
	"time"

	"github.com/borgios/borgios/node/shard"
)

// The window grows while answers come back as fast as the best round
// trip (a long path that is not full yet), and stops growing once the
// round trip says pieces are queueing (a path that is full): the stop is
// what keeps a loopback transfer at a few streams instead of 64.
func TestWindowStopsWhenQueueing(t *testing.T) {
	now := time.Now()
	h := newHolder(shard.Member{Addr: "h"}, 16)
	for range 100 {
		h.onAnswer(70*time.Millisecond, now, 64)
	}
	if h.cwnd != 64 {
		t.Fatalf("window %v on an empty path, want the cap 64", h.cwnd)
	}
	h = newHolder(shard.Member{Addr: "h"}, 16)
	h.onAnswer(10*time.Millisecond, now, 64)
	for range 200 {
		// Every piece in the window is ahead of the next one: the round
		// trip grows with the window, as on a saturated link.
		h.onAnswer(time.Duration(h.cwnd)*time.Millisecond, now, 64)
	}
	if h.cwnd >= 40 {
		t.Fatalf("window grew to %v while every added piece only queued", h.cwnd)
	}
	if h.cwnd < 16 {
		t.Fatalf("window %v fell below where it started", h.cwnd)
	}
}
