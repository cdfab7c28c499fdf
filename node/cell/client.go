package cell

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// Target is a node to send a request to: its pinned key and address.
type Target struct {
	Key  ed25519.PublicKey
	Addr string
}

// AnswerVerifier is what a Client needs of the one Verify: *wire.Verifier
// is the only implementation. It is an interface so that a client whose
// clock may be stepped back (the conduit's pool) can start a fresh replay
// guard without rebuilding every Client that holds it.
type AnswerVerifier interface {
	Verify(b []byte) (*wire.Envelope, error)
}

// Client signs requests with one key (a person's account key, or a node's)
// and verifies every answer: signature by the target node's pinned key,
// freshness and replay by the one Verify, and binding to the request.
type Client struct {
	// Transport carries the requests; its own key only secures the
	// connection and need not be the signing key.
	Transport *transport.Transport
	// Key signs the requests.
	Key      ed25519.PrivateKey
	Network  string
	Verifier AnswerVerifier
	Now      func() int64
	// Meter, if set, counts the bytes of every request and answer per
	// node, for a client that shows transfer rates (the conduit).
	Meter Meter
	// OnClockError, if set, sees every *ClockError before Call returns it:
	// a node's signed word that our clock is off, which the owner of the
	// clock (the conduit's pool) collects to correct it. It runs on the
	// caller's goroutine and must not block.
	OnClockError func(Target, *ClockError)
}

// Meter counts the bytes a client exchanges with each node. Add is called
// on the request's goroutine once per round trip and must be cheap.
type Meter interface {
	Add(node ed25519.PublicKey, sent, received int)
}

// Count reports traffic to c's Meter, if any; code that opens raw streams
// over c.Transport calls it so those bytes are counted too.
func (c *Client) Count(node ed25519.PublicKey, sent, received int) {
	if c.Meter != nil && (sent > 0 || received > 0) {
		c.Meter.Add(node, sent, received)
	}
}

// Call sends kind/payload to cell (whose receptor protocol is dna.Protocol)
// at t and returns the payload of a verified "ok" answer, or an error: the
// node's *Error, a *ClockError when the node refused our time as stale or
// future (it unwraps to that *Error), CodeUnavailable when the node could
// not be reached, or CodeBadAnswer when its answer did not verify.
func (c *Client) Call(ctx context.Context, t Target, dna DNA, kind string, payload []byte) ([]byte, error) {
	req, err := wire.SealEnvelope(c.Key, wire.Header{Network: c.Network, Cell: dna.Name, Kind: kind, Time: c.Now()}, payload)
	if err != nil {
		return nil, fmt.Errorf("seal %s/%s request: %w", dna.Name, kind, err)
	}
	return c.CallRaw(ctx, t, dna, req)
}

// CallRaw sends an envelope sealed by the caller and checks the answer is
// bound to it.
func (c *Client) CallRaw(ctx context.Context, t Target, dna DNA, req *wire.Envelope) ([]byte, error) {
	ex, err := c.exchange(ctx, t, dna, req)
	if err != nil {
		return nil, err
	}
	return decodeAnswer(ex.ans)
}

// TimeSample is one node's signed time next to ours.
type TimeSample struct {
	// NodeMs is the node's network time (Unix ms) from its signed answer.
	NodeMs int64
	// LocalMs is the client's Now halfway through the round trip: our
	// best guess of our time when the node signed.
	LocalMs int64
	// RTT is the round trip; NodeMs-LocalMs is uncertain by about half.
	RTT time.Duration
	// Accepted is false when the node refused our request's time.
	Accepted bool
}

// OffsetMs is how far the node's time is ahead of ours.
func (s TimeSample) OffsetMs() int64 { return s.NodeMs - s.LocalMs }

// NodeTime asks t for its time with the cheapest request every cell
// answers (the built-in "view" of dna) and returns the node's signed time
// whether it accepted our request or refused it as stale or future; that
// is what lets a client whose clock is far off learn the network's time
// at all. Any other failure is returned as Call would.
func (c *Client) NodeTime(ctx context.Context, t Target, dna DNA) (TimeSample, error) {
	req, err := wire.SealEnvelope(c.Key, wire.Header{Network: c.Network, Cell: dna.Name, Kind: KindView, Time: c.Now()}, nil)
	if err != nil {
		return TimeSample{}, fmt.Errorf("seal %s/%s request: %w", dna.Name, KindView, err)
	}
	ex, err := c.exchange(ctx, t, dna, req)
	var ce *ClockError
	if errors.As(err, &ce) {
		return ce.TimeSample, nil
	}
	if err != nil {
		return TimeSample{}, err
	}
	if _, err := decodeAnswer(ex.ans); err != nil {
		return TimeSample{}, err
	}
	return TimeSample{NodeMs: ex.ans.Time, LocalMs: ex.mid, RTT: ex.rtt, Accepted: true}, nil
}

// exchanged is one verified round trip.
type exchanged struct {
	ans *wire.Envelope
	mid int64 // c.Now() halfway through
	rtt time.Duration
}

// exchange sends req to t and returns its answer, verified by the one
// Verify, signed by t's pinned key and bound to req; or the *ClockError
// of a refusal of our time; or a *Error.
func (c *Client) exchange(ctx context.Context, t Target, dna DNA, req *wire.Envelope) (exchanged, error) {
	rb := req.Bytes()
	sent, start := c.Now(), time.Now()
	raw, err := c.Transport.Request(ctx, t.Addr, t.Key, dna.Protocol, rb)
	rtt := time.Since(start)
	c.Count(t.Key, len(rb), len(raw))
	if err != nil {
		return exchanged{}, &Error{Code: CodeUnavailable, Message: err.Error()}
	}
	ex := exchanged{mid: sent + rtt.Milliseconds()/2, rtt: rtt}
	ans, err := c.Verifier.Verify(raw)
	if err != nil {
		if !errors.Is(err, wire.ErrTooOld) && !errors.Is(err, wire.ErrFromFuture) {
			return exchanged{}, Errorf(CodeBadAnswer, "answer from %s: %v", t.Addr, err)
		}
		// Out of our window: either our clock is off and this is the
		// node's signed refusal of our time, or it is junk. Only the
		// first, fully checked, may come back as anything but bad-answer.
		ce, why := clockRefusal(c.Network, t, req, raw, ex)
		if why != nil {
			return exchanged{}, Errorf(CodeBadAnswer, "answer from %s: %v; %v", t.Addr, err, why)
		}
		return exchanged{}, c.clockError(t, ce)
	}
	if !ans.Sender.Equal(t.Key) {
		return exchanged{}, Errorf(CodeBadAnswer, "answer from %s signed by another key", t.Addr)
	}
	if err := ans.Answers(req); err != nil {
		return exchanged{}, Errorf(CodeBadAnswer, "answer from %s: %v", t.Addr, err)
	}
	// A node can refuse our time while its own still passes our window
	// (both near the window's edge); that refusal is fully verified and
	// says the same as one that is not.
	if ce := refusalOf(t, ans, ex); ce != nil {
		return exchanged{}, c.clockError(t, ce)
	}
	ex.ans = ans
	return ex, nil
}

func (c *Client) clockError(t Target, ce *ClockError) *ClockError {
	if c.OnClockError != nil {
		c.OnClockError(t, ce)
	}
	return ce
}

// clockRefusal checks that raw, which failed our freshness check, is
// exactly the node's refusal of our request's time: structure, network,
// signature and payload digest verified by the one Verify with its clock
// set to the answer's own time (so freshness, and only freshness, is not
// judged), signed by t's pinned key, bound to req, an error answer with
// code stale or future. Replay needs no cache here: the binding to req,
// whose nonce is fresh, already makes every other answer fail. why says
// which check failed otherwise.
func clockRefusal(network string, t Target, req *wire.Envelope, raw []byte, ex exchanged) (*ClockError, error) {
	env, err := wire.Decode(raw, len(raw))
	if err != nil {
		return nil, err
	}
	at := env.Time
	v := wire.NewVerifier(wire.Config{Network: network, MaxSize: len(raw), ReplayCapacity: 1, Now: func() int64 { return at }})
	ans, err := v.Verify(raw)
	if err != nil {
		return nil, err
	}
	if !ans.Sender.Equal(t.Key) {
		return nil, errors.New("signed by another key")
	}
	if err := ans.Answers(req); err != nil {
		return nil, err
	}
	ce := refusalOf(t, ans, ex)
	if ce == nil {
		return nil, fmt.Errorf("answer of kind %q is no refusal of our time", ans.Kind)
	}
	return ce, nil
}

// refusalOf returns the ClockError that the verified, bound answer ans
// carries, or nil when it is not a stale/future refusal.
func refusalOf(t Target, ans *wire.Envelope, ex exchanged) *ClockError {
	if ans.Kind != KindError {
		return nil
	}
	var e Error
	if wire.Unmarshal(ans.Payload, &e) != nil || (e.Code != CodeStale && e.Code != CodeFuture) {
		return nil
	}
	return &ClockError{
		Code: e.Code, Message: e.Message, Node: t.Key,
		TimeSample: TimeSample{NodeMs: ans.Time, LocalMs: ex.mid, RTT: ex.rtt},
	}
}

// SendRaw sends arbitrary bytes as a request (for tests of what a receptor
// refuses) and returns the node's signed answer, verified as signed by t but
// not bound to any request.
func (c *Client) SendRaw(ctx context.Context, t Target, dna DNA, raw []byte) (*wire.Envelope, error) {
	b, err := c.Transport.Request(ctx, t.Addr, t.Key, dna.Protocol, raw)
	c.Count(t.Key, len(raw), len(b))
	if err != nil {
		return nil, err
	}
	ans, err := c.Verifier.Verify(b)
	if err != nil {
		return nil, err
	}
	if !ans.Sender.Equal(t.Key) {
		return nil, errors.New("answer signed by another key")
	}
	return ans, nil
}

// AnswerError returns the *Error an error answer carries, or nil for "ok".
func AnswerError(ans *wire.Envelope) error {
	_, err := decodeAnswer(ans)
	return err
}

func decodeAnswer(ans *wire.Envelope) ([]byte, error) {
	switch ans.Kind {
	case KindOK:
		return ans.Payload, nil
	case KindError:
		var e Error
		if err := wire.Unmarshal(ans.Payload, &e); err != nil {
			return nil, Errorf(CodeBadAnswer, "undecodable error answer: %v", err)
		}
		return nil, &e
	}
	return nil, Errorf(CodeBadAnswer, "answer of unknown kind %q", ans.Kind)
}
