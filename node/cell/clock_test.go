package cell

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

var clockDNA = DNA{Name: "clocktest", MaxChildren: 2, Protocol: "clocktest/1", Version: 1}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen(t *testing.T, key ed25519.PrivateKey) *transport.Transport {
	t.Helper()
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func wallMs() int64 { return time.Now().UnixMilli() }

// startClockNode runs a real cell runtime whose clock is the wall clock,
// with an "echo" request.
func startClockNode(t *testing.T) Target {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	tr := listen(t, key)
	host := Host{Key: key, Network: "test", Transport: tr, Verifier: wire.NewVerifier(wire.Config{Network: "test", Now: wallMs}), Now: wallMs, Logger: quietLog()}
	rt, err := Start(host, Type{
		DNA:      clockDNA,
		Tree:     peertree.Config{Heartbeat: 100 * time.Millisecond},
		Receptor: map[string]ReceptorFunc{"echo": func(_ context.Context, r *Request) ([]byte, error) { return r.Env.Payload, nil }},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return Target{Key: key.Public().(ed25519.PublicKey), Addr: tr.Addr().String()}
}

// clientAt is a client whose clock reads skew away from the wall clock,
// as on a laptop whose clock is wrong.
func clientAt(t *testing.T, skew time.Duration) (*Client, *[]*ClockError) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	now := func() int64 { return time.Now().Add(skew).UnixMilli() }
	var (
		mu   sync.Mutex
		seen []*ClockError
	)
	c := &Client{
		Transport: listen(t, key), Key: key, Network: "test", Now: now,
		Verifier: wire.NewVerifier(wire.Config{Network: "test", Now: now}),
		OnClockError: func(_ Target, ce *ClockError) {
			mu.Lock()
			seen = append(seen, ce)
			mu.Unlock()
		},
	}
	return c, &seen
}

// TestClockErrorFromRefusal: a real receptor refuses a request from a
// client 10 minutes ahead as future and one a day behind as stale; the
// client returns a *ClockError carrying the node's signed time (about the
// skew away from ours), still matching the node's code, and tells its
// hook. NodeTime gets the same sample, and an accepted one when the
// clock is right.
func TestClockErrorFromRefusal(t *testing.T) {
	node := startClockNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		skew time.Duration
		code Code
	}{
		{"10 minutes ahead", 10 * time.Minute, CodeFuture},
		{"a day behind", -24 * time.Hour, CodeStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, seen := clientAt(t, tc.skew)
			_, err := c.Call(ctx, node, clockDNA, "echo", []byte("hi"))
			var ce *ClockError
			if !errors.As(err, &ce) {
				t.Fatalf("call with a clock %v off: %v, want a *ClockError", tc.skew, err)
			}
			if ce.Code != tc.code || !HasCode(err, tc.code) || !ce.Node.Equal(node.Key) || ce.Accepted {
				t.Fatalf("clock error %+v", ce)
			}
			// The node's time is the skew away from ours, give or take
			// the round trip: a minute of slack says nothing about speed.
			if d := time.Duration(ce.OffsetMs())*time.Millisecond + tc.skew; d.Abs() > time.Minute {
				t.Fatalf("offset %d ms for a clock %v off", ce.OffsetMs(), tc.skew)
			}
			if len(*seen) != 1 || (*seen)[0] != ce {
				t.Fatalf("hook saw %v", *seen)
			}
			s, err := c.NodeTime(ctx, node, clockDNA)
			if err != nil || s.Accepted || (time.Duration(s.OffsetMs())*time.Millisecond+tc.skew).Abs() > time.Minute {
				t.Fatalf("NodeTime with a wrong clock: %+v, %v", s, err)
			}
		})
	}
	c, seen := clientAt(t, 0)
	if out, err := c.Call(ctx, node, clockDNA, "echo", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("call with a right clock: %q, %v", out, err)
	}
	s, err := c.NodeTime(ctx, node, clockDNA)
	if err != nil || !s.Accepted || (time.Duration(s.OffsetMs())*time.Millisecond).Abs() > time.Minute {
		t.Fatalf("NodeTime with a right clock: %+v, %v", s, err)
	}
	if len(*seen) != 0 {
		t.Fatalf("clock errors with a right clock: %v", *seen)
	}
}

// TestClockErrorOnlyForGenuineRefusals: a node answers a client whose
// clock is 10 minutes ahead with its own (right) time, but in every way
// but the genuine one. Only the genuine refusal comes back as a
// *ClockError; forged, unsigned, tampered, unbound, replayed and
// non-clock answers are bad-answer, and the hook never hears of them.
func TestClockErrorOnlyForGenuineRefusals(t *testing.T) {
	_, nodeKey, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	tr := listen(t, nodeKey)
	target := Target{Key: nodeKey.Public().(ed25519.PublicKey), Addr: tr.Addr().String()}

	refusal := func(code Code) []byte {
		b, _ := wire.Marshal(&Error{Code: code, Message: "time"})
		return b
	}
	var (
		mu       sync.Mutex
		answer   func(req *wire.Envelope) []byte
		previous []byte // the last genuine refusal, for the replay case
	)
	tr.Handle(clockDNA.Protocol, func(_ context.Context, _ transport.Peer, raw []byte) ([]byte, error) {
		req, err := wire.Decode(raw, 0)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		return answer(req), nil
	})
	genuine := func(req *wire.Envelope) []byte {
		b, _ := wire.Reply(nodeKey, req, KindError, refusal(CodeFuture), wallMs())
		return b
	}
	cases := []struct {
		name   string
		answer func(req *wire.Envelope) []byte
		clock  bool
	}{
		{"genuine refusal", genuine, true},
		{"signed by another key", func(req *wire.Envelope) []byte {
			b, _ := wire.Reply(otherKey, req, KindError, refusal(CodeFuture), wallMs())
			return b
		}, false},
		{"unsigned", func(req *wire.Envelope) []byte {
			b := genuine(req)
			clear(b[len(b)-wire.SignatureSize:])
			return b
		}, false},
		{"header tampered", func(req *wire.Envelope) []byte {
			b := genuine(req)
			e, _ := wire.Decode(b, 0)
			i := len(b) - wire.SignatureSize - len(e.Payload) - 40 // inside the signed header
			b[i] ^= 1
			return b
		}, false},
		{"payload tampered", func(req *wire.Envelope) []byte {
			b := genuine(req)
			b[len(b)-wire.SignatureSize-1] ^= 1
			return b
		}, false},
		{"unbound", func(req *wire.Envelope) []byte {
			b, _ := wire.Seal(nodeKey, wire.Header{Network: req.Network, Cell: req.Cell, Kind: KindError, Time: wallMs()}, refusal(CodeFuture))
			return b
		}, false},
		{"bound to another request", func(req *wire.Envelope) []byte {
			b, _ := wire.Seal(nodeKey, wire.Header{Network: req.Network, Cell: req.Cell, Kind: KindError, Time: wallMs(), Ref: [wire.RefSize]byte{1}}, refusal(CodeFuture))
			return b
		}, false},
		{"replayed refusal of an earlier request", func(*wire.Envelope) []byte { return previous }, false},
		{"wrong network", func(req *wire.Envelope) []byte {
			b, _ := wire.Seal(nodeKey, wire.Header{Network: "other", Cell: req.Cell, Kind: KindError, Time: wallMs(), Ref: req.ID()}, refusal(CodeFuture))
			return b
		}, false},
		{"other code", func(req *wire.Envelope) []byte {
			b, _ := wire.Reply(nodeKey, req, KindError, refusal(CodeNotFound), wallMs())
			return b
		}, false},
		{"ok answer", func(req *wire.Envelope) []byte {
			b, _ := wire.Reply(nodeKey, req, KindOK, []byte("hi"), wallMs())
			return b
		}, false},
		{"undecodable error", func(req *wire.Envelope) []byte {
			b, _ := wire.Reply(nodeKey, req, KindError, []byte{0xff}, wallMs())
			return b
		}, false},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, seen := clientAt(t, 10*time.Minute)
			mu.Lock()
			answer = func(req *wire.Envelope) []byte {
				b := tc.answer(req)
				if tc.clock {
					previous = b
				}
				return b
			}
			mu.Unlock()
			_, err := c.Call(ctx, target, clockDNA, "echo", nil)
			var ce *ClockError
			if got := errors.As(err, &ce); got != tc.clock {
				t.Fatalf("clock error %v, want %v: %v", got, tc.clock, err)
			}
			if !tc.clock && !HasCode(err, CodeBadAnswer) {
				t.Fatalf("%v, want bad-answer", err)
			}
			if tc.clock != (len(*seen) == 1) {
				t.Fatalf("hook saw %v", *seen)
			}
		})
	}
}
