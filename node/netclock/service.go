package netclock

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/wire"
)

// Defaults for zero Config fields.
const (
	// DefaultMaxSkew is the time window of the crono cell's own verifier:
	// how far apart two nodes' clocks may be and still exchange crono
	// messages (see "Bootstrap" in doc.go for why it is wide and what it
	// costs).
	DefaultMaxSkew = 3 * time.Hour
	// DefaultStepThreshold: a synced node whose new parent's time differs
	// from its own by more than this is in another network's time (two
	// networks merged); it re-syncs with one step instead of slewing for
	// weeks.
	DefaultStepThreshold = time.Second
	// DefaultExchangeTimeout bounds one request/answer exchange.
	DefaultExchangeTimeout = 2 * time.Second
)

// Sentinel errors.
var (
	// ErrConfig: the Config is unusable.
	ErrConfig = errors.New("netclock: invalid config")
	// ErrStarted: Start was called twice on one Service.
	ErrStarted = errors.New("netclock: service already started")
	// ErrClosed: the Service was closed.
	ErrClosed = errors.New("netclock: service closed")
)

// Config configures a Service. The zero value is a node on the machine's
// own clock with crono's defaults.
type Config struct {
	// Local is the node's local monotonic clock. nil means
	// crono.NewSystemClock(). Tests inject crono.Skewed clocks.
	Local crono.LocalClock
	// Epoch is the Unix time (ns) at which Local read 0: the node's guess of
	// the time before it syncs. Zero means: the OS wall clock now, minus
	// Local's current reading (for the system clock, its Epoch).
	Epoch int64
	// Crono tunes the clock core; its Epoch field is ignored (use Epoch).
	Crono crono.Config
	// MaxSkew is the time window of the crono cell's verifier.
	MaxSkew time.Duration
	// StepThreshold: see DefaultStepThreshold. Negative disables.
	StepThreshold time.Duration
	// ExchangeTimeout bounds one sync exchange with the parent.
	ExchangeTimeout time.Duration
	// Registerer receives the crono metrics; nil disables them.
	Registerer prometheus.Registerer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Service is a node's network time: a crono.Clock fed by exchanges with the
// node's parent in the crono cell's tree. Now and NowNs are what every
// envelope timestamp and freshness check of the node uses.
type Service struct {
	cfg   Config
	local crono.LocalClock
	log   *slog.Logger
	met   *metrics

	mu  sync.Mutex
	clk *crono.Clock
	// learned: this node has taken its time from a parent at least once.
	// A node that is synced only because it was root from the start runs
	// on its own guess and must step, not slew, when it first gets a
	// parent (see SetParent in onView).
	learned bool
	parent  target // whom the poll loop asks; zero: nobody
	gen     uint64 // bumped on every parent change
	last    exchangeInfo

	wake chan struct{}

	runMu   sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// exchangeInfo is what the monitor shows of the latest exchange.
type exchangeInfo struct {
	at       time.Time
	rtt      time.Duration
	accepted bool
	err      string
}

// New returns a Service whose Now is the local estimate (Epoch + local)
// until the crono cell syncs it.
func New(cfg Config) (*Service, error) {
	if cfg.Local == nil {
		sys := crono.NewSystemClock()
		cfg.Local = sys
		if cfg.Epoch == 0 {
			cfg.Epoch = sys.Epoch()
		}
	}
	if cfg.Epoch == 0 {
		cfg.Epoch = time.Now().UnixNano() - cfg.Local.Monotonic()
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.MaxSkew < 0 {
		return nil, fmt.Errorf("%w: negative MaxSkew %v", ErrConfig, cfg.MaxSkew)
	}
	if cfg.StepThreshold == 0 {
		cfg.StepThreshold = DefaultStepThreshold
	}
	if cfg.ExchangeTimeout <= 0 {
		cfg.ExchangeTimeout = DefaultExchangeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cc := cfg.Crono
	cc.Epoch = cfg.Epoch
	clk, err := crono.New(cc)
	if err != nil {
		return nil, fmt.Errorf("netclock: %w", err)
	}
	s := &Service{
		cfg:   cfg,
		local: cfg.Local,
		log:   cfg.Logger.With("cell", DNA.Name),
		clk:   clk,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, s)
		if err != nil {
			return nil, fmt.Errorf("netclock: register metrics: %w", err)
		}
		s.met = m
	}
	return s, nil
}

// NowNs is network time in Unix ns. It never decreases once the node has
// synced (or become root); before that it is the node's own guess.
func (s *Service) NowNs() int64 {
	s.mu.Lock()
	v := s.clk.Now(s.local.Monotonic())
	s.mu.Unlock()
	return v
}

// Now is network time in Unix ms, as envelopes carry it: pass it as
// wire.Config.Now and cell.Host.Now.
func (s *Service) Now() int64 {
	return floorDiv(s.NowNs(), int64(time.Millisecond))
}

// Synced reports whether the node follows a root or is one.
func (s *Service) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clk.Synced()
}

// Status is the crono section of the node's monitor.
type Status struct {
	Synced bool `json:"synced"`
	Root   bool `json:"root"`
	// Parent is the hex key of the node polled for time.
	Parent  string `json:"parent,omitempty"`
	Stratum int    `json:"stratum"`
	// NetworkMs is network time when the status was taken.
	NetworkMs int64 `json:"network_ms"`
	// OffsetMs is the last measured difference between the parent's time
	// and ours, before correction.
	OffsetMs float64 `json:"offset_ms"`
	// CorrectionMs is what is still being slewed.
	CorrectionMs float64 `json:"correction_ms"`
	// ErrorMs bounds the error against the root.
	ErrorMs       float64 `json:"error_ms"`
	FrequencyPPM  float64 `json:"frequency_ppm"`
	LastRTTMs     float64 `json:"last_rtt_ms"`
	MinDelayMs    float64 `json:"min_delay_ms"`
	LastExchange  string  `json:"last_exchange,omitempty"`
	LastError     string  `json:"last_error,omitempty"`
	Accepted      uint64  `json:"samples_accepted"`
	Filtered      uint64  `json:"samples_filtered"`
	Jumps         uint64  `json:"forward_jumps"`
	Steps         uint32  `json:"steps"`
	EverFromTree  bool    `json:"learned_from_parent"`
	NetworkTimeNs int64   `json:"-"`
}

// Status reports the clock's state.
func (s *Service) Status() Status {
	s.mu.Lock()
	l := s.local.Monotonic()
	cs := s.clk.Status(l)
	now := s.clk.Now(l)
	last := s.last
	learned := s.learned
	s.mu.Unlock()
	st := Status{
		Synced:        cs.Synced,
		Root:          cs.Root,
		Parent:        cs.Parent,
		Stratum:       cs.Stratum,
		NetworkMs:     floorDiv(now, int64(time.Millisecond)),
		NetworkTimeNs: now,
		OffsetMs:      ms(cs.Offset),
		CorrectionMs:  ms(cs.Correction),
		ErrorMs:       ms(cs.EstimatedError),
		FrequencyPPM:  cs.Frequency,
		LastRTTMs:     ms(last.rtt),
		MinDelayMs:    ms(cs.MinDelay),
		LastError:     last.err,
		Accepted:      cs.Accepted,
		Filtered:      cs.Rejected,
		Jumps:         cs.Jumps,
		Steps:         cs.Steps,
		EverFromTree:  learned,
	}
	if cs.Root {
		st.Parent = ""
		st.Stratum = 0
	}
	if !last.at.IsZero() {
		st.LastExchange = last.at.UTC().Format(time.RFC3339Nano)
	}
	return st
}

// Verifier returns a verifier for the crono cell of network: the node's
// freshness rule on network time, but with the MaxSkew window so that a
// node whose clock is still hours off can reach its parent (doc.go,
// "Bootstrap"). Every other cell uses the node's ordinary verifier.
func (s *Service) Verifier(network string) *wire.Verifier {
	return wire.NewVerifier(wire.Config{
		Network: network,
		Window:  s.cfg.MaxSkew,
		Now:     s.Now,
		// Crono traffic is small (heartbeats and polls); this bounds the
		// cache at about 20 MB even if a flood fills it.
		ReplayCapacity: 1 << 18,
	})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
