package crono

import (
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// The runtime carries Request and Response as CBOR payloads; these targets
// feed arbitrary bytes through that decoder, Validate and OnResponse, and
// check that nothing panics and network time never goes back.

var (
	fuzzEnc, _ = cbor.CoreDetEncOptions().EncMode()
	fuzzDec, _ = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
	}.DecMode()
)

// syncedChild returns a child synced to a root on a clean link, an
// outstanding request, and the matching honest response.
func syncedChild(tb testing.TB) (*Clock, Request, Response, int64) {
	tb.Helper()
	parent, _ := New(Config{Epoch: 1_700_000_000 * s})
	parent.SetRoot(0)
	child, _ := New(Config{Epoch: 1_700_000_000 * s})
	child.SetParent("p", 0)
	t := 10 * s
	for range 12 {
		req := child.MakeRequest(t)
		resp := parent.Answer(req, t+2*ms, t+2*ms)
		if _, err := child.OnResponse(resp, t+4*ms); err != nil {
			tb.Fatal(err)
		}
		t += s
	}
	req := child.MakeRequest(t)
	return child, req, parent.Answer(req, t+2*ms, t+2*ms), t + 4*ms
}

func FuzzResponseCBOR(f *testing.F) {
	_, _, resp, _ := syncedChild(f)
	good, err := fuzzEnc.Marshal(resp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	unsynced := resp
	unsynced.Synced = false
	b, _ := fuzzEnc.Marshal(unsynced)
	f.Add(b)
	late := resp
	late.T2 += 400 * ms
	late.T3 += 400 * ms
	b, _ = fuzzEnc.Marshal(late)
	f.Add(b)
	b, _ = fuzzEnc.Marshal(Request{Seq: 1, T1: 5})
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Add([]byte{0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		var r Response
		if err := fuzzDec.Unmarshal(data, &r); err != nil {
			return
		}
		child, req, _, t4 := syncedChild(t)
		// Let arbitrary timestamps reach the estimator, not just the
		// sequence check.
		r.Seq, r.T1 = req.Seq, req.T1
		checkResponse(t, child, r, t4)
	})
}

func FuzzOnResponse(f *testing.F) {
	_, _, resp, _ := syncedChild(f)
	f.Add(resp.T2, resp.T3, int64(4*ms), true, uint8(0), resp.Error, uint32(1), uint32(0))
	f.Add(resp.T2+int64(3600*s), resp.T3+int64(3600*s), int64(4*ms), true, uint8(3), int64(0), uint32(1), uint32(1000))
	f.Add(resp.T2-int64(3600*s), resp.T3-int64(3600*s), int64(4*ms), true, uint8(3), int64(0), uint32(2), uint32(1000))
	f.Add(int64(0), int64(0), int64(0), true, uint8(31), int64(0), uint32(7), uint32(maxWanderPPB))
	f.Add(resp.T2, resp.T2+int64(10*ms), int64(4*ms), true, uint8(0), int64(0), uint32(1), uint32(0))

	f.Fuzz(func(t *testing.T, t2, t3, rtt int64, synced bool, stratum uint8, errEst int64, steps, wander uint32) {
		child, req, _, t4 := syncedChild(t)
		r := Response{Seq: req.Seq, T1: req.T1, T2: t2, T3: t3, Synced: synced,
			Stratum: stratum, Error: errEst, Steps: steps, Wander: wander}
		_ = t4
		checkResponse(t, child, r, req.T1+rtt%(5*s))
	})
}

// checkResponse feeds r to child and then watches child's time for a while.
func checkResponse(t *testing.T, child *Clock, r Response, t4 int64) {
	before := child.Now(t4 - 1)
	acc, err := child.OnResponse(r, t4)
	if err != nil && acc {
		t.Fatalf("accepted with error %v", err)
	}
	if verr := r.Validate(); verr != nil && err == nil {
		t.Fatalf("invalid response %+v (%v) passed", r, verr)
	}
	if err != nil && !errors.Is(err, ErrInvalidResponse) && !errors.Is(err, ErrParentNotSynced) &&
		!errors.Is(err, ErrTooLate) {
		t.Fatalf("unexpected error class: %v", err)
	}
	// Whatever the parent said, a synced clock never goes back and never
	// jumps forward by more than MaxStep at a time.
	prev := before
	for l := t4; l < t4+600*s; l += 7 * s {
		v := child.Now(l)
		if v < prev {
			t.Fatalf("time went back by %d ns after %+v", prev-v, r)
		}
		prev = v
	}
	st := child.Status(t4)
	if st.JumpTotal > DefaultMaxStep {
		t.Fatalf("one response caused %v of jumps", st.JumpTotal)
	}
}
