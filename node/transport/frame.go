package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Stream preamble, written by the side that opens a stream:
//
//	byte   version (headerVersion)
//	byte   kind    (kindRequest, kindMessage, kindStream, kindGoAway)
//	byte   n       length of the protocol name, 1..MaxProtocolLen (0 for kindGoAway)
//	n      protocol name, bytes from [A-Za-z0-9._/-]
//
// A request or message follows with exactly one frame and the opener's FIN.
// A request is answered with one status byte, one frame and the acceptor's
// FIN. A stream carries whatever its protocol defines. A goaway stream is
// the bare header and FIN: its sender is shutting down, and asks the peer to
// open no more streams on this connection and to close the connection once
// its own streams on it are done (QUIC cannot flush and close in one step,
// so the side that read the last answer must be the one to close).
//
// A frame is a big-endian u32 length followed by that many bytes.
const (
	headerVersion = 1

	// MaxProtocolLen is the longest protocol name a stream header can carry.
	MaxProtocolLen = 64

	// DefaultMaxFrame is the frame size limit used when Config.MaxFrame is 0.
	DefaultMaxFrame = 4 << 20

	// maxFrameLimit is the largest MaxFrame a Config may ask for: the u32
	// length prefix cannot say more, and above this a single frame is no
	// longer a message but a transfer that belongs on a Stream.
	maxFrameLimit = 1 << 30

	frameHeaderLen = 4

	// initialFrameChunk bounds the first allocation for an incoming frame.
	// The buffer then doubles only as bytes actually arrive, so a peer that
	// announces a large frame and sends little costs us little.
	initialFrameChunk = 64 << 10
)

type kind byte

const (
	kindRequest kind = 1 // one frame in, status and one frame back
	kindMessage kind = 2 // one frame in, nothing back (Send)
	kindStream  kind = 3 // free-form, handed to a StreamHandler
	kindGoAway  kind = 4 // the sender is shutting down; no protocol name
)

func (k kind) String() string {
	switch k {
	case kindRequest:
		return "request"
	case kindMessage:
		return "message"
	case kindStream:
		return "stream"
	case kindGoAway:
		return "goaway"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Response status byte, sent by the acceptor of a request before its frame.
const (
	statusOK    = 0
	statusError = 1 // the frame carries the handler's error message
)

// header is the decoded stream preamble.
type header struct {
	kind  kind
	proto string
}

// validProtocol reports why name cannot be used as a protocol name, or nil.
func validProtocol(name string) error {
	if len(name) == 0 || len(name) > MaxProtocolLen {
		return fmt.Errorf("%w: name length %d not in 1..%d", ErrBadProtocol, len(name), MaxProtocolLen)
	}
	for i := 0; i < len(name); i++ {
		if !protoByte(name[i]) {
			return fmt.Errorf("%w: byte %#02x at %d in %q", ErrBadProtocol, name[i], i, name)
		}
	}
	return nil
}

func protoByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '/' || c == '-'
}

// appendHeader appends the preamble for (k, proto). proto must be valid, or
// empty for kindGoAway.
func appendHeader(dst []byte, k kind, proto string) []byte {
	dst = append(dst, headerVersion, byte(k), byte(len(proto)))
	return append(dst, proto...)
}

// readHeader decodes a stream preamble. Every failure wraps ErrBadHeader,
// except a stream that ends before its first byte, which returns io.EOF.
func readHeader(r io.Reader) (header, error) {
	var fixed [3]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return header{}, io.EOF
		}
		return header{}, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	if fixed[0] != headerVersion {
		return header{}, fmt.Errorf("%w: unsupported version %d", ErrBadHeader, fixed[0])
	}
	k := kind(fixed[1])
	n := int(fixed[2])
	switch k {
	case kindRequest, kindMessage, kindStream:
	case kindGoAway:
		if n != 0 {
			return header{}, fmt.Errorf("%w: goaway with a protocol name", ErrBadHeader)
		}
		return header{kind: k}, nil
	default:
		return header{}, fmt.Errorf("%w: unknown stream kind %d", ErrBadHeader, fixed[1])
	}
	if n == 0 || n > MaxProtocolLen {
		return header{}, fmt.Errorf("%w: protocol name length %d not in 1..%d", ErrBadHeader, n, MaxProtocolLen)
	}
	var name [MaxProtocolLen]byte
	if _, err := io.ReadFull(r, name[:n]); err != nil {
		return header{}, fmt.Errorf("%w: protocol name: %w", ErrBadHeader, noEOF(err))
	}
	proto := string(name[:n])
	if err := validProtocol(proto); err != nil {
		return header{}, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	return header{kind: k, proto: proto}, nil
}

// appendFrame appends p as one frame.
func appendFrame(dst, p []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...)
}

// readFrame reads one frame of at most limit bytes into a new buffer.
// It returns io.EOF only when the stream ends cleanly before a frame starts.
// A length above limit returns a *FrameTooLargeError before anything is
// allocated.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	return readFrameInto(r, limit, nil)
}

// readFrameInto is readFrame reusing buf's storage when it is big enough.
func readFrameInto(r io.Reader, limit int, buf []byte) ([]byte, error) {
	var lb [frameHeaderLen]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("transport: reading frame length: %w", err)
	}
	return readPayload(r, binary.BigEndian.Uint32(lb[:]), limit, buf)
}

// readPayload reads the n bytes of a frame whose length has been read.
func readPayload(r io.Reader, n uint32, limit int, buf []byte) ([]byte, error) {
	if uint64(n) > uint64(limit) {
		return nil, &FrameTooLargeError{Size: uint64(n), Limit: limit}
	}
	size := int(n)
	if cap(buf) >= size {
		// The caller's memory: nothing new to be tricked into spending.
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("transport: frame of %d bytes truncated: %w", size, noEOF(err))
		}
		return buf, nil
	}
	buf = make([]byte, min(size, max(initialFrameChunk, cap(buf))))
	got := 0
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return nil, fmt.Errorf("transport: frame truncated after %d of %d bytes: %w", got, size, noEOF(err))
		}
		if got == size {
			return buf, nil
		}
		// Grow only after the previous buffer has been filled with real
		// data: memory follows what the peer sent (at most 4x plus the
		// first chunk), not what it promised. Growing 4x at a time keeps
		// the copying to a third of the frame.
		next := make([]byte, min(4*len(buf), size))
		copy(next, buf)
		buf = next
	}
}

// readResponse decodes the answer to a request: a status byte, one frame
// and the end of the stream. ok is false when the frame is the handler's
// error message.
func readResponse(r io.Reader, limit int) (ok bool, payload []byte, err error) {
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: stream ended without a response", ErrProtocolViolation)
		}
		return false, nil, err
	}
	if status[0] != statusOK && status[0] != statusError {
		return false, nil, fmt.Errorf("%w: unknown response status %d", ErrProtocolViolation, status[0])
	}
	payload, err = readFrame(r, limit)
	if err == io.EOF {
		err = fmt.Errorf("%w: response status without a frame", ErrProtocolViolation)
	}
	if err == nil {
		err = expectEOF(r)
	}
	if err != nil {
		return false, nil, err
	}
	return status[0] == statusOK, payload, nil
}

// expectEOF reads the end of a stream that must carry nothing more.
func expectEOF(r io.Reader) error {
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: data after the last frame", ErrProtocolViolation)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// noEOF turns a bare io.EOF in the middle of a structure into
// io.ErrUnexpectedEOF, so callers never mistake a cut-off frame for a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writeFrame writes p as one frame after prefix (which may be empty).
// Small frames go out in one Write so that a request usually fits one packet;
// large ones are not copied.
func writeFrame(w io.Writer, prefix, p []byte) error {
	const copyBelow = 16 << 10
	if len(p) <= copyBelow {
		buf := make([]byte, 0, len(prefix)+frameHeaderLen+len(p))
		buf = append(buf, prefix...)
		_, err := w.Write(appendFrame(buf, p))
		return err
	}
	head := binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), uint32(len(p)))
	if _, err := w.Write(head); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}
