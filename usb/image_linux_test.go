package usb

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTools skips unless running as root with every named program.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a filesystem image with FUSE")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian: dosfstools, fusefat, exfatprogs, exfat-fuse)", tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("needs /dev/fuse")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// mountFAT32 makes a FAT32 image and mounts it noexec with fusefat, the
// way udisks' showexec leaves a FAT32 stick on a Linux desktop: nothing on
// it can be executed.
func mountFAT32(t *testing.T) (mnt string, remount func()) {
	needTools(t, "mkfs.vfat", "fusefat", "fusermount")
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	run(t, "truncate", "-s", "96M", img)
	run(t, "mkfs.vfat", "-F", "32", "-n", "BORGIOS", img)
	mnt = filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	mount := func() { run(t, "fusefat", "-o", "rw+,noexec", img, mnt) }
	mounted := true
	mount()
	t.Cleanup(func() {
		if mounted {
			exec.Command("fusermount", "-u", mnt).Run()
		}
	})
	return mnt, func() {
		run(t, "fusermount", "-u", mnt)
		mounted = false
		mount()
		mounted = true
	}
}

// mountExFAT makes an exFAT image, attaches it to a loop device and mounts
// it with exfat-fuse.
func mountExFAT(t *testing.T) (mnt string, remount func()) {
	needTools(t, "mkfs.exfat", "mount.exfat-fuse", "losetup", "fusermount")
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	run(t, "truncate", "-s", "96M", img)
	run(t, "mkfs.exfat", img)
	loop, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	dev := strings.TrimSpace(string(loop))
	mnt = filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	mounted := true
	run(t, "mount.exfat-fuse", dev, mnt)
	t.Cleanup(func() {
		if mounted {
			exec.Command("fusermount", "-u", mnt).Run()
		}
		exec.Command("losetup", "-d", dev).Run()
	})
	return mnt, func() {
		run(t, "fusermount", "-u", mnt)
		mounted = false
		run(t, "mount.exfat-fuse", dev, mnt)
		mounted = true
	}
}

func TestPrepareFAT32Image(t *testing.T) {
	mnt, remount := mountFAT32(t)
	testPrepareOnImage(t, mnt, remount, true)
}

func TestPrepareExFATImage(t *testing.T) {
	mnt, remount := mountExFAT(t)
	testPrepareOnImage(t, mnt, remount, false)
}

// testPrepareOnImage prepares a stick on a mounted image, starts BorgIOS
// through the launcher, writes a record log, and checks after an unmount
// and a mount that everything is still there.
func testPrepareOnImage(t *testing.T, mnt string, remount func(), fat32 bool) {
	// -short puts stand-ins for every system on the stick; otherwise the
	// real binary for this machine, which the launcher then starts.
	dist, targets := fakeDist(t), DefaultTargets
	if !testing.Short() {
		var host Target
		dist, host = hostBinaries(t)
		targets = []Target{host}
	}
	var progress bytes.Buffer
	// The image sits on a loop device or FUSE: not removable, so --force.
	rep, err := Prepare(context.Background(), PrepareOptions{Root: mnt, Force: true, Binaries: dist, Targets: targets, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("mount %+v, removable %v, warnings %q", rep.Mount, rep.Removable, rep.Warnings)
	warnedFAT := strings.Contains(strings.Join(rep.Warnings, "\n"), "FAT32")
	if warnedFAT != fat32 {
		t.Errorf("FAT32 warning %v on a FAT32=%v stick", warnedFAT, fat32)
	}
	if !testing.Short() {
		// On the noexec FAT32 mount the launcher must fall back to a copy
		// in memory; on exFAT it runs the binary in place.
		if out := runLinuxLauncher(t, mnt, "--version"); !strings.Contains(out, "usbtest") {
			t.Fatalf("launcher printed %q", out)
		}
	}
	log, err := OpenRecordLog(filepath.Join(rep.Layout.Paths().Conduit, "records"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := log.Append(payloadOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()
	if err := Flush(mnt); err != nil {
		t.Fatal(err)
	}
	remount()
	log, err = OpenRecordLog(filepath.Join(rep.Layout.Paths().Conduit, "records"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	got := readAll(t, log)
	if len(got) != 40 || !bytes.Equal(got[39], payloadOf(39)) {
		t.Fatalf("%d records after remount", len(got))
	}
	for _, p := range []string{rep.Layout.Marker(), rep.Layout.Readme(), filepath.Join(mnt, LauncherLinux)} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}
