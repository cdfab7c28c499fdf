package web

import "strconv"

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
	// Earnings are the person's nodes' rewards, summed per node.
	Earnings []NodeEarning
	Error    string
	Notice   string
	// To and Amount refill the send form after a mistake.
	To     string
	Amount string
	// Faucet offers demo shells (borgios demo only).
	Faucet bool
}

// WalletConfirmView asks the person to confirm a send before it happens.
type WalletConfirmView struct {
	Page
	To      string
	Amount  string
	Balance string
}

// NodeEarning is what one node bound to the person earned, over the
// history shown.
type NodeEarning struct {
	Node    string // the node's address
	Total   string // shells
	Sum     uint64 // Total in micro-shells, for ordering
	Rewards int    // how many rewards
	Bytes   uint64 // bytes of work the rewards paid for
}

// bytesText says n bytes the way the pages do ("1.5 GiB").
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
