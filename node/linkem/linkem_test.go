package linkem

import (
	"net"
	"testing"
	"time"
)

// echo is a UDP server answering every datagram with itself.
func echo(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, maxDatagram)
		for {
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(b[:n], from)
		}
	}()
	return c
}

func start(t testing.TB, cfg Config) (*Link, *net.UDPConn) {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return l, c
}

// The round trip through the link is never shorter than twice its delay
// (a lower bound: a loaded machine only adds to it).
func TestDelayBothWays(t *testing.T) {
	srv := echo(t)
	_, c := start(t, Config{Target: srv.LocalAddr().String(), Delay: 40 * time.Millisecond})
	buf := make([]byte, 100)
	for i := range 3 {
		start := time.Now()
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		n, err := c.Read(buf)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("echo %d: %v", i, err)
		}
		if rtt := time.Since(start); rtt < 80*time.Millisecond {
			t.Fatalf("round trip %v through a link of 40 ms each way", rtt)
		}
	}
}

// Past the rate, datagrams wait in the queue; past the queue, they are
// dropped. A burst far larger than the queue loses the excess, and what
// gets through takes at least as long as the rate allows.
func TestRateAndQueue(t *testing.T) {
	var got []int
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const size, rate, queue = 1000, 800_000, 20_000 // 100 kB/s, 20 datagrams of queue
	l, c := start(t, Config{Target: srv.LocalAddr().String(), Rate: rate, Queue: queue, Burst: size})
	p := make([]byte, size)
	start := time.Now()
	for i := range 200 {
		p[0], p[1] = byte(i), byte(i>>8)
		c.Write(p)
	}
	b := make([]byte, maxDatagram)
	for {
		srv.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := srv.ReadFromUDP(b)
		if err != nil {
			break
		}
		if n != size {
			t.Fatalf("datagram of %d bytes", n)
		}
		got = append(got, int(b[0])|int(b[1])<<8)
	}
	elapsed := time.Since(start) - 2*time.Second
	st := l.Stats()
	if st.UpQueueDrops == 0 || len(got) == 0 || len(got) >= 200 {
		t.Fatalf("%d of 200 delivered, stats %+v", len(got), st)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("reordered: %v", got)
		}
	}
	if min := time.Duration(float64((len(got)-1)*size) / (rate / 8) * float64(time.Second)); elapsed < min*9/10 {
		t.Fatalf("%d datagrams in %v, the rate allows no less than %v", len(got), elapsed, min)
	}
	t.Logf("%d of 200 delivered in %v; stats %+v", len(got), elapsed, st)
}

func TestLoss(t *testing.T) {
	srv := echo(t)
	l, c := start(t, Config{Target: srv.LocalAddr().String(), Loss: 0.5, Seed: 7})
	for range 400 {
		c.Write([]byte{1})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := l.Stats()
		if st.UpLossDrops+st.UpPackets == 400 && st.DownLossDrops+st.DownPackets == st.UpPackets {
			if st.UpLossDrops < 100 || st.UpLossDrops > 300 {
				t.Fatalf("%d of 400 lost at 50%%", st.UpLossDrops)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigChecked(t *testing.T) {
	for _, cfg := range []Config{{}, {Target: "127.0.0.1:1", Loss: 2}, {Target: "127.0.0.1:1", Rate: -1}} {
		if l, err := New(cfg); err == nil {
			l.Close()
			t.Fatalf("config %+v accepted", cfg)
		}
	}
	l, err := New(Config{Target: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// Routes share one link: two targets behind it get the rate of one link
// between them, not one each. The queue holds everything (no drops), so
// every datagram arrives, and all of them together take at least as long
// as one link's rate allows: twice what separate links would need.
func TestRoutesShareTheLink(t *testing.T) {
	const size, rate, each = 1000, 800_000, 40 // 100 kB/s; 80 kB in all: >= 0.8 s
	var srvs []*net.UDPConn
	for range 2 {
		s, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		srvs = append(srvs, s)
	}
	l, c0 := start(t, Config{Target: srvs[0].LocalAddr().String(), Rate: rate, Queue: 4 * each * size, Burst: size})
	r, err := l.Route(srvs[1].LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Route("127.0.0.1:1"); err == nil {
		t.Fatal("a route opened a route")
	}
	c1, err := net.DialUDP("udp", nil, r.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	got := make([]int, 2)
	done := make(chan struct{}, 2)
	for i, s := range srvs {
		go func() {
			defer func() { done <- struct{}{} }()
			b := make([]byte, maxDatagram)
			for got[i] < each {
				s.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, _, err := s.ReadFromUDP(b); err != nil {
					return
				}
				got[i]++
			}
		}()
	}
	p := make([]byte, size)
	start := time.Now()
	for range each {
		c0.Write(p)
		c1.Write(p)
	}
	<-done
	<-done
	elapsed := time.Since(start)
	st := l.Stats()
	if got[0] != each || got[1] != each || st.UpQueueDrops != 0 {
		t.Fatalf("delivered %v of %d each, stats %+v", got, each, st)
	}
	if min := time.Duration(float64((2*each-1)*size) / (rate / 8) * float64(time.Second)); elapsed < min*9/10 {
		t.Fatalf("%d datagrams through two routes in %v: one shared link allows no less than %v", 2*each, elapsed, min)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.conn.WriteToUDP(p, srvs[1].LocalAddr().(*net.UDPAddr)); err == nil {
		t.Fatal("route still open after its link closed")
	}
	t.Logf("delivered %v in %v; stats %+v", got, elapsed, st)
}
