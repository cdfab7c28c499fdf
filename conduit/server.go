package conduit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/web"
)

// Errors from New that callers tell apart.
var (
	// ErrNotLoopback: the listen address would expose the conduit beyond
	// this computer. The conduit holds the keys to a person's whole digital
	// life and authenticates the browser with a URL token, so it never
	// listens anywhere but loopback.
	ErrNotLoopback = errors.New("conduit: listen address is not loopback (127.0.0.1)")
	// ErrListenAddress: the listen address does not parse as host:port.
	ErrListenAddress = errors.New("conduit: bad listen address")
)

// Defaults for Config's zero values.
const (
	DefaultListen   = "127.0.0.1:0"
	DefaultIdleLock = 15 * time.Minute
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Listen is a loopback host:port; default 127.0.0.1:0 (any free port).
	Listen string
	// Faucet, when set (borgios demo only), gives the unlocked identity
	// demo shells, so the Wallet can be tried on a fresh identity. It
	// returns the amount sent; the person then receives it like any send.
	Faucet func(ctx context.Context, to ledger.AccountID) (ledger.Amount, error)
	// Network reports network status to the pages; default: "not
	// connected", until the embedded node plugs in here.
	Network NetworkStatus
	// Logger gets request refusals and failures, never secrets, phrases
	// or the URL query; default slog.Default().
	Logger *slog.Logger
	// IdleLock is how long without use before the keys are wiped; default
	// 15 minutes.
	IdleLock time.Duration
	// Clock is the time source for the idle lock; default time.Now.
	Clock func() time.Time
	// OnUnplug runs after Prepare to unplug has wiped the keys: the place
	// for the stick layer to flush, sync and remove what it can. Its
	// error is shown to the person, who should then not pull the stick.
	OnUnplug func(context.Context) error
	// ExitOnUnplug makes Run return after Prepare to unplug, so that the
	// binary no longer keeps the stick busy.
	ExitOnUnplug bool
	// KeyFile, if set, offers unlocking with the key file's passphrase
	// instead of the words.
	KeyFile KeyFileSource
	// StatusInterval is how often the live stream polls Network; default 5 s.
	StatusInterval time.Duration
}

// Server is the conduit's localhost web server. New binds the socket and
// makes the per-launch secret; Run serves until its context ends.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	port  string
	url   string // origin, http://127.0.0.1:PORT
	token string // per-launch secret, base64url of 32 random bytes

	// session is the cookie value: a second per-launch secret, so the
	// token in the printed URL and the cookie are independent.
	session    string
	cookieName string
	hosts      map[string]bool // accepted Host headers

	vault   *Vault
	handler http.Handler

	createMu sync.Mutex
	pending  *pendingCreate

	uploads uploads // progress of uploads in flight
	// treeMu serialises this conduit's changes to the file tree. Two
	// concurrent updates make node/files retry after a conflict, and a
	// retry that finds its own entry already in the tree treats it as a
	// replaced file and deletes the contents it just stored; one update at
	// a time avoids the conflict within one conduit.
	treeMu sync.Mutex

	genesisMu sync.Mutex
	genesis   *ledger.Genesis // fetched once from the network

	mailHeads mailHeads // opened mail headers, wiped at lock

	headsMu sync.Mutex
	heads   map[ledger.AccountID]uint64 // next block seq after the newest this conduit certified, per account

	rcptMu sync.Mutex
	rcpt   *Receipts // the unlocked person's delivery receipts
	// rcptGen counts locks, so receipts started before one never run
	// after it; rcptStarting is set while receipts are being started.
	rcptGen      uint64
	rcptStarting bool

	home homeFacts // the Home page's balance and storage, briefly cached

	netOnce sync.Once
	netSt   *netState // the Network page's tree crawls and drawings

	qrMu sync.Mutex
	qr   web.QR // of the last address shown (public, so kept across locks)

	done      chan struct{} // closed when Run begins shutting down
	doneOnce  sync.Once
	unplugged chan struct{}
	unplugOne sync.Once
}

// New validates cfg, binds the loopback socket and creates the secrets.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Network == nil {
		cfg.Network = notConnected
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IdleLock <= 0 {
		cfg.IdleLock = DefaultIdleLock
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 5 * time.Second
	}
	listen, err := loopbackListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	token, err := randomSecret()
	if err != nil {
		return nil, err
	}
	session, err := randomSecret()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("conduit: listening on %s: %w", listen, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	port := strconv.Itoa(addr.Port)
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		ln:      ln,
		port:    port,
		url:     "http://" + net.JoinHostPort(addr.IP.String(), port),
		token:   token,
		session: session,
		// Cookies are not isolated by port, so two conduits on one
		// computer (or a restart) must not overwrite each other's.
		cookieName: "borgios_session_" + port,
		hosts: map[string]bool{
			net.JoinHostPort(addr.IP.String(), port): true,
			"127.0.0.1:" + port:                      true,
			"localhost:" + port:                      true,
			"[::1]:" + port:                          true,
		},
		vault:     NewVault(cfg.IdleLock, cfg.Clock),
		done:      make(chan struct{}),
		unplugged: make(chan struct{}),
	}
	s.handler = s.routes()
	return s, nil
}

// loopbackListen accepts only loopback IP literals and "localhost", and
// returns the address to bind. A bare ":8080" or "0.0.0.0:8080" would
// listen on every interface, so it is refused rather than corrected.
func loopbackListen(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrListenAddress, listen, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%w %q: port must be a number from 0 to 65535", ErrListenAddress, listen)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("%w: %q; use 127.0.0.1:PORT", ErrNotLoopback, listen)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

func randomSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("conduit: making the session secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// URL is the address to open, with the per-launch secret: the first
// request with it gets the session cookie and is redirected to drop it.
func (s *Server) URL() string { return s.url + "/?token=" + s.token }

// Origin is the server's own origin, http://127.0.0.1:PORT.
func (s *Server) Origin() string { return s.url }

// Token is the per-launch secret, for API clients (Authorization: Bearer).
func (s *Server) Token() string { return s.token }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Vault is where the unlocked keys live; the signing client will use it.
func (s *Server) Vault() *Vault { return s.vault }

// Handler is the whole HTTP handler, security checks included.
func (s *Server) Handler() http.Handler { return s.handler }

// Unplugged is closed once Prepare to unplug has run.
func (s *Server) Unplugged() <-chan struct{} { return s.unplugged }

// Run serves until ctx ends (or, with ExitOnUnplug, until unplug), then
// wipes the keys and shuts down: live event streams are told to stop,
// requests in flight get a few seconds to finish.
func (s *Server) Run(ctx context.Context) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()

	// The idle lock must fire even when no request comes (browser closed,
	// person walked away), so a ticker checks; its period only bounds how
	// late the lock can be.
	tick := time.NewTicker(min(s.cfg.IdleLock/10, 10*time.Second))
	defer tick.Stop()
	var unplug <-chan struct{}
	if s.cfg.ExitOnUnplug {
		unplug = s.unplugged
	}
	var serveErr error
loop:
	for {
		select {
		case <-tick.C:
			if s.vault.CheckIdle() {
				s.afterLock()
				s.log.Info("conduit: locked after idle period", "idle", s.cfg.IdleLock)
			}
		case <-ctx.Done():
			break loop
		case <-unplug:
			break loop
		case serveErr = <-errc:
			break loop
		}
	}
	s.doneOnce.Do(func() { close(s.done) })
	s.vault.Lock(LockShutdown)
	s.afterLock()
	if serveErr != nil {
		return fmt.Errorf("conduit: serving: %w", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("conduit: shutting down: %w", err)
	}
	return nil
}
