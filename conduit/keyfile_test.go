package conduit

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/borgios/borgios/node/identity"
)

// writeKeyFile seals testPhrase's seed with cheap KDF settings (the real
// ones cost 64 MiB and a few hundred milliseconds per try).
func writeKeyFile(t *testing.T, passphrase string) string {
	t.Helper()
	seed, err := identity.SeedFromMnemonic(testPhrase, "")
	if err != nil {
		t.Fatal(err)
	}
	data, err := identity.SealKeyFile(seed, []byte(passphrase), identity.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "borgios.key")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeyFileUnlock(t *testing.T) {
	path := writeKeyFile(t, "correct horse")
	ts := startServer(t, func(c *Config) { c.KeyFile = KeyFilePath(path) })
	want := testKeys(t).Address()

	var st statusJSON
	if ts.api("GET", "/api/status", nil, &st); !st.HasKeyFile {
		t.Error("status does not offer the key file")
	}
	var e apiError
	if status := ts.api("POST", "/api/unlock", unlockRequest{KeyFilePassphrase: "wrong"}, &e); status != http.StatusUnprocessableEntity || e.Code != "wrong_passphrase" {
		t.Errorf("wrong passphrase: %d %+v", status, e)
	}
	var id identityJSON
	if status := ts.api("POST", "/api/unlock", unlockRequest{KeyFilePassphrase: "correct horse"}, &id); status != http.StatusOK || id.Address != want {
		t.Fatalf("unlock: %d %+v", status, id)
	}
	ts.api("POST", "/api/lock", nil, nil)

	// The welcome page offers the passphrase; a wrong one is shown inline.
	_, body := ts.get("/welcome")
	if !strings.Contains(body, `id="keyfile-passphrase"`) {
		t.Fatal("welcome page lacks the key file form")
	}
	resp, body := ts.postForm("/welcome/keyfile", url.Values{"passphrase": {"nope"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not the key file&#39;s passphrase") {
		t.Errorf("wrong passphrase page: %d", resp.StatusCode)
	}
	resp, _ = ts.postForm("/welcome/keyfile", url.Values{"passphrase": {"correct horse"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("unlock page: %d", resp.StatusCode)
	}
	if _, body = ts.get("/home"); !strings.Contains(body, want) {
		t.Error("home lacks the address")
	}
	ts.api("POST", "/api/lock", nil, nil)

	// A damaged file says so, rather than "wrong passphrase".
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if status := ts.api("POST", "/api/unlock", unlockRequest{KeyFilePassphrase: "correct horse"}, &e); status != http.StatusUnprocessableEntity || e.Code != "corrupt_key_file" {
		t.Errorf("corrupt: %d %+v", status, e)
	}
	// And a missing one is not offered.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if status := ts.api("POST", "/api/unlock", unlockRequest{KeyFilePassphrase: "correct horse"}, &e); status != http.StatusNotFound || e.Code != "no_key_file" {
		t.Errorf("missing: %d %+v", status, e)
	}
	if _, body = ts.get("/welcome"); strings.Contains(body, `id="keyfile-passphrase"`) {
		t.Error("key file offered after it was removed")
	}
}

func TestNoKeyFileConfigured(t *testing.T) {
	ts := startServer(t, nil)
	var e apiError
	if status := ts.api("POST", "/api/unlock", unlockRequest{KeyFilePassphrase: "x"}, &e); status != http.StatusNotFound || e.Code != "no_key_file" {
		t.Errorf("%d %+v", status, e)
	}
}
