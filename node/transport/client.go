package transport

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
)

// Request sends req to the handler for proto at the peer (addr, key) on a new
// stream of a pooled connection, and returns its answer. Errors:
// *WrongPeerKeyError if someone else answers at addr, ErrUnknownProtocol,
// *RemoteError (errors.Is ErrRemote) if the handler failed,
// *FrameTooLargeError, ErrPeerClosed, ErrClosed, or ctx's error.
//
// If a pooled connection turns out to belong to a previous run of the peer
// (it restarted and answered with a stateless reset), the request is sent
// once more on a fresh connection. The old run cannot have answered it, but
// it may have handled it before dying; the signed envelopes of node/wire
// carry nonces that make such a replay harmless.
func (t *Transport) Request(ctx context.Context, addr string, key ed25519.PublicKey, proto string, req []byte) ([]byte, error) {
	if err := validProtocol(proto); err != nil {
		return nil, err
	}
	if len(req) > t.cfg.MaxFrame {
		return nil, &FrameTooLargeError{Size: uint64(len(req)), Limit: t.cfg.MaxFrame}
	}
	prefix := appendHeader(make([]byte, 0, 3+len(proto)), kindRequest, proto)
	for attempt := 0; ; attempt++ {
		qs, pc, reused, err := t.open(ctx, addr, key)
		if err != nil {
			return nil, err
		}
		resp, err := t.roundTrip(ctx, qs, prefix, proto, req)
		pc.release()
		if err != nil && attempt == 0 && reused && peerRestarted(pc, err) && ctx.Err() == nil {
			t.log.Debug("peer restarted; retrying on a new connection", "addr", addr, "proto", proto)
			t.evict(pc)
			continue
		}
		return resp, err
	}
}

func (t *Transport) roundTrip(ctx context.Context, qs *quic.Stream, prefix []byte, proto string, req []byte) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { reset(qs, codeCanceled) })
	defer stop()
	fail := func(err error) ([]byte, error) {
		reset(qs, codeCanceled)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("transport: request %q: %w", proto, context.Cause(ctx))
		}
		return nil, fmt.Errorf("request %q: %w", proto, t.mapErr(err))
	}
	if err := writeFrame(qs, prefix, req); err != nil {
		return fail(err)
	}
	// Close fails only if the peer already reset the stream; the read
	// below then reports the peer's reason.
	_ = qs.Close()
	ok, payload, err := readResponse(qs, t.cfg.MaxFrame)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return nil, &RemoteError{Proto: proto, Message: string(payload)}
	}
	return payload, nil
}

// Send delivers msg to the handler for proto at the peer, without waiting for
// it to be handled: it returns once the message is queued on a stream. QUIC
// then delivers it reliably while the connection lives; whether the peer
// knows proto, accepts the size, or what its handler made of it, is never
// reported. Errors mean the message could not be queued: no connection,
// ErrPeerClosed, ErrClosed, a local *FrameTooLargeError, or ctx's error. For
// heartbeats and broadcast forwarding, where the next message supersedes a
// lost one.
func (t *Transport) Send(ctx context.Context, addr string, key ed25519.PublicKey, proto string, msg []byte) error {
	if err := validProtocol(proto); err != nil {
		return err
	}
	if len(msg) > t.cfg.MaxFrame {
		return &FrameTooLargeError{Size: uint64(len(msg)), Limit: t.cfg.MaxFrame}
	}
	qs, pc, _, err := t.open(ctx, addr, key)
	if err != nil {
		return err
	}
	defer pc.release()
	stop := context.AfterFunc(ctx, func() { reset(qs, codeCanceled) })
	defer stop()
	err = writeFrame(qs, appendHeader(nil, kindMessage, proto), msg)
	if err == nil {
		// Close fails only if the peer already refused the stream.
		_ = qs.Close()
	}
	// Nothing comes back; stopping our read side lets QUIC forget the
	// stream as soon as the peer has the data.
	qs.CancelRead(codeNoError)
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		// The peer refused the message (unknown protocol, too large). A
		// refusal can also arrive after Send returns, so it is never
		// reported: Send's answer must not depend on timing.
		t.log.Debug("peer refused a message", "addr", addr, "proto", proto, "err", err)
		err = nil
	}
	if err != nil {
		qs.CancelWrite(codeCanceled)
		if ctx.Err() != nil {
			return fmt.Errorf("transport: send %q: %w", proto, context.Cause(ctx))
		}
		return fmt.Errorf("send %q: %w", proto, t.mapErr(err))
	}
	return nil
}

// OpenStream opens a stream to the handler for proto at the peer. ctx governs
// the whole stream, not just opening it: when ctx ends the stream is reset.
// An unknown protocol shows up as ErrUnknownProtocol on the first read or
// write that learns of the peer's refusal. The caller must Close the stream.
func (t *Transport) OpenStream(ctx context.Context, addr string, key ed25519.PublicKey, proto string) (*Stream, error) {
	if err := validProtocol(proto); err != nil {
		return nil, err
	}
	qs, pc, _, err := t.open(ctx, addr, key)
	if err != nil {
		return nil, err
	}
	s := newStream(t, qs, pc.peer, proto)
	s.ctx = ctx
	stop := context.AfterFunc(ctx, func() { reset(qs, codeCanceled) })
	s.done = func() {
		stop()
		pc.release()
	}
	// The header goes out at once so the peer's handler starts even if we
	// only mean to read.
	if _, err := qs.Write(appendHeader(nil, kindStream, proto)); err != nil {
		err = s.err(err)
		s.Reset()
		return nil, err
	}
	return s, nil
}

// open returns a new stream to the peer; the caller must pc.release() it
// when done. A pooled connection that is found dead when the stream is
// opened is replaced by a fresh dial, once.
func (t *Transport) open(ctx context.Context, addr string, key ed25519.PublicKey) (*quic.Stream, *peerConn, bool, error) {
	for attempt := 0; ; attempt++ {
		pc, reused, err := t.connect(ctx, addr, key)
		if err != nil {
			return nil, nil, false, err
		}
		if !pc.acquire() {
			return nil, nil, false, fmt.Errorf("%w: %s is shutting down", ErrPeerClosed, addr)
		}
		qs, err := pc.conn.OpenStreamSync(ctx)
		if err == nil {
			t.streamsOut.Add(1)
			return qs, pc, reused, nil
		}
		pc.release()
		if ctx.Err() != nil {
			return nil, nil, false, fmt.Errorf("transport: opening stream to %s: %w", addr, context.Cause(ctx))
		}
		if attempt == 0 && reused {
			// Only a closed connection refuses to open a stream (the
			// context is fine), even if its context does not say so yet.
			t.evict(pc)
			continue
		}
		return nil, nil, false, fmt.Errorf("opening stream to %s: %w", addr, t.mapErr(err))
	}
}

// peerRestarted reports whether err or pc's death is a stateless reset: the peer's
// address answered with a reset token derived from the peer's key, so a new
// run of the same node is up there and a fresh dial will reach it. A graceful
// close is not retried: it usually means the peer is going away, and the
// caller is better served by a quick ErrPeerClosed than by a dial that may
// hang until the handshake timeout.
func peerRestarted(pc *peerConn, err error) bool {
	var sr *quic.StatelessResetError
	// The stream may report the reset before the connection's context does.
	return errors.As(err, &sr) || errors.As(context.Cause(pc.conn.Context()), &sr)
}
