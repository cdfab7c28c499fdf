package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/conduit"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
)

const initTestPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon " +
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"

// runCmd runs a command built by newCmd with args and stdin, directly.
func runCmd(t *testing.T, newCmd func() *cobra.Command, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

func bindingLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, conduit.BindingPrefix) {
			return l
		}
	}
	t.Fatalf("no binding line in:\n%s", out)
	return ""
}

// TestNodeInitApprove runs the whole binding: the node prints a request,
// the owner approves it from the phrase, the node stores the completed
// binding; and the ways it can go wrong say so.
func TestNodeInitApprove(t *testing.T) {
	dir := t.TempDir()
	owner, err := identity.KeysFromMnemonic(initTestPhrase, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, newNodeInitCmd, "", "--data-dir", dir, "--owner", owner.Address())
	if err != nil {
		t.Fatal(err)
	}
	req := bindingLine(t, out)

	// Step 2 with the request itself (not approved yet) is refused.
	if _, err := runCmd(t, newNodeInitCmd, "", "--data-dir", dir, "--complete", req); err == nil || !strings.Contains(err.Error(), "not approved") {
		t.Fatalf("completing with the unapproved request: %v", err)
	}
	// Another identity cannot approve it.
	other, _ := identity.NewMnemonic()
	if _, err := runCmd(t, newNodeApproveCmd, other+"\n\n", req); !errors.Is(err, ledger.ErrBadBinding) {
		t.Fatalf("approve by another identity: %v", err)
	}
	out, err = runCmd(t, newNodeApproveCmd, initTestPhrase+"\n\n", req)
	if err != nil {
		t.Fatal(err)
	}
	done := bindingLine(t, out)
	if !strings.Contains(out, owner.Address()) {
		t.Fatalf("approve does not name the owner:\n%s", out)
	}
	// A second node cannot take the first one's binding.
	if _, err := runCmd(t, newNodeInitCmd, "", "--data-dir", t.TempDir(), "--complete", done); !errors.Is(err, ErrBindingOtherNode) {
		t.Fatalf("another node completing: %v", err)
	}
	out, err = runCmd(t, newNodeInitCmd, "", "--data-dir", dir, "--complete", done)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readOwnerBinding(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.PublicKey(b.Owner[:]).Equal(owner.AccountPublic()) {
		t.Fatal("stored binding names another owner")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, OwnerBindingFile))
	if !bytes.Equal(raw, b.Encode()) {
		t.Fatal("owner.binding is not the canonical encoding")
	}
	if st, _ := os.Stat(filepath.Join(dir, OwnerBindingFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("owner.binding mode %v", st.Mode().Perm())
	}

	// A binding made for another ledger is refused by a node running a
	// different genesis (here: the dev genesis vs. one with a second witness).
	otherPub, _, _ := ed25519.GenerateKey(nil)
	g2, err := ledgercell.DevGenesis([]ed25519.PublicKey{ed25519.PublicKey(b.Node[:]), otherPub})
	if err != nil {
		t.Fatal(err)
	}
	gj, err := json.Marshal(g2)
	if err != nil {
		t.Fatal(err)
	}
	gpath := filepath.Join(t.TempDir(), "genesis.json")
	if err := os.WriteFile(gpath, gj, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, newNodeInitCmd, "", "--data-dir", dir, "--genesis", gpath, "--complete", done); !errors.Is(err, ErrBindingOtherLedger) {
		t.Fatalf("completing under another genesis: %v", err)
	}
	if _, err := runCmd(t, newNodeInitCmd, "", "--data-dir", dir); err == nil {
		t.Fatal("init without --owner or --complete succeeded")
	}
	if _, err := runCmd(t, newNodeInitCmd, "", "--data-dir", dir, "--owner", "borg1nonsense"); err == nil {
		t.Fatal("a bad owner address was accepted")
	}
}

// readOwnerBinding reads and verifies a node's stored binding: what the
// node (and its tests) use to check init did its job.
func readOwnerBinding(dataDir string) (*ledger.NodeBinding, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, OwnerBindingFile))
	if err != nil {
		return nil, err
	}
	b, err := ledger.DecodeNodeBinding(raw)
	if err != nil {
		return nil, err
	}
	return b, b.Verify()
}
