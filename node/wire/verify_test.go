package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestVerifyAccepts(t *testing.T) {
	clock := newTestClock(testT0)
	v := newTestVerifier(clock)
	payload := []byte("payload")
	b := mustSeal(t, testKey(1), testHeader(testT0), payload)
	e, err := v.Verify(b)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !bytes.Equal(e.Payload, payload) || e.Kind != "lookup" || !bytes.Equal(e.Bytes(), b) {
		t.Fatalf("verified envelope does not match: %v", e)
	}
	if v.ReplayLen() != 1 {
		t.Fatalf("ReplayLen = %d after one envelope", v.ReplayLen())
	}
}

func TestVerifyWindowEdges(t *testing.T) {
	clock := newTestClock(testT0)
	v := newTestVerifier(clock)
	w := testWindow.Milliseconds()
	for _, dt := range []int64{-w, -w + 1, 0, w - 1, w} {
		if _, err := v.Verify(mustSeal(t, testKey(1), testHeader(testT0+dt), nil)); err != nil {
			t.Fatalf("time now%+d ms (window %d): %v", dt, w, err)
		}
	}
	if _, err := v.Verify(mustSeal(t, testKey(1), testHeader(testT0-w-1), nil)); !errors.Is(err, ErrTooOld) {
		t.Fatalf("one ms too old: err = %v, want ErrTooOld", err)
	}
	if _, err := v.Verify(mustSeal(t, testKey(1), testHeader(testT0+w+1), nil)); !errors.Is(err, ErrFromFuture) {
		t.Fatalf("one ms too new: err = %v, want ErrFromFuture", err)
	}
}

// TestVerifyRejects has one case per rejection the Verifier promises.
func TestVerifyRejects(t *testing.T) {
	priv := testKey(1)
	good := mustSeal(t, priv, testHeader(testT0), []byte("the payload"))
	ge := mustDecode(t, good)
	senderOff := ge.hdrLen - 32 - 4 - 32 - 16 - 8 - 32
	timeOff := senderOff + 32
	kindOff := senderOff - len(ge.Kind)
	sigOff := len(good) - SignatureSize

	swappedSender := append([]byte(nil), good...)
	copy(swappedSender[senderOff:], testKey(2).Public().(ed25519.PublicKey))

	w := testWindow.Milliseconds()
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", bytes.Repeat([]byte{0x42}, 500), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"trailing byte", append(append([]byte(nil), good...), 0), ErrMalformed},
		{"oversize", make([]byte, DefaultMaxSize+1), ErrOversize},
		{"unknown version", func() []byte { c := flip(good, magicLen); return c }(), ErrUnknownVersion},
		{"wrong network", mustSeal(t, priv, Header{Network: "other-net", Cell: "registry", Kind: "lookup", Time: testT0}, nil), ErrWrongNetwork},
		{"too old", mustSeal(t, priv, testHeader(testT0-w-1), nil), ErrTooOld},
		{"from the future", mustSeal(t, priv, testHeader(testT0+w+1), nil), ErrFromFuture},
		{"forged signature", flip(good, sigOff+10), ErrBadSignature},
		{"signature of the last byte", flip(good, len(good)-1), ErrBadSignature},
		{"tampered kind", flip(good, kindOff), ErrBadSignature},
		{"tampered time", flip(good, timeOff+7), ErrBadSignature}, // 1 ms, still inside the window
		{"tampered ref", flip(good, ge.hdrLen-32-4-1), ErrBadSignature},
		{"tampered digest", flip(good, ge.hdrLen-1), ErrBadSignature},
		{"swapped sender key", swappedSender, ErrBadSignature},
		{"tampered payload", flip(good, ge.hdrLen+3), ErrPayloadTampered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(newTestClock(testT0))
			e, err := v.Verify(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if e != nil {
				t.Fatal("a rejected envelope was returned")
			}
			if v.ReplayLen() != 0 {
				t.Fatal("a rejected envelope was recorded in the replay cache")
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		v := newTestVerifier(newTestClock(testT0))
		if _, err := v.Verify(good); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(good); !errors.Is(err, ErrReplay) {
			t.Fatalf("err = %v, want ErrReplay", err)
		}
	})
}

func TestVerifyNoSentinelOverlap(t *testing.T) {
	all := []error{ErrMalformed, ErrOversize, ErrUnknownVersion, ErrWrongNetwork, ErrTooOld, ErrFromFuture,
		ErrBadSignature, ErrPayloadTampered, ErrReplay, ErrReplayCacheFull, ErrNotAnswer, ErrInvalidHeader, ErrInvalidKey}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Fatalf("%v matches %v", a, b)
			}
		}
	}
}

// TestVerifyCheapChecksFirst pins the order: a message failing several
// checks reports the cheapest, proving the expensive one never ran.
func TestVerifyCheapChecksFirst(t *testing.T) {
	clock := newTestClock(testT0)
	priv := testKey(1)
	w := testWindow.Milliseconds()
	badSig := func(b []byte) []byte { return flip(b, len(b)-1) }

	v := NewVerifier(Config{Network: testNetwork, Now: clock.Now, MaxSize: 300})
	big := mustSeal(t, priv, Header{Network: "other", Kind: "k", Time: 0}, make([]byte, 400))
	if _, err := v.Verify(big); !errors.Is(err, ErrOversize) {
		t.Fatalf("oversize, wrong network, too old: err = %v, want ErrOversize", err)
	}

	v = newTestVerifier(clock)
	other := mustSeal(t, priv, Header{Network: "other", Kind: "k", Time: testT0 - 10*w}, nil)
	if _, err := v.Verify(badSig(other)); !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("wrong network, too old, bad signature: err = %v, want ErrWrongNetwork", err)
	}
	old := mustSeal(t, priv, testHeader(testT0-10*w), nil)
	if _, err := v.Verify(badSig(old)); !errors.Is(err, ErrTooOld) {
		t.Fatalf("too old, bad signature: err = %v, want ErrTooOld", err)
	}

	// A replayed envelope is refused before its signature is checked again.
	good := mustSeal(t, priv, testHeader(testT0), []byte("p"))
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(badSig(good)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay with bad signature: err = %v, want ErrReplay", err)
	}
}

// TestVerifyRecordsNonceOnlyAfterSuccess: an attacker who sees an envelope
// first and sends a damaged copy must not get the genuine one refused.
func TestVerifyRecordsNonceOnlyAfterSuccess(t *testing.T) {
	v := newTestVerifier(newTestClock(testT0))
	good := mustSeal(t, testKey(1), testHeader(testT0), []byte("payload"))
	e := mustDecode(t, good)
	if _, err := v.Verify(flip(good, e.hdrLen)); !errors.Is(err, ErrPayloadTampered) {
		t.Fatalf("tampered payload: %v", err)
	}
	if _, err := v.Verify(flip(good, len(good)-1)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, err := v.Verify(good); err != nil {
		t.Fatalf("genuine envelope refused after damaged copies: %v", err)
	}
}

func TestReplayKeyedBySenderAndNonce(t *testing.T) {
	v := newTestVerifier(newTestClock(testT0))
	h := testHeader(testT0)
	h.Nonce = [NonceSize]byte{1, 2, 3}
	if _, err := v.Verify(mustSeal(t, testKey(1), h, nil)); err != nil {
		t.Fatal(err)
	}
	// Another sender may happen to use the same nonce.
	if _, err := v.Verify(mustSeal(t, testKey(2), h, nil)); err != nil {
		t.Fatalf("same nonce, other sender: %v", err)
	}
	// The same sender reusing a nonce, even with other content and time,
	// is refused while the first is within the window.
	h2 := h
	h2.Time += 5000
	h2.Kind = "other"
	if _, err := v.Verify(mustSeal(t, testKey(1), h2, []byte("x"))); !errors.Is(err, ErrReplay) {
		t.Fatalf("same sender and nonce: err = %v, want ErrReplay", err)
	}
}

func TestReplayExpiresWithWindow(t *testing.T) {
	clock := newTestClock(testT0)
	v := NewVerifier(Config{Network: testNetwork, Window: time.Second, Now: clock.Now})
	first := mustSeal(t, testKey(1), testHeader(testT0), nil)
	if _, err := v.Verify(first); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1001)
	// Past the window the replay is refused as too old, and its nonce may
	// go: nothing carrying it can pass the time check any more.
	if _, err := v.Verify(first); !errors.Is(err, ErrTooOld) {
		t.Fatalf("replay after the window: err = %v, want ErrTooOld", err)
	}
	clock.Advance(v.replay.span) // past the generation boundary
	if _, err := v.Verify(mustSeal(t, testKey(1), testHeader(clock.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	if n := v.ReplayLen(); n != 1 {
		t.Fatalf("ReplayLen = %d, want 1: the expired nonce was not dropped", n)
	}
}

// TestReplayCacheFullFailsClosed: when the cache is full the verifier
// refuses new envelopes rather than forget a live nonce, and recovers as
// entries expire.
func TestReplayCacheFullFailsClosed(t *testing.T) {
	clock := newTestClock(testT0)
	v := NewVerifier(Config{Network: testNetwork, Window: time.Second, Now: clock.Now, ReplayCapacity: 4})
	var first [][]byte
	for i := 0; i < 4; i++ {
		b := mustSeal(t, testKey(1), testHeader(testT0), nil)
		if _, err := v.Verify(b); err != nil {
			t.Fatal(err)
		}
		first = append(first, b)
	}
	late := mustSeal(t, testKey(1), testHeader(testT0+900), nil)
	if _, err := v.Verify(late); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("full cache: err = %v, want ErrReplayCacheFull", err)
	}
	for _, b := range first {
		if _, err := v.Verify(b); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay while full: err = %v, want ErrReplay", err)
		}
	}
	// The four expire at testT0+1000; the refused one was not recorded and
	// is accepted once there is room.
	clock.Set(testT0 + 1500)
	if _, err := v.Verify(late); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if _, err := v.Verify(late); !errors.Is(err, ErrReplay) {
		t.Fatalf("err = %v, want ErrReplay", err)
	}
	for _, b := range first {
		if _, err := v.Verify(b); !errors.Is(err, ErrTooOld) {
			t.Fatalf("expired first envelopes: err = %v, want ErrTooOld", err)
		}
	}
}

// TestReplayClockStepsBack: network time jumping forward drops old nonces;
// jumping back again must not make their envelopes acceptable.
func TestReplayClockStepsBack(t *testing.T) {
	clock := newTestClock(testT0)
	v := NewVerifier(Config{Network: testNetwork, Window: time.Second, Now: clock.Now})
	a := mustSeal(t, testKey(1), testHeader(testT0), nil)
	if _, err := v.Verify(a); err != nil {
		t.Fatal(err)
	}
	clock.Set(testT0 + 60_000)
	if _, err := v.Verify(mustSeal(t, testKey(1), testHeader(clock.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	if v.ReplayLen() != 1 {
		t.Fatalf("ReplayLen = %d, want 1 after pruning", v.ReplayLen())
	}
	clock.Set(testT0)
	if _, err := v.Verify(a); !errors.Is(err, ErrTooOld) {
		t.Fatalf("replay after clock step back: err = %v, want ErrTooOld", err)
	}
}

func TestVerifyExtremeTimes(t *testing.T) {
	const maxI, minI = int64(^uint64(0) >> 1), -int64(^uint64(0)>>1) - 1
	for _, c := range []struct{ now, t int64 }{{0, maxI}, {0, minI}, {maxI, minI}, {minI, maxI}, {maxI, maxI}, {minI, minI}} {
		v := NewVerifier(Config{Network: testNetwork, Now: func() int64 { return c.now }})
		_, err := v.Verify(mustSeal(t, testKey(1), testHeader(c.t), nil))
		if c.now == c.t {
			if err != nil {
				t.Fatalf("now=t=%d: %v", c.t, err)
			}
			continue
		}
		if !errors.Is(err, ErrTooOld) && !errors.Is(err, ErrFromFuture) {
			t.Fatalf("now=%d t=%d: err = %v, want a window error", c.now, c.t, err)
		}
	}
}

func TestVerifierDefaults(t *testing.T) {
	v := NewVerifier(Config{Network: testNetwork})
	if v.Window() != DefaultWindow || v.maxSize != DefaultMaxSize || v.replay.capacity != DefaultReplayCapacity {
		t.Fatalf("defaults: window %v maxSize %d capacity %d", v.Window(), v.maxSize, v.replay.capacity)
	}
	// Without Config.Now the wall clock stands in for network time; a
	// fresh envelope is well inside the 30 s window.
	if _, err := v.Verify(mustSeal(t, testKey(1), testHeader(time.Now().UnixMilli()), nil)); err != nil {
		t.Fatalf("default clock: %v", err)
	}
	if w := NewVerifier(Config{Network: "n", Window: time.Microsecond}).Window(); w != time.Millisecond {
		t.Fatalf("sub-millisecond window became %v, want 1ms", w)
	}
}

func TestReplyBinding(t *testing.T) {
	clock := newTestClock(testT0)
	v := newTestVerifier(clock)
	client, server := testKey(1), testKey(2)

	req1, err := SealEnvelope(client, testHeader(testT0), []byte("q1"))
	if err != nil {
		t.Fatal(err)
	}
	req2, err := SealEnvelope(client, testHeader(testT0), []byte("q2"))
	if err != nil {
		t.Fatal(err)
	}
	// The server verifies the request it received and answers it.
	got, err := v.Verify(req1.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ans1b, err := Reply(server, got, "lookup-ok", []byte("a1"), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ans2b, err := Reply(server, req2, "lookup-ok", []byte("a2"), clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	ans1, err := v.Verify(ans1b)
	if err != nil {
		t.Fatal(err)
	}
	if ans1.Ref != req1.ID() || ans1.Network != req1.Network || ans1.Cell != req1.Cell || !ans1.IsAnswer() {
		t.Fatalf("Reply header %+v", ans1.Header)
	}
	if err := ans1.Answers(req1); err != nil {
		t.Fatalf("genuine answer: %v", err)
	}
	ans2, err := v.Verify(ans2b)
	if err != nil {
		t.Fatal(err)
	}
	// Swapped answers: each is validly signed, but bound to the other request.
	if err := ans2.Answers(req1); !errors.Is(err, ErrNotAnswer) {
		t.Fatalf("answer to req2 offered for req1: err = %v, want ErrNotAnswer", err)
	}
	if err := ans1.Answers(req2); !errors.Is(err, ErrNotAnswer) {
		t.Fatalf("answer to req1 offered for req2: err = %v, want ErrNotAnswer", err)
	}
	if err := req1.Answers(req1); !errors.Is(err, ErrNotAnswer) {
		t.Fatalf("a request is not its own answer: err = %v", err)
	}

	// Right Ref but another cell: refused too.
	h := Header{Network: testNetwork, Cell: "ledger", Kind: "ok", Time: testT0, Ref: req1.ID()}
	if err := mustDecode(t, mustSeal(t, server, h, nil)).Answers(req1); !errors.Is(err, ErrNotAnswer) {
		t.Fatalf("answer from another cell: err = %v, want ErrNotAnswer", err)
	}

	// Re-pointing an answer's Ref breaks its signature.
	ref := ans2.hdrLen - 32 - 4 - 32
	forged := append([]byte(nil), ans2b...)
	id1 := req1.ID()
	copy(forged[ref:], id1[:])
	if _, err := newTestVerifier(clock).Verify(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("re-pointed Ref: err = %v, want ErrBadSignature", err)
	}
}

// TestVerifyConcurrent runs one verifier from many goroutines: every
// distinct envelope is accepted exactly once, every duplicate refused as a
// replay, whichever goroutine gets there first.
func TestVerifyConcurrent(t *testing.T) {
	clock := newTestClock(testT0)
	v := newTestVerifier(clock)
	const n, workers, copies = 200, 8, 3
	envs := make([][]byte, n)
	for i := range envs {
		envs[i] = mustSeal(t, testKey(byte(i%4)), testHeader(testT0+int64(i)), []byte(fmt.Sprint(i)))
	}
	accepted := make([]atomic.Int32, n)
	var replays atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for c := 0; c < copies; c++ {
				for k := 0; k < n; k++ {
					i := (k*7 + w*13 + c) % n
					_, err := v.Verify(envs[i])
					switch {
					case err == nil:
						accepted[i].Add(1)
					case errors.Is(err, ErrReplay):
						replays.Add(1)
					default:
						errs <- err
						return
					}
					if k%50 == 0 {
						clock.Advance(1) // concurrent clock movement, well within the window
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range accepted {
		if got := accepted[i].Load(); got != 1 {
			t.Fatalf("envelope %d accepted %d times", i, got)
		}
	}
	if got, want := replays.Load(), int32(n*(workers*copies-1)); got != want {
		t.Fatalf("%d replays, want %d", got, want)
	}
	if v.ReplayLen() != n {
		t.Fatalf("ReplayLen = %d, want %d", v.ReplayLen(), n)
	}
}

func TestPayloadEndToEnd(t *testing.T) {
	type lookup struct {
		Cell  string `cbor:"1,keyasint"`
		Limit uint16 `cbor:"2,keyasint"`
	}
	p, err := Marshal(lookup{Cell: "shard", Limit: 8})
	if err != nil {
		t.Fatal(err)
	}
	e, err := newTestVerifier(newTestClock(testT0)).Verify(mustSeal(t, testKey(1), testHeader(testT0), p))
	if err != nil {
		t.Fatal(err)
	}
	var got lookup
	if err := Unmarshal(e.Payload, &got); err != nil {
		t.Fatal(err)
	}
	if got != (lookup{Cell: "shard", Limit: 8}) {
		t.Fatalf("got %+v", got)
	}
}
