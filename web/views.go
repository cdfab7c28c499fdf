package web

import "strconv"

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
	// Detail is what the endpoint pool knows; nil when not connected.
	Detail *NetworkDetail
}

// NetworkDetail is the Network page beyond the health summary.
type NetworkDetail struct {
	Clock     ClockView
	Cells     []CellCount
	Endpoints []EndpointView
	Tree      TreeView
}

// ClockView is this computer's clock against network time.
type ClockView struct {
	Offset   string // e.g. "+1.2 ms", or "—"
	Note     string
	Measured bool
}

// CellCount is how many live endpoints serve one cell type.
type CellCount struct {
	Name string
	Live int
}

// EndpointView is one node the conduit talks to, with its traffic.
type EndpointView struct {
	Key, Short, Addr string
	Cells            string // cell names, comma-separated
	InUse            string // cells whose requests go here first
	Latency          string
	Down             bool
	// Up and DownRate are bytes per second in words; Sent and Received
	// are totals.
	Up, DownRate, Sent, Received string
}

// TreeView is a cell's tree laid out for an SVG picture: coordinates are
// in the picture's own units (0..Width, 0..Height).
type TreeView struct {
	Cell  string
	Cells []string // cells whose trees can be drawn
	// Pending: the first crawl has not finished; the page script fetches
	// the picture when it has.
	Pending       bool
	Truncated     bool
	Width, Height int
	Nodes         []TreeNode // depth-first, parents before children
	Edges         []TreeEdge
	// Answered nodes answered the crawl; Unreachable were named by a
	// parent but did not; MineCount are this conduit's endpoints.
	Answered, Unreachable, MineCount, Depth int
	// Drawn, when set, is NetworkTree's output for this tree rendered
	// earlier by the conduit (which keeps it until the tree changes); the
	// page includes it as is instead of drawing the picture again.
	Drawn string
}

// TreeNode is one node in the picture.
type TreeNode struct {
	Key, Short, Addr string
	Parent           string // short key, empty for a root
	X, Y, Depth      int
	Children         int
	Root             bool
	// Mine: the conduit's pool uses this node. InUse: requests go to it
	// first for some cell.
	Mine, InUse, Unreachable bool
}

// TreeEdge joins a parent (X1, Y1) to a child (X2, Y2).
type TreeEdge struct {
	X1, Y1, X2, Y2 int
	Mine           bool // both ends are the conduit's endpoints
}

// Class is the node's CSS classes in the picture.
func (n TreeNode) Class() string {
	c := "tnode"
	if n.Root {
		c += " tnode-root"
	}
	if n.Mine {
		c += " tnode-mine"
	}
	if n.InUse {
		c += " tnode-inuse"
	}
	if n.Unreachable {
		c += " tnode-lost"
	}
	return c
}

// Label is the node in words, for screen readers and the text list.
func (n TreeNode) Label() string {
	s := "Node " + n.Short
	if n.Addr != "" {
		s += " at " + n.Addr
	}
	if n.Root {
		s += ", the root"
	} else if n.Parent != "" {
		s += ", depth " + strconv.Itoa(n.Depth) + ", child of " + n.Parent
	}
	if n.Children > 0 {
		s += ", " + strconv.Itoa(n.Children) + " children"
	}
	switch {
	case n.Unreachable:
		s += ", did not answer"
	case n.InUse:
		s += ", yours, in use"
	case n.Mine:
		s += ", yours"
	}
	return s
}

// Rate says bytes per second the way a person reads it.
func Rate(bps float64) string {
	if bps < 1 {
		return "0 B/s"
	}
	return Bytes(int64(bps)) + "/s"
}

// Bytes says a byte count in B, kB, MB or GB (powers of 1000).
func Bytes(n int64) string {
	f := float64(n)
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10) + " B"
	case f < 1e6:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + " kB"
	case f < 1e9:
		return strconv.FormatFloat(f/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(f/1e9, 'f', 2, 64) + " GB"
}

// SettingsView holds the lock controls, the key file and the nodes the
// person owns.
type SettingsView struct {
	Page
	// IdleLock is the idle auto-lock delay in words, e.g. "15 minutes".
	IdleLock string
	// CanSaveKeyFile: the conduit can write the key file onto the stick
	// (portable mode); otherwise the file is downloaded.
	CanSaveKeyFile bool
	KeyFileNotice  string
	KeyFileError   string
	Nodes          NodesView
}

// NodesView is "Nodes I own": the binding flow and the nodes bound.
type NodesView struct {
	// Request is the pasted binding request, put back into the form.
	Request string
	// Review is set when a request has been read and waits for the
	// owner's confirmation.
	Review *BindingReview
	// Completed is the binding to paste back into the node.
	Completed string
	Error     string
	Owned     []OwnedNode
	// Earnings says whether reward history was available.
	EarningsNote string
}

// BindingReview shows what the owner is about to sign.
type BindingReview struct {
	NodeKey string // hex
	Owner   string // the owner's address
	Genesis string // hex, short
	// GenesisNote warns when the request is for another network.
	GenesisNote string
}

// OwnedNode is one node bound to the person.
type OwnedNode struct {
	Key      string
	Short    string
	BoundAt  string // when this conduit countersigned; "" when only seen on the ledger
	Earnings string // shells received from it, per the ledger history
	Payouts  int
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
