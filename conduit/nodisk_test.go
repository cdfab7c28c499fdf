package conduit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/borgios/borgios/node/identity"
)

// TestNoKeysInFilesWritten runs every flow that handles a phrase with the
// process's home, temp and config directories and the log all pointed into
// one temporary directory, then searches every file there for the phrase,
// the seed and the private keys, in raw, hex and base64 form.
func TestNoKeysInFilesWritten(t *testing.T) {
	dir := t.TempDir()
	for _, env := range []string{"HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"} {
		t.Setenv(env, dir)
	}
	logFile, err := os.Create(filepath.Join(dir, "conduit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	ts := startServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	// Create through the API, then lock and unlock with a typo first.
	var n newIdentityJSON
	ts.api("POST", "/api/identity/new", nil, &n)
	ts.api("POST", "/api/identity/confirm", confirmRequest{Words: answersFor(n)}, nil)
	ts.api("POST", "/api/lock", nil, nil)
	phrase := strings.Join(n.Words, " ")
	typo := strings.Replace(phrase, n.Words[3], n.Words[3]+"x", 1)
	ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: typo}, nil)
	ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: phrase, Passphrase: "pass phrase"}, nil)
	ts.api("POST", "/api/lock", nil, nil)

	// The known phrase through the pages, including a failed restore.
	ts.postForm("/welcome/restore", url.Values{"mnemonic": {testPhrase + " abandon"}})
	ts.postForm("/welcome/restore", url.Values{"mnemonic": {testPhrase}})
	ts.get("/home")
	ts.postForm("/lock", nil)
	ts.postForm("/welcome/create", nil)
	ts.get("/welcome/words")
	ts.postForm("/unplug", nil)
	if err := logFile.Sync(); err != nil {
		t.Fatal(err)
	}

	var secrets [][]byte
	addSecrets := func(phrase, pass string) {
		seed, err := identity.SeedFromMnemonic(phrase, pass)
		if err != nil {
			t.Fatal(err)
		}
		k, err := identity.KeysFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{seed, k.Account, k.Account.Seed(), k.X25519Private[:], k.FileRoot[:]} {
			secrets = append(secrets, b, []byte(hex.EncodeToString(b)),
				[]byte(base64.StdEncoding.EncodeToString(b)), []byte(base64.RawURLEncoding.EncodeToString(b)))
		}
		// Any run of four consecutive words would be a leak too.
		w := strings.Fields(phrase)
		for i := 0; i+4 <= len(w); i += 4 {
			secrets = append(secrets, []byte(strings.Join(w[i:i+4], " ")))
		}
	}
	addSecrets(phrase, "")
	addSecrets(phrase, "pass phrase")
	addSecrets(testPhrase, "")
	secrets = append(secrets, []byte("pass phrase"))

	files := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s contains a secret (%.12q...)", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no files to check: the log should be there at least")
	}
}
