package stream

import (
	"time"

	"github.com/borgios/borgios/node/shard"
)

// holder is one source's congestion and health state within a transfer.
// The window grows by one piece per answer in slow start and by one per
// window afterwards; a timeout or failure halves it, and a round trip
// inflated well past the best seen (queueing at the holder or on the path)
// shrinks it by a quarter, at most once per round trip.
type holder struct {
	m        shard.Member
	cwnd     float64
	ssthresh float64
	inflight int

	srtt, rttvar, minRTT time.Duration
	lastCut              time.Time

	banned    bool      // served bytes that failed verification
	downUntil time.Time // unreachable or busy: skip until then
	fails     int       // consecutive failures, for the backoff

	delivered  int
	lastAnswer time.Time // the holder's latest answer, for the progress test in expire
}

// minDelayWindow is the window the delay signal never cuts below.
const minDelayWindow = 8

// queueTarget is how many pieces (256 KiB each by default) a holder's
// window may keep queued beyond its round trip before it stops growing:
// 3 MiB, enough that a path's sender never runs dry between answers.
var queueTarget = 12.0

func newHolder(m shard.Member, initial float64) *holder {
	return &holder{m: m, cwnd: initial, ssthresh: 1 << 20}
}

// usable reports whether the holder may get another request now.
func (h *holder) usable(now time.Time, maxWin int) bool {
	return !h.banned && !now.Before(h.downUntil) && h.inflight < min(int(h.cwnd), maxWin)
}

// cost is the expected wait for one more piece: queue length over the
// holder's observed piece rate (window per round trip).
func (h *holder) cost() float64 {
	rtt := h.srtt
	if rtt == 0 {
		rtt = 50 * time.Millisecond
	}
	return float64(h.inflight+1) * rtt.Seconds() / max(h.cwnd, 1)
}

func (h *holder) onAnswer(rtt time.Duration, now time.Time, maxWin int) {
	h.fails = 0
	h.delivered++
	h.lastAnswer = now
	if h.srtt == 0 {
		h.srtt, h.rttvar, h.minRTT = rtt, rtt/2, rtt
	} else {
		d := h.srtt - rtt
		if d < 0 {
			d = -d
		}
		h.rttvar = (3*h.rttvar + d) / 4
		h.srtt = (7*h.srtt + rtt) / 8
		h.minRTT = min(h.minRTT, rtt)
	}
	// The delay signal only trims big windows: on a busy CPU round trips
	// inflate without any link queue, and a small window there only
	// starves the transfer.
	if h.cwnd > minDelayWindow && h.srtt > 4*h.minRTT && h.srtt > h.minRTT+100*time.Millisecond && now.Sub(h.lastCut) > h.srtt {
		h.cwnd = max(minDelayWindow, h.cwnd*0.75)
		h.ssthresh = h.cwnd
		h.lastCut = now
		return
	}
	// Vegas: the window beyond the fastest round trip seen is pieces
	// waiting in a queue (the holder's link, or on loopback its CPU);
	// past queueTarget of them a bigger window only adds streams that
	// QUIC must serve round-robin (15% more CPU per byte at 64 than at 16
	// on loopback) and memory, not throughput.
	if queued := h.cwnd * float64(h.srtt-h.minRTT) / float64(h.srtt); queued > queueTarget {
		return
	}
	if h.cwnd < h.ssthresh {
		h.cwnd++
	} else {
		h.cwnd += 1 / h.cwnd
	}
	h.cwnd = min(h.cwnd, float64(maxWin))
}

// onLoss is a timeout or a failed request: halve the window.
func (h *holder) onLoss(now time.Time) {
	h.ssthresh = max(1, h.cwnd/2)
	h.cwnd = h.ssthresh
	h.lastCut = now
}

// onDown backs the holder off exponentially (200 ms doubling to 5 s).
func (h *holder) onDown(now time.Time) {
	h.fails++
	d := 200 * time.Millisecond << min(h.fails-1, 5)
	h.downUntil = now.Add(min(d, 5*time.Second))
}

// timeout is how long a request to this holder may take before the piece
// is asked of another: a multiple of the smoothed round trip plus its
// variance (which already include the holder's queue), within bounds.
func (h *holder) timeout(lo, hi, unknown time.Duration) time.Duration {
	if h.srtt == 0 {
		return unknown
	}
	return min(hi, max(lo, 2*(h.srtt+4*h.rttvar)))
}
