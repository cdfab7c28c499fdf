package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
)

func init() { subcommands = append(subcommands, newWalletCmd) }

type walletFlags struct {
	personFlags
	genesis string
	asJSON  bool
}

func (f *walletFlags) add(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	f.register(pf, 30*time.Second)
	pf.StringVar(&f.genesis, "genesis", "", "genesis file to trust (default: the one the first --peer node serves)")
	pf.BoolVar(&f.asJSON, "json", false, "print JSON")
}

func newWalletCmd() *cobra.Command {
	var f walletFlags
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Your shells: balance, send, receive, history (earnings included)",
		Long: `Talks to one running node (--peer NODEKEY@HOST:PORT, the contact line a node
prints when it starts) with your account key. Your recovery phrase is read
from standard input (first line; an optional BIP39 passphrase on the second),
or your key file with --keyfile, as for 'borgios seed inspect'.

Balances are verified here from certificates signed by a quorum of the
genesis witnesses: the node can hide recent blocks but cannot forge one.
A send is final once this command prints its certificate.

Shells your nodes earn for verified work (storage proven by audits, bytes
delivered to readers) are paid by the treasury to the owner account the
node is bound to: balance shows them waiting and how much of the balance
was earned, history lists each payment with the node and the work, and
receive credits them like any incoming send.`,
	}
	f.add(cmd)
	cmd.AddCommand(
		&cobra.Command{Use: "balance [ADDRESS]", Short: "Show a verified balance (yours by default)", Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, walletBalance) }},
		&cobra.Command{Use: "send ADDRESS AMOUNT", Short: "Send shells (AMOUNT in shells, e.g. 12.5)", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, walletSend) }},
		&cobra.Command{Use: "receive", Short: "Credit certified sends waiting for you", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, walletReceive) }},
		&cobra.Command{Use: "history", Short: "Show your recent blocks and incoming sends", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, walletHistory) }},
	)
	return cmd
}

type walletCtx struct {
	out    io.Writer
	json   bool
	g      *ledger.Genesis
	client *ledgercell.Client
	me     ledger.AccountID
}

func (f *walletFlags) run(cmd *cobra.Command, args []string, do func(context.Context, *walletCtx, []string) error) error {
	pc, err := f.connect(cmd, "wallet")
	if err != nil {
		return err
	}
	defer pc.close()
	ctx, cancel := f.context(cmd)
	defer cancel()
	caller := pc.caller
	target := pc.peers[0]
	var g *ledger.Genesis
	if f.genesis != "" {
		g, err = ledger.LoadGenesis(f.genesis)
	} else {
		g, err = ledgercell.FetchGenesis(ctx, caller, target)
	}
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	client := ledgercell.NewClient(ledgercell.ClientConfig{Genesis: g, Caller: caller, Submit: &target, Timeout: f.timeout})
	defer client.Close()
	return do(ctx, &walletCtx{out: cmd.OutOrStdout(), json: f.asJSON, g: g, client: client, me: client.Account()}, args)
}

// parseAccount reads a borg1 address or 64 hex digits.
func parseAccount(s string) (ledger.AccountID, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), identity.AddressHRP) {
		pub, err := identity.ParseAddress(s)
		if err != nil {
			return ledger.AccountID{}, err
		}
		return ledger.AccountID(pub), nil
	}
	return ledger.ParseAccount(s)
}

func address(a ledger.AccountID) string { return identity.Address(ed25519.PublicKey(a[:])) }

type balanceOutput struct {
	Address  string          `json:"address"`
	Account  string          `json:"account"`
	Balance  ledger.Amount   `json:"balance"`
	Earned   ledger.Amount   `json:"earned"` // part of Balance paid for nodes' verified work
	Blocks   uint64          `json:"blocks"`
	Head     string          `json:"head,omitempty"`
	Pending  []pendingOutput `json:"pending"`
	Verified bool            `json:"verified"`
}

type pendingOutput struct {
	Hash   string        `json:"hash"`
	From   string        `json:"from"` // the treasury for earnings
	Amount ledger.Amount `json:"amount"`
	Work   string        `json:"work,omitempty"` // "storage" or "delivery" for earnings
	Node   string        `json:"node,omitempty"` // the node whose work earned it
}

func walletBalance(ctx context.Context, w *walletCtx, args []string) error {
	acct := w.me
	if len(args) == 1 {
		var err error
		if acct, err = parseAccount(args[0]); err != nil {
			return err
		}
	}
	info, err := w.client.Balance(ctx, acct)
	if err != nil {
		return fmt.Errorf("wallet balance: %w", err)
	}
	o := balanceOutput{Address: address(acct), Account: acct.String(), Balance: info.Balance, Earned: info.Earned, Blocks: info.Next, Verified: true, Pending: []pendingOutput{}}
	if info.Next > 0 {
		o.Head = info.Head.String()
	}
	for _, p := range info.Pending {
		var from ledger.AccountID
		copy(from[:], p.From)
		po := pendingOutput{Hash: hex.EncodeToString(p.Hash), From: address(from), Amount: ledger.Amount(p.Amount), Work: p.Work}
		if len(p.Node) == ed25519.PublicKeySize {
			po.Node = address(ledger.AccountID(p.Node))
		}
		o.Pending = append(o.Pending, po)
	}
	if w.json {
		return writeJSON(w.out, o)
	}
	fmt.Fprintf(w.out, "Address: %s\nBalance: %s shells (verified from %d certified blocks)\n", o.Address, o.Balance, o.Blocks)
	if o.Earned > 0 {
		fmt.Fprintf(w.out, "Earned:  %s shells of it for your nodes' verified work\n", o.Earned)
	}
	for _, p := range o.Pending {
		if p.Work != "" {
			fmt.Fprintf(w.out, "Waiting: %s shells earned for %s by node %s (run 'borgios wallet receive')\n", p.Amount, p.Work, p.Node)
			continue
		}
		fmt.Fprintf(w.out, "Waiting: %s shells from %s (run 'borgios wallet receive')\n", p.Amount, p.From)
	}
	return nil
}

type certOutput struct {
	Block     string        `json:"block"`
	Seq       uint64        `json:"seq"`
	Kind      string        `json:"kind"`
	Amount    ledger.Amount `json:"amount,omitempty"`
	To        string        `json:"to,omitempty"`
	Witnesses int           `json:"witnesses"`
	Final     bool          `json:"final"`
}

func printCert(w *walletCtx, ct *ledger.Certificate) error {
	o := certOutput{Block: ct.BlockHash().String(), Seq: ct.Block.Seq, Kind: ct.Block.Op.Kind().String(), Witnesses: len(ct.Sigs), Final: true}
	if s, ok := ct.Block.Op.(*ledger.Send); ok {
		o.Amount, o.To = s.Amount, address(s.To)
	}
	if w.json {
		return writeJSON(w.out, o)
	}
	fmt.Fprintf(w.out, "Final: %s block %d certified by %d of %d witnesses\nBlock: %s\n", o.Kind, o.Seq, o.Witnesses, len(w.g.Witnesses), o.Block)
	return nil
}

func walletSend(ctx context.Context, w *walletCtx, args []string) error {
	to, err := parseAccount(args[0])
	if err != nil {
		return err
	}
	amount, err := ledger.ParseAmount(args[1])
	if err != nil {
		return err
	}
	ct, err := w.client.Send(ctx, to, amount)
	if err != nil {
		return fmt.Errorf("wallet send: %w", err)
	}
	return printCert(w, ct)
}

func walletReceive(ctx context.Context, w *walletCtx, _ []string) error {
	ct, err := w.client.Receive(ctx)
	if err != nil {
		return fmt.Errorf("wallet receive: %w", err)
	}
	if ct == nil {
		if w.json {
			return writeJSON(w.out, map[string]any{"received": 0})
		}
		fmt.Fprintln(w.out, "Nothing waiting.")
		return nil
	}
	return printCert(w, ct)
}

func walletHistory(ctx context.Context, w *walletCtx, _ []string) error {
	items, err := w.client.History(ctx, w.me, 50)
	if err != nil {
		return fmt.Errorf("wallet history: %w", err)
	}
	if w.json {
		if items == nil {
			items = []ledgercell.HistoryItem{}
		}
		return writeJSON(w.out, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(w.out, "No history yet.")
	}
	for _, it := range items {
		who := ""
		if len(it.Counterparty) == ed25519.PublicKeySize {
			who = address(ledger.AccountID(it.Counterparty))
		}
		switch it.Kind {
		case "send":
			fmt.Fprintf(w.out, "#%d sent     %s to %s (fee %s)\n", it.Seq, ledger.Amount(it.Amount), who, ledger.Amount(it.Fee))
		case "receive":
			fmt.Fprintf(w.out, "#%d received %d sends\n", it.Seq, it.Amount)
		case "incoming":
			state := "waiting"
			if it.Credited {
				state = "credited"
			}
			if it.Work != "" && len(it.Node) == ed25519.PublicKeySize {
				// A reward: the treasury pays, the node did the work.
				fmt.Fprintf(w.out, "   earned   %s for %s by node %s (%s)\n", ledger.Amount(it.Amount), it.Work, address(ledger.AccountID(it.Node)), state)
				continue
			}
			fmt.Fprintf(w.out, "   incoming %s from %s (%s)\n", ledger.Amount(it.Amount), who, state)
		case "reward":
			fmt.Fprintf(w.out, "#%d claimed  %s for %s, paid to %s\n", it.Seq, ledger.Amount(it.Amount), it.Work, who)
		default:
			fmt.Fprintf(w.out, "#%d %s\n", it.Seq, it.Kind)
		}
	}
	return nil
}
