package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"
)

const (
	// DefaultWindow is how far an envelope's time may lie from the
	// verifier's network time, in either direction.
	DefaultWindow = 30 * time.Second

	// DefaultReplayCapacity bounds the replay cache. A live entry costs
	// about 100 bytes (measured), so a full default cache holds about
	// 100 MB. An entry lives about one window, so the default only fills
	// under a sustained ~30 000 verified envelopes/s, more than a small
	// node can verify.
	DefaultReplayCapacity = 1 << 20
)

// Config configures a Verifier. The zero value of each field except
// Network selects its default.
type Config struct {
	// Network is the only network ID accepted. It must be set: an empty
	// Network rejects everything, since no envelope can carry an empty one.
	Network string
	// Window is the allowed distance between an envelope's time and Now;
	// it also decides how long nonces stay in the replay cache.
	Window time.Duration
	// MaxSize is the largest envelope accepted, in bytes.
	MaxSize int
	// Now returns network time in Unix milliseconds. It is the verifier's
	// only clock. When nil, time.Now is used until crono supplies network
	// time.
	Now func() int64
	// ReplayCapacity is the maximum number of live (sender, nonce) entries.
	ReplayCapacity int
}

// Verifier checks envelopes received from the network: structure, size,
// network, time window, signature, payload digest and replay. It is safe
// for concurrent use; one Verifier per network per process, shared by all
// cells, so a replay is caught whichever cell it is sent to.
type Verifier struct {
	network  string
	windowMs int64
	maxSize  int
	now      func() int64
	replay   *replayCache
}

// NewVerifier returns a Verifier for cfg, filling defaults.
func NewVerifier(cfg Config) *Verifier {
	v := &Verifier{
		network:  cfg.Network,
		windowMs: cfg.Window.Milliseconds(),
		maxSize:  cfg.MaxSize,
		now:      cfg.Now,
	}
	if cfg.Window <= 0 {
		v.windowMs = DefaultWindow.Milliseconds()
	} else if v.windowMs == 0 {
		v.windowMs = 1
	}
	if v.maxSize <= 0 {
		v.maxSize = DefaultMaxSize
	}
	if v.now == nil {
		v.now = func() int64 { return time.Now().UnixMilli() }
	}
	capacity := cfg.ReplayCapacity
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	v.replay = newReplayCache(capacity, v.windowMs)
	return v
}

// Verify is the one function that turns bytes from the network into a
// trusted Envelope. Checks run cheapest first so that junk is refused
// before any hashing or curve arithmetic: size, structure, network, time,
// replay lookup, then the signature, then the payload digest. The nonce is
// recorded only once everything passed, so a forged or tampered copy seen
// first cannot block the genuine envelope.
func (v *Verifier) Verify(b []byte) (*Envelope, error) {
	e, err := Decode(b, v.maxSize)
	if err != nil {
		return nil, err
	}
	if e.Network != v.network {
		return nil, fmt.Errorf("%w: envelope for %q, verifier for %q", ErrWrongNetwork, e.Network, v.network)
	}
	now := v.now()
	if err := checkTime(e.Time, now, v.windowMs); err != nil {
		return nil, err
	}
	key := makeReplayKey(e)
	if v.replay.contains(key) {
		return nil, fmt.Errorf("%w: sender %s nonce %x", ErrReplay, shortHex(e.Sender), e.Nonce)
	}
	hash := signingHash(e.raw[:e.hdrLen])
	if !ed25519.Verify(e.Sender, hash[:], e.Sig[:]) {
		return nil, fmt.Errorf("%w: sender %s kind %q", ErrBadSignature, shortHex(e.Sender), e.Kind)
	}
	if sha256.Sum256(e.Payload) != e.digest {
		return nil, fmt.Errorf("%w: sender %s kind %q, %d payload bytes", ErrPayloadTampered, shortHex(e.Sender), e.Kind, len(e.Payload))
	}
	if err := v.replay.add(key, e.Time, now); err != nil {
		return nil, fmt.Errorf("sender %s nonce %x: %w", shortHex(e.Sender), e.Nonce, err)
	}
	return e, nil
}

// ReplayLen returns the number of nonces the replay cache currently holds,
// for the monitor.
func (v *Verifier) ReplayLen() int { return v.replay.len() }

// Window returns the effective time window.
func (v *Verifier) Window() time.Duration { return time.Duration(v.windowMs) * time.Millisecond }

// checkTime compares in uint64 so that extreme times (a hostile sender may
// write any int64) cannot overflow into acceptance.
func checkTime(t, now, windowMs int64) error {
	if t < now {
		if uint64(now)-uint64(t) > uint64(windowMs) {
			return fmt.Errorf("%w: time %d is %d ms before now %d, window %d ms", ErrTooOld, t, uint64(now)-uint64(t), now, windowMs)
		}
		return nil
	}
	if uint64(t)-uint64(now) > uint64(windowMs) {
		return fmt.Errorf("%w: time %d is %d ms after now %d, window %d ms", ErrFromFuture, t, uint64(t)-uint64(now), now, windowMs)
	}
	return nil
}
