package cell

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// Target is a node to send a request to: its pinned key and address.
type Target struct {
	Key  ed25519.PublicKey
	Addr string
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
	Verifier *wire.Verifier
	Now      func() int64
	// Meter, if set, counts the bytes of every request and answer per
	// node, for a client that shows transfer rates (the conduit).
	Meter Meter
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
// at t and returns the payload of a verified "ok" answer, or an *Error: the
// node's error code, CodeUnavailable when the node could not be reached, or
// CodeBadAnswer when its answer did not verify.
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
	rb := req.Bytes()
	raw, err := c.Transport.Request(ctx, t.Addr, t.Key, dna.Protocol, rb)
	c.Count(t.Key, len(rb), len(raw))
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: err.Error()}
	}
	ans, err := c.Verifier.Verify(raw)
	if err != nil {
		return nil, Errorf(CodeBadAnswer, "answer from %s: %v", t.Addr, err)
	}
	if !ans.Sender.Equal(t.Key) {
		return nil, Errorf(CodeBadAnswer, "answer from %s signed by another key", t.Addr)
	}
	if err := ans.Answers(req); err != nil {
		return nil, Errorf(CodeBadAnswer, "answer from %s: %v", t.Addr, err)
	}
	return decodeAnswer(ans)
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
