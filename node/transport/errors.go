package transport

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
)

// Sentinel errors. Callers test with errors.Is; the concrete errors carry
// details (which key, which size, which message).
var (
	// ErrClosed is returned by every call on a Transport that is closing or closed.
	ErrClosed = errors.New("transport: closed")
	// ErrWrongPeerKey means the node at the dialled address proved a key other
	// than the one the caller pinned. See *WrongPeerKeyError.
	ErrWrongPeerKey = errors.New("transport: peer presented the wrong key")
	// ErrBadCertificate means a peer's TLS certificate is not a single
	// self-signed Ed25519 certificate.
	ErrBadCertificate = errors.New("transport: peer certificate is not a self-signed Ed25519 certificate")
	// ErrUnknownProtocol means the peer has no handler of the right kind for
	// the protocol named in the stream header.
	ErrUnknownProtocol = errors.New("transport: peer does not serve this protocol")
	// ErrFrameTooLarge means a frame exceeds the frame size limit, ours or the
	// peer's. See *FrameTooLargeError.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrBadHeader means a stream header could not be decoded, or the peer
	// said it could not decode ours.
	ErrBadHeader = errors.New("transport: malformed stream header")
	// ErrBadProtocol means a protocol name is empty, too long or has bytes
	// outside [A-Za-z0-9._/-].
	ErrBadProtocol = errors.New("transport: invalid protocol name")
	// ErrProtocolViolation means the peer broke the stream protocol: extra
	// bytes after a request, a truncated frame, an unknown status byte.
	ErrProtocolViolation = errors.New("transport: protocol violation")
	// ErrRemote means the peer's handler returned an error. See *RemoteError.
	ErrRemote = errors.New("transport: remote handler failed")
	// ErrPeerClosed means the peer closed the connection or is shutting down
	// and refused the stream. Another peer, or the same one later, may work.
	ErrPeerClosed = errors.New("transport: peer closed the connection")
	// ErrStreamReset means the peer abandoned the stream (it stopped reading,
	// gave up waiting, or its handler failed) without a more specific reason.
	ErrStreamReset = errors.New("transport: stream reset by peer")
	// ErrBadKey means a key passed to the transport has the wrong length.
	ErrBadKey = errors.New("transport: invalid key")
)

// WrongPeerKeyError says who answered instead of the pinned peer.
type WrongPeerKeyError struct {
	Addr     string
	Expected ed25519.PublicKey
	Actual   ed25519.PublicKey
}

func (e *WrongPeerKeyError) Error() string {
	return fmt.Sprintf("transport: peer at %s has key %s, expected %s",
		e.Addr, hex.EncodeToString(e.Actual), hex.EncodeToString(e.Expected))
}

// Is makes errors.Is(err, ErrWrongPeerKey) true.
func (e *WrongPeerKeyError) Is(target error) bool { return target == ErrWrongPeerKey }

// FrameTooLargeError reports a frame above the size limit. Size is zero when
// the peer rejected our frame, since it does not tell us its limit.
type FrameTooLargeError struct {
	Size  uint64
	Limit int
	// Remote is true when the peer refused a frame we sent.
	Remote bool
}

func (e *FrameTooLargeError) Error() string {
	if e.Remote {
		return "transport: peer rejected a frame above its size limit"
	}
	return fmt.Sprintf("transport: frame of %d bytes exceeds the limit of %d", e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrFrameTooLarge) true.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// RemoteError is a handler error carried back to the requester. Message is
// the handler's err.Error(), cut to maxErrorMessage bytes; it is text chosen
// by the remote peer and must be treated as untrusted.
type RemoteError struct {
	Proto   string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("transport: remote handler for %q failed: %s", e.Proto, e.Message)
}

// Is makes errors.Is(err, ErrRemote) true.
func (e *RemoteError) Is(target error) bool { return target == ErrRemote }

// maxErrorMessage caps the handler error text sent to a requester.
const maxErrorMessage = 1024

// QUIC stream and connection error codes of the borgios/1 protocol. A stream
// reset is the only out-of-band signal QUIC gives us, so refusals travel as
// reset codes instead of extra status bytes: that way even a pure writer
// (an upload) learns at once why the peer stopped it.
const (
	codeNoError         = 0 // normal close; connections close with it too
	codeCanceled        = 1 // the opener gave up (its context ended)
	codeUnknownProtocol = 2
	codeBadHeader       = 3
	codeFrameTooLarge   = 4
	codeShuttingDown    = 5 // the acceptor is draining and takes no new streams
	codeInternal        = 6 // a stream handler panicked
	codeProtocol        = 7 // some other violation of the stream protocol
)

// reset aborts both directions of s with code.
func reset(s *quic.Stream, code quic.StreamErrorCode) {
	s.CancelRead(code)
	s.CancelWrite(code)
}

// mapErr turns quic-go errors on a stream or connection into this package's
// errors, keeping the original in the chain for logs.
func (t *Transport) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		switch se.ErrorCode {
		case codeUnknownProtocol:
			return fmt.Errorf("%w: %w", ErrUnknownProtocol, err)
		case codeBadHeader:
			return fmt.Errorf("%w: peer could not decode it: %w", ErrBadHeader, err)
		case codeFrameTooLarge:
			return &FrameTooLargeError{Remote: true}
		case codeShuttingDown:
			return fmt.Errorf("%w: peer is shutting down: %w", ErrPeerClosed, err)
		case codeProtocol:
			return fmt.Errorf("%w: peer says: %w", ErrProtocolViolation, err)
		default:
			return fmt.Errorf("%w: %w", ErrStreamReset, err)
		}
	}
	if t.isClosing() {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote && ae.ErrorCode == codeNoError {
		return fmt.Errorf("%w: %w", ErrPeerClosed, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("transport: %w", err)
}
