package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// Stream is one bidirectional stream for bulk or long-lived exchanges. It is
// an io.Reader and io.Writer of raw bytes and also reads and writes
// length-prefixed frames; a protocol picks one style per direction.
//
// One goroutine may read while another writes. Close, CloseWrite and Write
// must not run concurrently with each other.
type Stream struct {
	t     *Transport
	qs    *quic.Stream
	peer  Peer
	proto string

	// ctx is the opener's context (nil on the accepting side); when it ends
	// the stream is reset and errors report the context's cause.
	ctx context.Context
	// done, on the opening side, detaches ctx and ends the stream's count
	// on its connection.
	done     func()
	doneOnce sync.Once
}

func newStream(t *Transport, qs *quic.Stream, peer Peer, proto string) *Stream {
	return &Stream{t: t, qs: qs, peer: peer, proto: proto}
}

// Peer is the verified peer at the other end.
func (s *Stream) Peer() Peer { return s.peer }

// Protocol is the protocol name from the stream header.
func (s *Stream) Protocol() string { return s.proto }

// Read reads raw bytes; io.EOF means the peer called CloseWrite.
func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.qs.Read(p)
	if err != nil && err != io.EOF {
		err = s.err(err)
	}
	return n, err
}

// Write writes raw bytes.
func (s *Stream) Write(p []byte) (int, error) {
	n, err := s.qs.Write(p)
	return n, s.err(err)
}

// ReadFrame reads one frame into a new buffer. It returns io.EOF when the
// peer closed its side cleanly between frames. A frame above the limit
// returns a *FrameTooLargeError without allocating it, and stops the peer's
// sending, since the rest of the stream can no longer be parsed.
func (s *Stream) ReadFrame() ([]byte, error) { return s.ReadFrameBuf(nil) }

// ReadFrameBuf is ReadFrame reusing buf's storage when cap(buf) is large
// enough; the frame returned then aliases buf. Bulk readers pass the last
// frame back in and stop allocating.
func (s *Stream) ReadFrameBuf(buf []byte) ([]byte, error) {
	b, err := readFrameInto(s.qs, s.t.cfg.MaxFrame, buf)
	switch {
	case err == nil:
		return b, nil
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, ErrFrameTooLarge):
		s.qs.CancelRead(codeFrameTooLarge)
		return nil, err
	}
	return nil, s.err(err)
}

// WriteFrame writes p as one frame. Frames above this transport's MaxFrame
// are refused locally: the peer would refuse them anyway.
func (s *Stream) WriteFrame(p []byte) error {
	if len(p) > s.t.cfg.MaxFrame {
		return &FrameTooLargeError{Size: uint64(len(p)), Limit: s.t.cfg.MaxFrame}
	}
	return s.err(writeFrame(s.qs, nil, p))
}

// CloseWrite ends our direction; the peer reads io.EOF after the data
// already written, which is still delivered. Reading stays possible.
func (s *Stream) CloseWrite() error { return s.err(s.qs.Close()) }

// Close ends the stream: our direction finishes cleanly (written data is
// still delivered) and anything the peer still sends is refused. Close is
// idempotent and always returns nil (it satisfies io.Closer); the only
// failure quic-go reports, closing a stream that was already reset, is no
// news to the caller. A handler's stream is closed by the transport when
// the handler returns.
func (s *Stream) Close() error {
	_ = s.qs.Close()
	s.qs.CancelRead(codeNoError)
	s.finish()
	return nil
}

func (s *Stream) finish() {
	if s.done != nil {
		s.doneOnce.Do(s.done)
	}
}

// Reset aborts the stream in both directions: unsent data is dropped and the
// peer's reads and writes fail with ErrStreamReset.
func (s *Stream) Reset() {
	reset(s.qs, codeCanceled)
	s.finish()
}

// SetDeadline sets read and write deadlines, like net.Conn.
func (s *Stream) SetDeadline(t time.Time) error { return s.qs.SetDeadline(t) }

// SetReadDeadline sets the deadline for Read and ReadFrame.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.qs.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for Write and WriteFrame.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.qs.SetWriteDeadline(t) }

func (s *Stream) err(err error) error {
	if err == nil {
		return nil
	}
	if s.ctx != nil && s.ctx.Err() != nil {
		return fmt.Errorf("transport: stream %q: %w", s.proto, context.Cause(s.ctx))
	}
	return fmt.Errorf("stream %q: %w", s.proto, s.t.mapErr(err))
}
