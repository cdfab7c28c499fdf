package installer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A fixed test phrase (the BIP39 all-"abandon" vector): public keys only.
const testPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art\n"

func buildFor(t *testing.T, goos, goarch, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./conduit/cmd/borgios")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s/%s: %v\n%s", goos, goarch, err, b)
	}
}

// TestArm64UnderQemu runs the Raspberry Pi (arm64) build under qemu-user
// and checks that it derives the same keys as the build for this machine.
func TestArm64UnderQemu(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Skip("qemu-aarch64 not installed (Debian: qemu-user)")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("compares against a linux/amd64 build")
	}
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	dir := t.TempDir()
	arm, host := filepath.Join(dir, "borgios-linux-arm64"), filepath.Join(dir, "borgios-linux-amd64")
	buildFor(t, "linux", "arm64", arm)
	buildFor(t, "linux", "amd64", host)
	inspect := func(name string, args ...string) string {
		cmd := exec.Command(name, append(args, "seed", "inspect", "--json")...)
		cmd.Stdin = strings.NewReader(testPhrase)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr.String())
		}
		return string(out)
	}
	want := inspect(host)
	got := inspect(qemu, arm)
	if got != want || !strings.Contains(want, "account_public_key") {
		t.Fatalf("arm64 under qemu:\n%s\namd64:\n%s", got, want)
	}
}
