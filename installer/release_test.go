package installer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// releaseKey is a throwaway signing key made for one test; the project's
// real private key never comes near a checkout.
type releaseKey struct {
	priv, pub   string // PEM files
	public      ed25519.PublicKey
	fingerprint string // SHA-256 of the public key's DER, as the scripts print it
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl missing: apt install openssl (the installer checks release signatures with it)")
	}
}

// newReleaseKey writes a fresh Ed25519 key pair in the PEM forms openssl
// uses (PKCS#8, SubjectPublicKeyInfo), made by Go so that the test also
// shows the two agree on the formats.
func newReleaseKey(t *testing.T) releaseKey {
	t.Helper()
	needOpenSSL(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := releaseKey{priv: filepath.Join(dir, "release.pem"), pub: filepath.Join(dir, "release.pub"), public: pub}
	if err := os.WriteFile(k.priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	k.fingerprint = hex.EncodeToString(sum[:])
	return k
}

func releaseScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sign runs scripts/release-sign.sh on dist with key's private half,
// checking it against key's public half.
func sign(t *testing.T, wantOK bool, dist string, key releaseKey, extraEnv ...string) string {
	t.Helper()
	cmd := exec.Command("sh", releaseScript(t, "release-sign.sh"), "--dist", dist, "--pub", key.pub)
	cmd.Env = append(append(os.Environ(), "BORGIOS_RELEASE_KEY="+key.priv), extraEnv...)
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("release-sign.sh: err %v\n%s", err, out)
	}
	return string(out)
}

// makeRelease lays out a release folder the way `task build-all` and
// `task release-sign` do: the binaries, SHA256SUMS (sha256sum's format)
// and its signature by key.
func makeRelease(t *testing.T, key releaseKey, files map[string][]byte) string {
	t.Helper()
	dist := t.TempDir()
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var sums strings.Builder
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dist, name), files[name], 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(files[name])
		fmt.Fprintf(&sums, "%x  %s\n", sum, name)
	}
	if err := os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := sign(t, true, dist, key)
	if !strings.Contains(out, "signed "+dist+"/SHA256SUMS with release key "+key.fingerprint) {
		t.Errorf("release-sign output: %s", out)
	}
	// The signature is plain Ed25519 over the file's bytes: any verifier
	// (Go's here, openssl's on the Pi) agrees.
	sig, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(key.public, []byte(sums.String()), sig) {
		t.Fatalf("release-sign.sh made a signature Go's ed25519 rejects (%d bytes)", len(sig))
	}
	if b, _ := os.ReadFile(filepath.Join(dist, "SHA256SUMS.key")); strings.TrimSpace(string(b)) != key.fingerprint {
		t.Errorf("SHA256SUMS.key = %q, want %s", b, key.fingerprint)
	}
	return dist
}

func TestInstallScriptRefusesBadRelease(t *testing.T) {
	key := newReleaseKey(t)
	other := newReleaseKey(t)
	binary := []byte("#!/bin/sh\necho borgios stand-in\n")
	pinned, err := os.ReadFile("release-key.pub")
	if err != nil {
		t.Fatal(err)
	}
	pinnedFP := fingerprintOf(t, pinned)
	garbage := filepath.Join(t.TempDir(), "garbage.pub")
	os.WriteFile(garbage, []byte("not a key\n"), 0o644)

	cases := []struct {
		name   string
		spoil  func(t *testing.T, dist string)
		useKey string // --release-key; "" for the pinned one
		want   string
	}{
		{"missing signature", func(t *testing.T, dist string) {
			os.Remove(filepath.Join(dist, "SHA256SUMS.sig"))
		}, key.pub, "SHA256SUMS.sig missing: the release is not signed"},
		{"tampered SHA256SUMS", func(t *testing.T, dist string) {
			// Point the sums at a different binary, and swap it in.
			evil := []byte("#!/bin/sh\necho evil\n")
			sum := sha256.Sum256(evil)
			os.WriteFile(filepath.Join(dist, "borgios-linux-amd64"), evil, 0o755)
			os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  borgios-linux-amd64\n"), 0o644)
		}, key.pub, "SHA256SUMS or its signature was altered"},
		{"tampered signature", func(t *testing.T, dist string) {
			p := filepath.Join(dist, "SHA256SUMS.sig")
			sig, _ := os.ReadFile(p)
			sig[10] ^= 1
			os.WriteFile(p, sig, 0o644)
		}, key.pub, "SHA256SUMS or its signature was altered"},
		{"tampered binary", func(t *testing.T, dist string) {
			os.WriteFile(filepath.Join(dist, "borgios-linux-amd64"), []byte("#!/bin/sh\necho evil\n"), 0o755)
		}, key.pub, "checksum of " + "DIST" + "/borgios-linux-amd64 does not match the signed SHA256SUMS"},
		{"wrong key", func(*testing.T, string) {}, other.pub,
			"SHA256SUMS is signed by another key (" + key.fingerprint + "), not the release key this installer trusts (" + other.fingerprint},
		{"signed by other than the pinned key", func(*testing.T, string) {}, "",
			"SHA256SUMS is signed by another key (" + key.fingerprint + "), not the release key this installer trusts (" + pinnedFP},
		{"missing SHA256SUMS", func(t *testing.T, dist string) {
			os.Remove(filepath.Join(dist, "SHA256SUMS"))
		}, key.pub, "SHA256SUMS missing: not a release folder"},
		{"arch not in SHA256SUMS", func(t *testing.T, dist string) {
			// Signed sums for other binaries only: the binary beside
			// them is vouched for by nobody.
			sum := sha256.Sum256([]byte("arm"))
			os.WriteFile(filepath.Join(dist, "borgios-linux-arm64"), []byte("arm"), 0o755)
			os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  borgios-linux-arm64\n"), 0o644)
			sign(t, true, dist, key)
		}, key.pub, "the signed SHA256SUMS lists no borgios-linux-amd64"},
		{"public key not PEM", func(*testing.T, string) {}, garbage, "is not a PEM public key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dist := makeRelease(t, key, map[string][]byte{"borgios-linux-amd64": binary})
			c.spoil(t, dist)
			args := []string{"--root", root, "--dist", dist, "--arch", "amd64"}
			if c.useKey != "" {
				args = append(args, "--release-key", c.useKey)
			}
			out := runScript(t, false, args...)
			if want := strings.ReplaceAll(c.want, "DIST", dist); !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
			if strings.Contains(out, "installing into") || strings.Contains(out, "verified") && c.name != "tampered binary" && c.name != "arch not in SHA256SUMS" {
				t.Errorf("went on after a failed check:\n%s", out)
			}
			if got := tree(t, root); len(got) != 1 {
				t.Errorf("installed something: %v", got)
			}
		})
	}

	// An unknown architecture is refused before anything is read.
	runScript(t, false, "--root", t.TempDir(), "--dist", t.TempDir(), "--arch", "sparc")
}

// fingerprintOf is the SHA-256 of a PEM public key's DER, checking on the
// way that it is an Ed25519 key.
func fingerprintOf(t *testing.T, pemBytes []byte) string {
	t.Helper()
	b, rest := pem.Decode(pemBytes)
	if b == nil || b.Type != "PUBLIC KEY" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("not one PEM public key: %q", pemBytes)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.(ed25519.PublicKey); !ok {
		t.Fatalf("release key is %T, want Ed25519", k)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// The pinned key is an Ed25519 public key and doc.go names its
// fingerprint, so that rotating the key cannot leave the docs behind.
func TestPinnedReleaseKey(t *testing.T) {
	pinned, err := os.ReadFile("release-key.pub")
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprintOf(t, pinned)
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), fp) {
		t.Errorf("doc.go does not name the release key's fingerprint %s", fp)
	}
}

func TestReleaseSignRefuses(t *testing.T) {
	key := newReleaseKey(t)
	other := newReleaseKey(t)
	dist := makeRelease(t, key, map[string][]byte{"borgios-linux-amd64": []byte("a")})

	// A key that is not the public key's other half (by default the
	// pinned one) would make a release every installer refuses.
	out := sign(t, false, dist, releaseKey{priv: other.priv, pub: key.pub})
	if !strings.Contains(out, "is not the private half of") {
		t.Errorf("wrong key: %s", out)
	}
	cmd := exec.Command("sh", releaseScript(t, "release-sign.sh"), "--dist", dist)
	cmd.Env = append(os.Environ(), "BORGIOS_RELEASE_KEY="+key.priv)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "release-key.pub") {
		t.Errorf("throwaway key against the pinned key: err %v\n%s", err, b)
	}
	// Never sign sums that no longer describe the binaries.
	os.WriteFile(filepath.Join(dist, "borgios-linux-amd64"), []byte("b"), 0o755)
	if out := sign(t, false, dist, key); !strings.Contains(out, "does not match the binaries") {
		t.Errorf("stale sums: %s", out)
	}
	cmd = exec.Command("sh", releaseScript(t, "release-sign.sh"), "--dist", dist, "--pub", key.pub)
	cmd.Env = append(os.Environ(), "BORGIOS_RELEASE_KEY=")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "set BORGIOS_RELEASE_KEY") {
		t.Errorf("no key: err %v\n%s", err, b)
	}
}

// The key tool's passphrase-protected key signs a release the installer
// accepts: the whole path a maintainer takes, with the passphrase given
// through the environment instead of the terminal.
func TestReleaseKeygenSignInstall(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	priv := filepath.Join(dir, "borgios-release.pem")
	pass := "BORGIOS_RELEASE_PASS=correct horse battery staple"
	cmd := exec.Command("sh", releaseScript(t, "release-keygen.sh"), priv)
	cmd.Env = append(os.Environ(), pass)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("release-keygen.sh: %v\n%s", err, out)
	}
	pemBytes, _ := os.ReadFile(priv)
	if !strings.Contains(string(pemBytes), "ENCRYPTED PRIVATE KEY") {
		t.Errorf("key not encrypted: %.40q", pemBytes)
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode())
	}
	pubPEM, _ := os.ReadFile(filepath.Join(dir, "borgios-release.pub"))
	key := releaseKey{priv: priv, pub: filepath.Join(dir, "borgios-release.pub"), fingerprint: fingerprintOf(t, pubPEM)}
	if !strings.Contains(string(out), key.fingerprint) {
		t.Errorf("keygen did not print the fingerprint:\n%s", out)
	}

	dist := t.TempDir()
	os.WriteFile(filepath.Join(dist, "borgios-linux-armv7"), []byte("pi"), 0o755)
	sum := sha256.Sum256([]byte("pi"))
	os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+" *borgios-linux-armv7\n"), 0o644)
	sign(t, false, dist, key, "BORGIOS_RELEASE_PASS=wrong")
	sign(t, true, dist, key, pass)
	root := t.TempDir()
	runScript(t, true, "--root", root, "--dist", dist, "--arch", "armv7", "--release-key", key.pub)
	if b, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/borgios")); string(b) != "pi" {
		t.Errorf("installed %q", b)
	}
	if _, err := exec.LookPath("userdel"); err == nil {
		runScript(t, true, "--uninstall", "--root", root)
	}
}
