package registry

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/borgios/borgios/node/wire"
)

// Wire constants of the registry cell.
const (
	// CellName is the registry cell's name and the Cell of its envelopes.
	CellName = "registry"
	// KindEntry is the envelope kind of a signed entry.
	KindEntry = "entry"

	// MaxEntrySize bounds one signed entry: every member stores and forwards
	// every entry, so entries must stay small.
	MaxEntrySize = 2048
	// MaxAddrs and MaxCells bound the lists in an entry.
	MaxAddrs = 8
	MaxCells = 32
	// maxAddrLen bounds one "host:port".
	maxAddrLen = 128
	// MaxLoad is a load of 100%, in permille.
	MaxLoad = 1000
)

// Reachability says how others can reach a node, as the node's NAT
// detection (node/relay) found it: a peer dialled it back at the address it
// observed (Public), or none could (NAT: its Addrs are then relayed
// addresses, "r-RELAYKEY.HOST:PORT", see transport.RelayAddr).
type Reachability uint8

// Reachability values.
const (
	ReachUnknown Reachability = iota
	ReachPublic               // answers unsolicited packets on its addresses
	ReachNAT                  // behind NAT; reachable through a relay or hole punching
	maxReach     = ReachNAT
)

// CellRef names a cell type a node runs.
type CellRef struct {
	Name    string `cbor:"1,keyasint"`
	Version int    `cbor:"2,keyasint"`
}

// Entry is one node's signed description of itself. The signed bytes are
// the truth; the fields are a decoded view of them.
type Entry struct {
	// Node is the key of the node described, which also signed the entry.
	Node ed25519.PublicKey
	// Addrs are UDP "host:port" endpoints of the node's transport.
	Addrs []string
	// Cells are the cell types the node runs, sorted by name then version.
	Cells []CellRef
	// Load is the node's own load estimate in permille (0..1000).
	Load uint16
	// Reach is how the node can be reached (Config.Reach).
	Reach Reachability
	// IssuedAt is the network time (Unix ms) the node signed the entry at;
	// it equals the envelope's time.
	IssuedAt int64
	// Seq orders a node's entries: a receiver keeps only the highest.
	Seq uint64
	// ExpiresAt is the network time (Unix ms) after which the entry is void.
	ExpiresAt int64

	// RTT is NOT signed: the round trip the answering node measured to this
	// node itself, zero when it never talked to it. Advisory only.
	RTT time.Duration

	raw []byte
}

// entryWire is the signed payload.
type entryWire struct {
	Node      []byte       `cbor:"1,keyasint"`
	Addrs     []string     `cbor:"2,keyasint"`
	Cells     []CellRef    `cbor:"3,keyasint"`
	Load      uint16       `cbor:"4,keyasint"`
	Reach     Reachability `cbor:"5,keyasint"`
	IssuedAt  int64        `cbor:"6,keyasint"`
	Seq       uint64       `cbor:"7,keyasint"`
	ExpiresAt int64        `cbor:"8,keyasint"`
}

// Raw returns the entry's exact signed envelope, to forward unchanged. The
// slice must not be modified.
func (e *Entry) Raw() []byte { return e.raw }

// Serves reports whether the entry lists cell name (any version).
func (e *Entry) Serves(name string) bool {
	for _, c := range e.Cells {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Key returns the node key as a map key.
func (e *Entry) Key() [ed25519.PublicKeySize]byte { return [ed25519.PublicKeySize]byte(e.Node) }

func (e *Entry) String() string {
	return fmt.Sprintf("entry{%s seq=%d addrs=%v cells=%v load=%d issued=%d expires=%d}",
		hex.EncodeToString(e.Node[:4]), e.Seq, e.Addrs, e.Cells, e.Load, e.IssuedAt, e.ExpiresAt)
}

// Seal signs an entry about the key's own node. Node and IssuedAt are
// taken from key and the envelope time (issuedAt), so the two can never
// disagree; cells are sorted into their canonical order.
func Seal(key ed25519.PrivateKey, network string, e Entry) (*Entry, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("registry: seal entry: %w", wire.ErrInvalidKey)
	}
	e.Node = key.Public().(ed25519.PublicKey)
	e.Cells = slices.Clone(e.Cells)
	slices.SortFunc(e.Cells, compareCells)
	if err := checkFields(&e); err != nil {
		return nil, fmt.Errorf("registry: seal entry: %w", err)
	}
	payload, err := wire.Marshal(entryWire{Node: e.Node, Addrs: e.Addrs, Cells: e.Cells, Load: e.Load,
		Reach: e.Reach, IssuedAt: e.IssuedAt, Seq: e.Seq, ExpiresAt: e.ExpiresAt})
	if err != nil {
		return nil, fmt.Errorf("registry: seal entry: %w", err)
	}
	raw, err := wire.Seal(key, wire.Header{Network: network, Cell: CellName, Kind: KindEntry, Time: e.IssuedAt}, payload)
	if err != nil {
		return nil, fmt.Errorf("registry: seal entry: %w", err)
	}
	if len(raw) > MaxEntrySize {
		return nil, fmt.Errorf("registry: seal entry: %w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxEntrySize)
	}
	e.raw = raw
	e.RTT = 0
	return &e, nil
}

// Policy is what a receiver accepts, beyond a valid signature.
type Policy struct {
	// MaxTTL is the longest lifetime (ExpiresAt - IssuedAt) accepted: it is
	// what bounds how long a dead node can linger, whatever it signed.
	MaxTTL time.Duration
	// MaxSkew is how far ahead of our network time an entry may be issued.
	MaxSkew time.Duration
}

// Default policy values.
const (
	DefaultMaxTTL  = 2 * time.Minute
	DefaultMaxSkew = 10 * time.Second
)

func (p Policy) withDefaults() Policy {
	if p.MaxTTL <= 0 {
		p.MaxTTL = DefaultMaxTTL
	}
	if p.MaxSkew <= 0 {
		p.MaxSkew = DefaultMaxSkew
	}
	return p
}

// Verify checks raw signed entry bytes from anywhere (a dump, a lookup
// answer, a file) as of network time now: structure, network, signature,
// signer = described node, field rules, freshness and lifetime. It needs no
// shared state, so an entry can be checked again wherever it travels; the
// replay cache of the node's Verifier is deliberately not used, since the
// same entry legitimately arrives many times.
func Verify(raw []byte, network string, now int64, p Policy) (*Entry, error) {
	p = p.withDefaults()
	if len(raw) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxEntrySize)
	}
	// A private verifier whose window admits every entry that could still
	// be valid; Check below applies the exact freshness rules.
	v := wire.NewVerifier(wire.Config{Network: network, Now: func() int64 { return now },
		Window: p.MaxTTL + p.MaxSkew, MaxSize: MaxEntrySize, ReplayCapacity: 1})
	env, err := v.Verify(raw)
	if err != nil {
		switch {
		case errors.Is(err, wire.ErrBadSignature), errors.Is(err, wire.ErrPayloadTampered):
			return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
		case errors.Is(err, wire.ErrTooOld):
			return nil, fmt.Errorf("%w: %w", ErrExpired, err)
		case errors.Is(err, wire.ErrFromFuture):
			return nil, fmt.Errorf("%w: %w", ErrFuture, err)
		case errors.Is(err, wire.ErrOversize):
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return Check(env, now, p)
}

// Check validates an envelope whose signature was already verified (a
// delivered broadcast) as an entry, as of network time now.
func Check(env *wire.Envelope, now int64, p Policy) (*Entry, error) {
	p = p.withDefaults()
	raw := env.Bytes()
	if len(raw) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxEntrySize)
	}
	if env.Cell != CellName || env.Kind != KindEntry || env.IsAnswer() {
		return nil, fmt.Errorf("%w: envelope %s/%s is not an entry", ErrMalformed, env.Cell, env.Kind)
	}
	e, err := decodePayload(env.Payload)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(e.Node, env.Sender) {
		return nil, fmt.Errorf("%w: entry for %x signed by %x", ErrForged, e.Node[:4], []byte(env.Sender)[:4])
	}
	if e.IssuedAt != env.Time {
		return nil, fmt.Errorf("%w: issued at %d but signed at %d", ErrMalformed, e.IssuedAt, env.Time)
	}
	if err := checkTimes(e, now, p); err != nil {
		return nil, err
	}
	e.raw = raw
	return e, nil
}

func checkTimes(e *Entry, now int64, p Policy) error {
	if e.ExpiresAt <= now {
		return fmt.Errorf("%w: expired at %d, now %d", ErrExpired, e.ExpiresAt, now)
	}
	if e.IssuedAt > now && e.IssuedAt-now > p.MaxSkew.Milliseconds() {
		return fmt.Errorf("%w: issued at %d, %d ms after now", ErrFuture, e.IssuedAt, e.IssuedAt-now)
	}
	if life := e.ExpiresAt - e.IssuedAt; life > p.MaxTTL.Milliseconds() {
		return fmt.Errorf("%w: %d ms, limit %v", ErrLifetime, life, p.MaxTTL)
	}
	return nil
}

// decodePayload decodes and checks an entry payload; the fuzz target's
// subject.
func decodePayload(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrTooLarge, len(b))
	}
	var w entryWire
	if err := wire.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	e := &Entry{Node: w.Node, Addrs: w.Addrs, Cells: w.Cells, Load: w.Load, Reach: w.Reach,
		IssuedAt: w.IssuedAt, Seq: w.Seq, ExpiresAt: w.ExpiresAt}
	if err := checkFields(e); err != nil {
		return nil, err
	}
	return e, nil
}

var cellName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,23}$`)

// checkFields applies the rules every entry obeys, independent of time.
func checkFields(e *Entry) error {
	if len(e.Node) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: node key of %d bytes", ErrMalformed, len(e.Node))
	}
	if len(e.Addrs) == 0 {
		return fmt.Errorf("%w: no address", ErrMalformed)
	}
	if len(e.Addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addresses, limit %d", ErrTooLarge, len(e.Addrs), MaxAddrs)
	}
	for i, a := range e.Addrs {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("%w: address %d: %v", ErrMalformed, i, err)
		}
		if slices.Contains(e.Addrs[:i], a) {
			return fmt.Errorf("%w: address %q twice", ErrMalformed, a)
		}
	}
	if len(e.Cells) == 0 {
		return fmt.Errorf("%w: no cell", ErrMalformed)
	}
	if len(e.Cells) > MaxCells {
		return fmt.Errorf("%w: %d cells, limit %d", ErrTooLarge, len(e.Cells), MaxCells)
	}
	for i, c := range e.Cells {
		if !cellName.MatchString(c.Name) || c.Version < 1 || c.Version > 1<<20 {
			return fmt.Errorf("%w: cell %q version %d", ErrMalformed, c.Name, c.Version)
		}
		// Strictly ascending: one encoding per set, no duplicates.
		if i > 0 && compareCells(e.Cells[i-1], c) >= 0 {
			return fmt.Errorf("%w: cells not sorted or repeated at %q", ErrMalformed, c.Name)
		}
	}
	if e.Load > MaxLoad {
		return fmt.Errorf("%w: load %d > %d", ErrMalformed, e.Load, MaxLoad)
	}
	if e.Reach > maxReach {
		return fmt.Errorf("%w: reachability %d", ErrMalformed, e.Reach)
	}
	if e.Seq == 0 {
		return fmt.Errorf("%w: zero sequence", ErrMalformed)
	}
	if e.ExpiresAt <= e.IssuedAt {
		return fmt.Errorf("%w: expires at %d, not after issue %d", ErrMalformed, e.ExpiresAt, e.IssuedAt)
	}
	return nil
}

func compareCells(a, b CellRef) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
}

// checkAddr accepts "host:port" with a non-zero port and, for IP hosts, an
// address someone else could actually send to.
func checkAddr(a string) error {
	if len(a) > maxAddrLen {
		return fmt.Errorf("%d bytes", len(a))
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return fmt.Errorf("port %q", port)
	}
	if host == "" {
		return errors.New("empty host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "" {
			return fmt.Errorf("unusable IP %s", ip)
		}
		return nil
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("host %q", host)
		}
	}
	return nil
}
