package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/conduit"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/store"
)

// OwnerBindingFile is the completed binding's file in a node's data
// directory: canonical bytes (ledger.NodeBinding.Encode), read by the
// node to claim its rewards for its owner.
const OwnerBindingFile = "owner.binding"

// Errors of node init that a caller tells apart.
var (
	// ErrBindingOtherNode: a completed binding for another node's key.
	ErrBindingOtherNode = errors.New("the binding is for another node")
	// ErrBindingOtherLedger: a binding made for another genesis.
	ErrBindingOtherLedger = errors.New("the binding is for another network's ledger")
)

// nodeIdentity opens the node's data directory (creating its key on first
// use) and returns the node key and the genesis it runs: the file given,
// or the dev genesis a node without --genesis runs.
func nodeIdentity(dataDir, genesisPath string) (ed25519.PrivateKey, *ledger.Genesis, error) {
	db, err := store.Open(dataDir)
	if err != nil {
		return nil, nil, err
	}
	key, err := db.NodeKey()
	db.Close()
	if err != nil {
		return nil, nil, err
	}
	var g *ledger.Genesis
	if genesisPath != "" {
		g, err = ledger.LoadGenesis(genesisPath)
	} else {
		g, err = ledgercell.DevGenesis([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("genesis: %w", err)
	}
	return key, g, nil
}

func newNodeInitCmd() *cobra.Command {
	var dataDir, genesisPath, owner, complete string
	cmd := &cobra.Command{
		Use:   "init (--owner ADDRESS | --complete BINDING)",
		Short: "Bind this node to its owner's account, so its earnings go there",
		Long: `Binds the node to its owner in two steps, so the owner's phrase never touches
this machine:

  1. borgios node init --owner ADDRESS
     prints a binding request signed with this node's key.
  2. On the owner's own computer, paste it into Settings → Nodes I own (or run
     borgios node approve REQUEST there), check the node key, approve, and
     bring back the completed binding:
     borgios node init --complete BINDING
     checks both signatures and stores it in --data-dir as ` + OwnerBindingFile + `.

Run it while the node is stopped (the data directory is locked while it runs)
and with the same --genesis the node runs with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (owner == "") == (complete == "") {
				return errors.New("give exactly one of --owner ADDRESS (step 1) or --complete BINDING (step 2)")
			}
			key, g, err := nodeIdentity(dataDir, genesisPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			nodePub := key.Public().(ed25519.PublicKey)
			if owner != "" {
				pub, err := identity.ParseAddress(owner)
				if err != nil {
					return fmt.Errorf("--owner %q: %w", owner, err)
				}
				var o ledger.AccountID
				copy(o[:], pub)
				req := ledger.NewBindingRequest(g.Hash(), key, o)
				fmt.Fprintf(out, "Node key: %s\nOwner:    %s\n\n", hex.EncodeToString(nodePub), owner)
				fmt.Fprintln(out, "On the owner's computer, paste this into Settings → Nodes I own (or `borgios node approve`):")
				fmt.Fprintln(out, conduit.EncodeBinding(&req))
				return nil
			}
			b, err := conduit.DecodeBinding(complete)
			if err != nil {
				return err
			}
			if !bytes.Equal(b.Node[:], nodePub) {
				return fmt.Errorf("%w (%.16s…, this node is %.16s…)", ErrBindingOtherNode, hex.EncodeToString(b.Node[:]), hex.EncodeToString(nodePub))
			}
			if b.Genesis != g.Hash() {
				return fmt.Errorf("%w: run init with the --genesis the node runs with", ErrBindingOtherLedger)
			}
			if err := b.Verify(); err != nil {
				return fmt.Errorf("the binding is not approved by its owner (paste the completed binding, not the request): %w", err)
			}
			path := filepath.Join(dataDir, OwnerBindingFile)
			if err := writeFileAtomic(path, b.Encode(), 0o600); err != nil {
				return fmt.Errorf("saving %s: %w", path, err)
			}
			fmt.Fprintf(out, "Bound to %s; saved %s.\n", identity.Address(ed25519.PublicKey(b.Owner[:])), path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", defaultNodeDataDir(), "the node's data directory")
	f.StringVar(&genesisPath, "genesis", "", "ledger genesis file the node runs with (default: the dev genesis a node without --genesis runs)")
	f.StringVar(&owner, "owner", "", "step 1: the owner's address (borg1…)")
	f.StringVar(&complete, "complete", "", "step 2: the completed binding the owner approved")
	return cmd
}

func newNodeApproveCmd() *cobra.Command {
	var keyfile string
	cmd := &cobra.Command{
		Use:   "approve REQUEST",
		Short: "Approve a node's binding request with your key (owner side)",
		Long: `Countersigns the binding request a node printed with 'borgios node init
--owner', with your account key, and prints the completed binding to give to
'borgios node init --complete' on the node. Your recovery phrase is read from
standard input (first line; an optional BIP39 passphrase on the second), or
your key file with --keyfile, as for 'borgios seed inspect'. Check that the
node key printed here is the one the node printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := conduit.DecodeBinding(args[0])
			if err != nil {
				return err
			}
			in := newSecretInput(cmd)
			var k *identity.Keys
			if keyfile != "" {
				k, err = keysFromKeyFileInput(in, keyfile)
			} else {
				k, err = keysFromPhraseInput(in)
			}
			if err != nil {
				return err
			}
			defer k.Wipe()
			if err := b.SignOwner(k.Account); err != nil {
				if errors.Is(err, ledger.ErrBadBinding) {
					return fmt.Errorf("this request names another owner (%s), not %s: %w",
						identity.Address(ed25519.PublicKey(b.Owner[:])), k.Address(), err)
				}
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Node key: %s\nOwner:    %s\n\n", hex.EncodeToString(b.Node[:]), k.Address())
			fmt.Fprintln(out, "On the node, run: borgios node init --complete BINDING, with this binding:")
			fmt.Fprintln(out, conduit.EncodeBinding(b))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyfile, "keyfile", "", "read the keys from this key file instead of a phrase")
	return cmd
}
