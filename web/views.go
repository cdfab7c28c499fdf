package web

// The view models below are everything the pages know. The conduit fills
// them from its vault and network interfaces; keeping them here, as plain
// values, is what lets web render without importing anything that talks
// to the network or holds keys.

// Nav names a top-level section, so the layout can mark the current one
// for screen readers (aria-current) and sighted users alike.
type Nav string

// The sections in the navigation. Files and Wallet (NavFiles, NavWallet)
// are shown only while unlocked and connected (Page.Connected); Mail joins
// when its part of the network exists. A section without a network is left
// out rather than shown with made-up data.
const (
	NavWelcome  Nav = "welcome"
	NavHome     Nav = "home"
	NavNetwork  Nav = "network"
	NavSettings Nav = "settings"
	NavMail     Nav = "mail"
)

// Page is the chrome every page shares.
type Page struct {
	Title    string
	Active   Nav
	Unlocked bool
	// Address is the unlocked identity's address, shown in the header.
	Address string
	// Connected says the conduit reaches a network, so the sections that
	// need one (Files, Wallet) are offered.
	Connected bool
	// NeedsKeys marks pages that only make sense unlocked; the page script
	// leaves them for the welcome page when the status stream says the
	// conduit has locked (idle lock, or a lock from another tab).
	NeedsKeys bool
	// Styles are extra stylesheets under /static/ a section brings with it
	// (for example "mail.css"), so sections do not all grow one file.
	Styles []string
}

// Health is the network's state in one word, used as a CSS modifier and
// matched by the page script.
type Health string

// Health values. Unknown is the honest answer until a network is plugged in.
const (
	HealthOK       Health = "ok"
	HealthDegraded Health = "degraded"
	HealthOffline  Health = "offline"
	HealthUnknown  Health = "unknown"
)

// Label is the word a person reads for h.
func (h Health) Label() string {
	switch h {
	case HealthOK:
		return "Healthy"
	case HealthDegraded:
		return "Degraded"
	case HealthOffline:
		return "Offline"
	default:
		return "Unknown"
	}
}

// NetworkView is the network's status as the pages show it.
type NetworkView struct {
	Health    Health
	Summary   string // one sentence a person can act on
	Mode      string // how the conduit reaches the network, e.g. "embedded node"
	Peers     int    // nodes the conduit is connected to
	NetworkID string
}

// WelcomeView is the start page while locked.
type WelcomeView struct {
	Page
	// Notice says why the conduit is locked (idle, locked by hand); empty
	// on a fresh start.
	Notice string
	// HasKeyFile offers unlocking with the key file's passphrase.
	HasKeyFile   bool
	KeyFileError string
}

// WordsView shows a freshly created phrase once, numbered.
type WordsView struct {
	Page
	Words []string
}

// ConfirmView asks for some words of the new phrase back.
type ConfirmView struct {
	Page
	// Positions are 1-based word numbers to ask for, ascending.
	Positions []int
	Error     string
}

// RestoreView is the form for typing a phrase to unlock or restore.
type RestoreView struct {
	Page
	// Phrase is put back into the form after a mistake so that one wrong
	// word does not mean typing 24 again. The passphrase never is.
	Phrase string
	Error  string
}

// HomeView is who I am and how things stand.
type HomeView struct {
	Page
	Address string
	QR      QR
	// Balance and Storage are "—" until the ledger and shard services
	// exist; the page says so rather than showing a made-up zero.
	Balance string
	Storage string
	Network NetworkView
}

// NetworkPageView is the network section.
type NetworkPageView struct {
	Page
	Network NetworkView
}

// SettingsView holds the lock controls.
type SettingsView struct {
	Page
	// IdleLock is the idle auto-lock delay in words, e.g. "15 minutes".
	IdleLock string
}

// UnpluggedView confirms the keys are gone.
type UnpluggedView struct {
	Page
}

// ErrorView is a page-level failure.
type ErrorView struct {
	Page
	Status  int
	Message string
}
