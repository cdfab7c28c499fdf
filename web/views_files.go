package web

// Sections that exist only while unlocked and connected to a network.
const (
	NavFiles  Nav = "files"
	NavWallet Nav = "wallet"
)

// Crumb is one folder in the path shown above a listing.
type Crumb struct {
	Name string
	Path string
}

// FileRow is one entry of a folder listing.
type FileRow struct {
	Name  string
	Path  string
	Dir   bool
	Size  string // human size; empty for folders
	MTime string // "2006-01-02 15:04" UTC
	// Preview says how the file can be shown in the page: "image",
	// "audio", "video", "text", "pdf" or "" (download only).
	Preview string
}

// FilePreview is the file opened for viewing above the listing.
type FilePreview struct {
	Name string
	Path string
	Kind string // as FileRow.Preview
	// MediaURL serves the file inline with Range support.
	MediaURL string
	// Text is the start of a text file; Truncated says there is more.
	Text      string
	Truncated bool
}

// FilesView is one folder of the person's file tree.
type FilesView struct {
	Page
	Path    string
	Crumbs  []Crumb
	Entries []FileRow
	Preview *FilePreview
	Error   string
	Notice  string
}

// WalletItem is one line of the wallet history.
type WalletItem struct {
	Seq    uint64
	Kind   string // "sent", "received", "incoming", ...
	Amount string
	Fee    string
	Who    string // counterparty address
	State  string
}

// WalletView is the wallet: balance, pending incoming, send form and history.
type WalletView struct {
	Page
	Address string
	Balance string
	// Pending is the shells waiting to be received, "" when none.
	Pending string
	History []WalletItem
	Error   string
	Notice  string
	// To and Amount refill the send form after a mistake.
	To     string
	Amount string
}

// WalletConfirmView asks the person to confirm a send before it happens.
type WalletConfirmView struct {
	Page
	To      string
	Amount  string
	Balance string
}
