package transport

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
)

// streamLog builds a stream's logger only when something is logged: the
// attributes cost allocations that a busy node should not pay per request.
type streamLog struct {
	t     *Transport
	pc    *peerConn
	qs    *quic.Stream
	h     header
	cache *slog.Logger
}

func (l *streamLog) get() *slog.Logger {
	if l.cache == nil {
		l.cache = l.t.log.With("peer", hex.EncodeToString(l.pc.peer.Key[:8]),
			"stream", int64(l.qs.StreamID()), "proto", l.h.proto, "kind", l.h.kind.String())
	}
	return l.cache
}

// serveStream runs one stream a peer opened: header, dispatch, handler, answer.
func (t *Transport) serveStream(pc *peerConn, qs *quic.Stream) {
	defer t.handlers.Done()
	log := &streamLog{t: t, pc: pc, qs: qs}

	// A peer gets HandshakeTimeout to say what the stream is for; an opened
	// but silent stream would otherwise hold a goroutine and a stream slot.
	_ = qs.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	h, err := readHeader(qs)
	if err != nil {
		log.get().Debug("refusing stream: bad header", "err", err)
		reset(qs, codeBadHeader)
		return
	}
	_ = qs.SetReadDeadline(time.Time{})
	log.h = h

	if h.kind == kindGoAway {
		log.get().Debug("peer is going away")
		qs.CancelRead(codeNoError)
		_ = qs.Close()
		pc.goAway()
		return
	}
	r := t.route(h.proto)
	switch {
	case h.kind == kindStream && r.sh != nil:
		t.serveStreamHandler(log, pc, qs, h.proto, r.sh)
	case (h.kind == kindRequest || h.kind == kindMessage) && r.h != nil:
		t.serveRequest(log, pc, qs, h, r.h)
	default:
		log.get().Debug("refusing stream: no handler")
		reset(qs, codeUnknownProtocol)
	}
}

func (t *Transport) serveRequest(log *streamLog, pc *peerConn, qs *quic.Stream, h header, hnd Handler) {
	req, err := readFrame(qs, t.cfg.MaxFrame)
	if err == nil {
		// The opener sends its FIN right behind the frame; waiting for it
		// completes the stream in QUIC's books and catches trailing junk.
		_ = qs.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
		err = expectEOF(qs)
	}
	if err != nil {
		code := quic.StreamErrorCode(codeProtocol)
		if errors.Is(err, ErrFrameTooLarge) {
			code = codeFrameTooLarge
		}
		log.get().Debug("refusing request", "err", err)
		reset(qs, code)
		return
	}

	if h.kind == kindMessage {
		// Nothing goes back, so finish our side now. The handler then
		// lives on the connection, not on a stream the sender already
		// forgot (it stops reading right after sending).
		_ = qs.Close()
		ctx, done := t.handlerContext(pc.conn.Context())
		_, herr := t.call(ctx, log, hnd, pc.peer, req)
		done()
		if herr != nil {
			log.get().Debug("message handler failed", "err", herr)
		}
		return
	}

	ctx, done := t.handlerContext(qs.Context())
	resp, herr := t.call(ctx, log, hnd, pc.peer, req)
	done()
	status := []byte{statusOK}
	switch {
	case herr != nil:
		status[0] = statusError
		resp = []byte(errorMessage(herr))
	case len(resp) > t.cfg.MaxFrame:
		log.get().Warn("handler response exceeds the frame limit", "size", len(resp), "limit", t.cfg.MaxFrame)
		status[0] = statusError
		resp = fmt.Appendf(nil, "response of %d bytes exceeds the frame limit of %d", len(resp), t.cfg.MaxFrame)
	}
	if err := writeFrame(qs, status, resp); err != nil {
		log.get().Debug("writing response failed", "err", err)
		qs.CancelWrite(codeCanceled)
		return
	}
	_ = qs.Close()
}

func (t *Transport) serveStreamHandler(log *streamLog, pc *peerConn, qs *quic.Stream, proto string, sh StreamHandler) {
	s := newStream(t, qs, pc.peer, proto)
	ctx, done := t.handlerContext(qs.Context())
	defer done()
	defer s.Close()
	defer func() {
		if v := recover(); v != nil {
			log.get().Error("stream handler panicked", "panic", v, "stack", string(debug.Stack()))
			reset(qs, codeInternal)
		}
	}()
	sh(ctx, pc.peer, s)
}

// call runs a request handler, turning a panic into an error so one bad
// request cannot take the node down.
func (t *Transport) call(ctx context.Context, log *streamLog, h Handler, peer Peer, req []byte) (resp []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.get().Error("handler panicked", "panic", v, "stack", string(debug.Stack()))
			resp, err = nil, errors.New("internal error")
		}
	}()
	return h(ctx, peer, req)
}

// handlerContext derives a handler's context: it ends when watch ends for
// any reason other than our own side finishing its writes (quic-go cancels a
// stream's context on our FIN too, and a stream handler may well keep reading
// after CloseWrite), or when Close gives up draining.
func (t *Transport) handlerContext(watch context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(t.handlerBase)
	stop := context.AfterFunc(watch, func() {
		cause := context.Cause(watch)
		if errors.Is(cause, quic.ErrStreamClosed) {
			return
		}
		cancel(t.mapErr(cause))
	})
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// errorMessage is the text a requester receives for a handler error.
func errorMessage(err error) string {
	msg := err.Error()
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage]
	}
	return strings.ToValidUTF8(msg, "\uFFFD")
}
