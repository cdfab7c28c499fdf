package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/mail"
)

// mailNet is cellNet of the mail cell.
func mailNet(t *testing.T, n int) []string { return cellNet(t, n, mail.DNA.Name) }

type mailPerson struct {
	phrase, addr string
}

func newMailPerson(t *testing.T) mailPerson {
	t.Helper()
	phrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.KeysFromMnemonic(phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	return mailPerson{phrase: phrase, addr: k.Address()}
}

func TestMailSendListReadRm(t *testing.T) {
	peers := mailNet(t, 4)
	alice, bob, carol := newMailPerson(t), newMailPerson(t), newMailPerson(t)
	// A bogus first --peer must not matter: the others answer.
	base := []string{"mail", "--peer", strings.Repeat("ab", 32) + "@127.0.0.1:1", "--peer", peers[0], "--peer", peers[2]}
	try := func(p mailPerson, args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, p.phrase+"\n", append(slices.Clone(base), args...)...)
	}
	run := func(p mailPerson, args ...string) string {
		t.Helper()
		code, out, errOut := try(p, args...)
		if code != 0 {
			t.Fatalf("borgios mail %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	list := func(p mailPerson) []messageOutput {
		t.Helper()
		out := run(p, "list", "--json")
		var ms []messageOutput
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		return ms
	}
	// poll retries a listing until ok: holders that missed a request
	// catch up by sync, which a loaded machine can delay.
	poll := func(p mailPerson, what string, ok func([]messageOutput) bool) []messageOutput {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			ms := list(p)
			if ok(ms) {
				return ms
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: mailbox lists %+v", what, ms)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// Carol has published no key: sending to her says what to do.
	code, _, errOut := try(alice, "send", carol.addr, "--subject", "x", "--body", "y")
	if code == 0 || !strings.Contains(errOut, "borgios mail publish") {
		t.Fatalf("send to an unpublished address: exit %d, %q", code, errOut)
	}

	run(bob, "publish")
	att := make([]byte, 300<<10)
	rand.Read(att)
	src := filepath.Join(t.TempDir(), "photo.bin")
	if err := os.WriteFile(src, att, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(alice, "send", bob.addr, "--subject", "hello bob", "--body", "see attached", "--attach", src)
	if !strings.Contains(out, "sent ") {
		t.Fatalf("send: %q", out)
	}

	ms := poll(bob, "after send", func(ms []messageOutput) bool { return len(ms) == 1 })
	m := ms[0]
	if m.Error != "" || m.From != alice.addr || m.Subject != "hello bob" || m.Flagged || m.Read ||
		len(m.Attachments) != 1 || m.Attachments[0].Name != "photo.bin" || m.Attachments[0].Size != int64(len(att)) {
		t.Fatalf("listed %+v", m)
	}
	if text := run(bob, "list"); !strings.Contains(text, m.ID[:idShort]) || !strings.Contains(text, alice.addr) || strings.Contains(text, "FLAGGED") {
		t.Fatalf("list:\n%s", text)
	}

	dir := t.TempDir()
	out = run(bob, "read", m.ID[:idShort], "--save-attachments", dir)
	if !strings.Contains(out, "From:    "+alice.addr) || !strings.Contains(out, "see attached") || strings.Contains(out, "FLAGGED") {
		t.Fatalf("read:\n%s", out)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "photo.bin")); err != nil || !bytes.Equal(got, att) {
		t.Fatalf("saved attachment differs (%v, %d bytes)", err, len(got))
	}
	poll(bob, "after read", func(ms []messageOutput) bool { return len(ms) == 1 && ms[0].Read })

	// Carol's key opens nothing of Bob's: her requests reach only her own
	// (empty) mailbox, whatever ID she names.
	run(carol, "publish")
	if code, _, errOut := try(carol, "read", m.ID); code == 0 || !strings.Contains(errOut, "no such message") {
		t.Fatalf("carol reads bob's mail: exit %d, %q", code, errOut)
	}
	if ms := list(carol); len(ms) != 0 {
		t.Fatalf("carol's mailbox lists %+v", ms)
	}

	out = run(bob, "rm", m.ID[:idShort])
	if !strings.Contains(out, "removed "+m.ID[:idShort]) {
		t.Fatalf("rm: %q", out)
	}
	poll(bob, "after rm", func(ms []messageOutput) bool { return len(ms) == 0 })
	if text := run(bob, "list"); !strings.Contains(text, "no mail") {
		t.Fatalf("empty list:\n%s", text)
	}
	if code, _, errOut := try(bob, "read", "zz"); code == 0 || !strings.Contains(errOut, "hex digits") {
		t.Fatalf("read of a bad ID: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, bob.phrase+"\n", "mail", "list"); code == 0 || !strings.Contains(errOut, "--peer") {
		t.Fatalf("list without --peer: exit %d, %q", code, errOut)
	}
}

func TestMailFreeName(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]string{"a.txt": "a.txt", "../../etc/passwd": "passwd", "": "attachment-1", "..": "attachment-1", `..\x\y.doc`: "y.doc"} {
		p, err := freeName(dir, name, 0)
		if err != nil || p != filepath.Join(dir, want) {
			t.Fatalf("freeName(%q) = %q, %v; want %q", name, p, err, want)
		}
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), nil, 0o644)
	if p, _ := freeName(dir, "a.txt", 0); p != filepath.Join(dir, "a (1).txt") {
		t.Fatalf("freeName of an existing file: %q", p)
	}
}
