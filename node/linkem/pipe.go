package linkem

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// pipe is one direction of the link: a token bucket in front of a FIFO
// queue of bounded bytes, then a fixed delay. Every datagram's delivery
// time is computed when it arrives (the bucket and queue are FIFO, so the
// times only grow), and one goroutine delivers them in order.
type pipe struct {
	delay time.Duration
	rate  float64 // bytes per second; 0: unlimited
	burst float64 // bucket depth, bytes
	queue float64 // bytes allowed to wait for tokens
	loss  float64

	mu     sync.Mutex
	rng    *rand.Rand
	tat    time.Time // theoretical arrival time of the next byte (GCRA)
	items  []item    // waiting to be delivered, in order
	head   int
	wake   chan struct{}
	done   chan struct{}
	closed bool

	packets, bytes, qdrops, ldrops atomic.Uint64
}

type item struct {
	at      time.Time
	buf     *[]byte
	n       int
	deliver func([]byte)
}

func newPipe(cfg Config, seed uint64) *pipe {
	p := &pipe{delay: cfg.Delay, rate: cfg.Rate / 8, burst: float64(cfg.Burst), queue: float64(cfg.Queue), loss: cfg.Loss,
		rng: rand.New(rand.NewPCG(seed, seed>>1|1)), wake: make(chan struct{}, 1), done: make(chan struct{})}
	return p
}

// push admits a datagram of n bytes in *b at the current time or drops
// it (random loss, or the queue is full); deliver is called with it once
// it has crossed the link.
func (p *pipe) push(b *[]byte, n int, deliver func([]byte)) {
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		putBuf(b)
		return
	}
	if p.loss > 0 && p.rng.Float64() < p.loss {
		p.mu.Unlock()
		p.ldrops.Add(1)
		putBuf(b)
		return
	}
	depart := now
	if p.rate > 0 {
		// GCRA, the token bucket as a schedule: a datagram may leave when
		// the bucket holds its bytes, i.e. at tat - burst/rate, where tat
		// advances by n/rate per datagram. The wait in front of it is the
		// queue; past Queue bytes of wait, tail drop.
		tat := p.tat
		if tat.Before(now) {
			tat = now
		}
		tat = tat.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
		depart = tat.Add(-time.Duration(p.burst / p.rate * float64(time.Second)))
		if depart.Before(now) {
			depart = now
		}
		if wait := depart.Sub(now).Seconds() * p.rate; wait > p.queue {
			p.mu.Unlock()
			p.qdrops.Add(1)
			putBuf(b)
			return
		}
		p.tat = tat
	}
	p.items = append(p.items, item{at: depart.Add(p.delay), buf: b, n: n, deliver: deliver})
	first := len(p.items)-p.head == 1
	p.mu.Unlock()
	p.packets.Add(1)
	p.bytes.Add(uint64(n))
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// run delivers datagrams when their time comes.
func (p *pipe) run(wg *sync.WaitGroup) {
	defer wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []item
	for {
		p.mu.Lock()
		now := time.Now()
		batch = batch[:0]
		for p.head < len(p.items) && !p.items[p.head].at.After(now) {
			batch = append(batch, p.items[p.head])
			p.items[p.head] = item{}
			p.head++
		}
		if p.head == len(p.items) {
			p.items, p.head = p.items[:0], 0
		} else if p.head > 4096 && p.head*2 > len(p.items) {
			p.items = append(p.items[:0], p.items[p.head:]...)
			p.head = 0
		}
		var next time.Duration = -1
		if p.head < len(p.items) {
			next = p.items[p.head].at.Sub(now)
		}
		p.mu.Unlock()
		for _, it := range batch {
			it.deliver((*it.buf)[:it.n])
			putBuf(it.buf)
		}
		if len(batch) > 0 {
			continue
		}
		if next >= 0 {
			timer.Reset(next)
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (p *pipe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}
