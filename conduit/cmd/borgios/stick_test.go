//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/borgios/borgios/usb"
)

// stickPhrase is a valid 12-word phrase (the BIP39 test vector's), so the
// test needs no identity of its own.
const stickPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// TestStickLeavesNoTraces is the stick's promise end to end: it prepares a
// stick on an exFAT and on a FAT32 filesystem image, starts BorgIOS through
// the stick's Linux launcher with HOME and every XDG folder pointed at
// empty folders and TMPDIR unset (so /tmp is the default), unlocks, uploads
// a file and reads it back through the conduit's API (the conduit runs its
// own embedded node, as when no network is reachable), stops it with
// "prepare to unplug", and then finds nothing new outside the image:
//
//   - the HOME and XDG folders (XDG_RUNTIME_DIR included, where the launcher
//     copies the binary off a noexec stick) are still empty;
//   - no process of the launcher's group is left;
//   - without strace, nothing named for BorgIOS appeared in /tmp, /var/tmp
//     or /dev/shm (a snapshot of names and times);
//   - with strace installed, every file the launcher, BorgIOS and their
//     children created, opened for writing, renamed, linked or removed is
//     on the stick (or /dev/null and the terminal): the exact check, which
//     the /tmp snapshot only approximates on a machine where other tests
//     write to /tmp at the same time.
func TestStickLeavesNoTraces(t *testing.T) {
	if runtime.GOARCH == "arm" {
		t.Skip("the stick's linux-armv7 binary is not this test's binary")
	}
	if testing.Short() {
		t.Skip("builds a stick on filesystem images (-short)")
	}
	t.Run("exfat", func(t *testing.T) {
		t.Parallel()
		testStickTraces(t, mountExFATImage(t), true)
	})
	t.Run("fat32", func(t *testing.T) {
		t.Parallel()
		mnt, full := mountFAT32Image(t)
		testStickTraces(t, mnt, full)
	})
}

// needImageTools skips unless running as root with every named program
// and FUSE (the kernel's vfat/exfat may not be mountable in a container;
// FUSE works where loop mounts do not).
func needImageTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a filesystem image (FUSE, loop device)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to make and mount a stick image (Debian: dosfstools fusefat exfatprogs exfat-fuse fuse3 mount)", tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("needs /dev/fuse to mount a stick image")
	}
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// imageSize holds the stick's one binary (about 40 MB) and its data.
const imageSize = "160M"

// mountFAT32Image makes a FAT32 image and mounts it noexec, as udisks'
// showexec leaves a FAT32 stick, so the launcher must run a copy: with the
// kernel's vfat on a loop device where that works, else with fusefat.
// full is false when the mount cannot grow a file with ftruncate or a write
// past its end (fusefat cannot; the kernel's vfat can), which the embedded
// node's database needs: then the test covers the launcher, unlocking and
// unplugging, but not storing a file.
func mountFAT32Image(t *testing.T) (mnt string, full bool) {
	needImageTools(t, "mkfs.vfat")
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	mustRun(t, "truncate", "-s", imageSize, img)
	mustRun(t, "mkfs.vfat", "-F", "32", "-n", "BORGIOS", img)
	mnt = filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "vfat", "-o", "loop,noexec,showexec", img, mnt).CombinedOutput(); err == nil {
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		return mnt, true
	} else {
		t.Logf("kernel vfat loop mount failed (%v: %s); using fusefat", err, strings.TrimSpace(string(out)))
	}
	needImageTools(t, "fusefat", "fusermount")
	mustRun(t, "fusefat", "-o", "rw+,noexec", img, mnt)
	t.Cleanup(func() { exec.Command("fusermount", "-u", mnt).Run() })
	probe := filepath.Join(mnt, "probe")
	err := os.WriteFile(probe, nil, 0o644)
	if err == nil {
		err = os.Truncate(probe, 1<<20)
	}
	os.Remove(probe)
	if err != nil {
		t.Logf("this FAT32 mount cannot grow files (%v), as the embedded node's database needs: "+
			"checking the launcher, unlock and unplug without storing a file (the kernel's vfat, where it can be mounted, runs the whole test)", err)
		return mnt, false
	}
	return mnt, true
}

// mountExFATImage makes an exFAT image and mounts it with exfat-fuse, which
// needs a block device: a loop device.
func mountExFATImage(t *testing.T) string {
	needImageTools(t, "mkfs.exfat", "mount.exfat-fuse", "losetup", "fusermount")
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	mustRun(t, "truncate", "-s", imageSize, img)
	mustRun(t, "mkfs.exfat", img)
	loop, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Skipf("needs a free loop device for the exFAT image: %v", err)
	}
	dev := strings.TrimSpace(string(loop))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	mustRun(t, "mount.exfat-fuse", dev, mnt)
	t.Cleanup(func() { exec.Command("fusermount", "-u", mnt).Run() })
	return mnt
}

// testStickTraces runs the whole scenario on the stick at mnt; without
// files it stops short of uploading (see mountFAT32Image).
func testStickTraces(t *testing.T, mnt string, files bool) {
	// The test's own root: the image, the empty HOME and XDG folders, the
	// strace logs. Everything else on the machine must stay as it was.
	root := t.TempDir()
	start := time.Now()
	tmpBefore := tempEntries(root)

	dist := filepath.Join(root, "dist")
	os.Mkdir(dist, 0o755)
	host := usb.Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	copyFile(t, binary, filepath.Join(dist, host.DistName()))

	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "TMPDIR" || k == "TMP" || k == "TEMP" || k == "HOME" || k == usb.PortableEnv,
			strings.HasPrefix(k, "XDG_"), k == "DISPLAY", k == "WAYLAND_DISPLAY":
			continue
		}
		env = append(env, kv)
	}
	empty := map[string]string{}
	for _, v := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"} {
		dir := filepath.Join(root, "host", strings.ToLower(v))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		empty[v] = dir
		env = append(env, v+"="+dir)
	}
	cwd := filepath.Join(root, "host", "cwd")
	os.Mkdir(cwd, 0o700)

	// Prepare the stick the way a person does, from the host.
	prep := exec.Command(binary, "usb", "prepare", mnt, "--force", "--binaries", dist, "--targets", host.String())
	prep.Env, prep.Dir = env, cwd
	if out, err := prep.CombinedOutput(); err != nil {
		t.Fatalf("usb prepare: %v\n%s", err, out)
	}

	// Start it through the launcher, under strace when there is one.
	args := []string{"sh", filepath.Join(mnt, usb.LauncherLinux), "--no-browser", "--listen", "127.0.0.1:0"}
	traces := ""
	if st, err := exec.LookPath("strace"); err == nil && exec.Command(st, "-f", "-o", "/dev/null", "true").Run() == nil {
		traces = filepath.Join(root, "strace")
		os.Mkdir(traces, 0o700)
		args = append([]string{st, "-f", "-ff", "-qq", "-y", "-s", "4096", "-o", filepath.Join(traces, "t"),
			"-e", "trace=open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,truncate,mknod,mknodat",
			"-e", "status=successful"}, args...)
	} else {
		t.Log("strace not installed (Debian: strace): checking the empty folders and a snapshot of /tmp only")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = env, cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "http://127.0.0.1:"); ok {
				select {
				case urls <- "http://127.0.0.1:" + u:
				default:
				}
			}
		}
	}()
	var addr string
	select {
	case addr = <-urls:
	case <-done:
		t.Fatalf("BorgIOS exited before printing its address:\n%s", logs.String())
	case <-time.After(120 * time.Second):
		t.Fatalf("no address within 120s:\n%s", logs.String())
	}
	base, token, _ := strings.Cut(addr, "/?token=")
	api := &stickAPI{t: t, base: base, token: token}

	api.call("POST", "/api/unlock", map[string]string{"mnemonic": stickPhrase}, nil)
	if files {
		api.waitConnected()
		content := []byte(fmt.Sprintf("written to the stick at %s\n", start.Format(time.RFC3339Nano)))
		api.upload("/docs", "note.txt", content)
		if got := api.download("/docs/note.txt"); !bytes.Equal(got, content) {
			t.Fatalf("read back %q, want %q", got, content)
		}
		t.Logf("uploaded and read back %d bytes through the embedded node on the stick", len(content))
	}
	api.call("POST", "/api/unplug", map[string]string{}, nil)
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Fatalf("BorgIOS did not exit within 120s of prepare to unplug:\n%s", logs.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("launcher exited with %d after unplug, want 0:\n%s", code, logs.String())
	}

	if left := groupProcs(cmd.Process.Pid); len(left) > 0 {
		t.Errorf("processes left after exit: %v", left)
	}

	// The stick has the state; the host folders have nothing.
	if _, err := os.Stat(filepath.Join(mnt, usb.DataDirName, "conduit")); err != nil {
		t.Errorf("no conduit state on the stick: %v", err)
	}
	for name, dir := range empty {
		var found []string
		filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
			if p != dir {
				found = append(found, p)
			}
			return nil
		})
		if len(found) > 0 {
			t.Errorf("written to %s: %v", name, found)
		}
	}
	// Other tests write to /tmp at the same time, so the snapshot cannot
	// say who made an entry: with strace (below) it is only shown; without,
	// an entry named for BorgIOS that no test harness makes fails.
	for _, e := range newTempEntries(tmpBefore, tempEntries(root), start) {
		name := strings.ToLower(filepath.Base(e))
		if traces == "" && strings.Contains(name, "borgios") && !strings.HasPrefix(name, "borgios-bin-") && !strings.HasPrefix(name, "borgios-chromium-") {
			t.Errorf("left in a temp folder: %s", e)
		} else {
			t.Logf("new in a temp folder while the test ran: %s", e)
		}
	}
	if traces != "" {
		allowed := []string{mnt + "/", empty["XDG_RUNTIME_DIR"] + "/"}
		writes := tracedWrites(t, traces, cwd)
		onStick := 0
		for _, w := range writes {
			switch {
			case underAny(w.path, []string{mnt + "/"}):
				onStick++
			case underAny(w.path, allowed) || harmlessPath(w.path):
			default:
				t.Errorf("wrote outside the stick: %s", w)
			}
		}
		t.Logf("strace: %d file changes, %d of them on the stick, the rest in XDG_RUNTIME_DIR (launcher's copy, removed) or /dev", len(writes), onStick)
		if onStick == 0 {
			t.Error("strace saw no writes to the stick: the trace is not working")
		}
	}
}

// stickAPI calls the conduit's JSON API with the printed token.
type stickAPI struct {
	t           *testing.T
	base, token string
}

func (a *stickAPI) do(req *http.Request) *http.Response {
	a.t.Helper()
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp
}

func (a *stickAPI) call(method, path string, body, out any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp := a.do(req)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// waitConnected waits until the conduit reaches a network (its embedded
// node, here).
func (a *stickAPI) waitConnected() {
	a.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		var st struct {
			Network struct{ Health, Summary string }
		}
		a.call("GET", "/api/status", nil, &st)
		if st.Network.Health == "ok" {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("not connected within 120s: %+v", st.Network)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (a *stickAPI) upload(dir, name string, content []byte) {
	a.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", a.base+"/api/files/upload?dir="+dir, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp := a.do(req)
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		a.t.Fatalf("upload: %s %s", resp.Status, b)
	}
}

func (a *stickAPI) download(path string) []byte {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.base+"/api/files/download?path="+path, nil)
	resp := a.do(req)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		a.t.Fatalf("download: %s %v %s", resp.Status, err, b)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// groupProcs lists the live processes in process group pgid.
func groupProcs(pgid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// After "pid (comm)": state, ppid, pgrp.
		if f := strings.Fields(s[i+1:]); len(f) > 2 && f[0] != "Z" && f[2] == fmt.Sprint(pgid) {
			out = append(out, s[:i+1])
		}
	}
	return out
}

// tempDirs are the host's shared temporary folders.
var tempDirs = []string{os.TempDir(), "/tmp", "/var/tmp", "/dev/shm"}

// tempEntries maps each entry directly in the temp folders (except the
// test's own root) to its modification time.
func tempEntries(root string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, d := range tempDirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			// The test's root, and its sibling subtest's.
			if p == root || strings.HasPrefix(root, p+"/") || strings.HasPrefix(e.Name(), "TestStickLeavesNoTraces") {
				continue
			}
			if fi, err := e.Info(); err == nil {
				out[p] = fi.ModTime()
			}
		}
	}
	return out
}

// newTempEntries are entries that appeared or changed since start.
func newTempEntries(before, after map[string]time.Time, start time.Time) []string {
	var out []string
	for p, mt := range after {
		if old, ok := before[p]; (!ok || !old.Equal(mt)) && !mt.Before(start) {
			out = append(out, p)
		}
	}
	return out
}

// tracedWrite is one file change strace saw.
type tracedWrite struct {
	pid, call, path string
}

func (w tracedWrite) String() string { return w.call + " " + w.path + " (pid " + w.pid + ")" }

var (
	traceCall = regexp.MustCompile(`^(\w+)\((.*)\)\s+= `)
	// A path argument, after the directory descriptor it is relative to
	// when there is one (strace -y prints a descriptor as 5</its/path>).
	traceStr = regexp.MustCompile(`(?:(?:\d+|AT_FDCWD)<([^>]*)>, )?"((?:[^"\\]|\\.)*)"`)
)

// tracedWrites reads strace's per-process logs and returns every path a
// traced process created, opened for writing, renamed, linked or removed;
// relative paths are taken against the directory descriptor they come
// with, else cwd (the processes' working folder).
func tracedWrites(t *testing.T, dir, cwd string) []tracedWrite {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "t.*"))
	if len(files) == 0 {
		t.Fatal("strace wrote no logs")
	}
	var out []tracedWrite
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimPrefix(filepath.Ext(f), ".")
		for _, line := range strings.Split(string(b), "\n") {
			m := traceCall.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			call, argv := m[1], m[2]
			if strings.HasPrefix(call, "open") && !strings.Contains(argv, "O_WRONLY") && !strings.Contains(argv, "O_RDWR") &&
				!strings.Contains(argv, "O_CREAT") && !strings.Contains(argv, "O_TRUNC") {
				continue // read only
			}
			for _, s := range traceStr.FindAllStringSubmatch(argv, -1) {
				p := s[2]
				switch {
				case filepath.IsAbs(p):
				case s[1] != "":
					p = filepath.Join(s[1], p)
				default:
					p = filepath.Join(cwd, p)
				}
				out = append(out, tracedWrite{pid: pid, call: call, path: filepath.Clean(p)})
			}
		}
	}
	return out
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p+"/", d) {
			return true
		}
	}
	return false
}

// harmlessPath: writing to these leaves nothing behind.
func harmlessPath(p string) bool {
	switch {
	case p == "/dev/null", p == "/dev/tty", strings.HasPrefix(p, "/dev/pts/"), strings.HasPrefix(p, "/proc/"):
		return true
	}
	return false
}

// lockedBuffer collects a process's log while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTracedWrites checks the strace reader on lines in strace -y's
// format: writes are found and resolved against their directory
// descriptor or the working folder; reads are not writes.
func TestTracedWrites(t *testing.T) {
	dir := t.TempDir()
	log := `openat(AT_FDCWD</work>, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3</etc/passwd>
openat(AT_FDCWD</work>, "/home/u/.cache/x", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 4</home/u/.cache/x>
unlinkat(5</run/borgios.ab12>, "borgios", 0) = 0
mkdir("rel", 0700) = 0
renameat2(AT_FDCWD</work>, "/stick/a.tmp", AT_FDCWD</work>, "/stick/a", RENAME_NOREPLACE) = 0
`
	if err := os.WriteFile(filepath.Join(dir, "t.42"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range tracedWrites(t, dir, "/cwd") {
		got = append(got, w.call+" "+w.path)
	}
	want := []string{"openat /home/u/.cache/x", "unlinkat /run/borgios.ab12/borgios", "mkdir /cwd/rel", "renameat2 /stick/a.tmp", "renameat2 /stick/a"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !underAny("/stick/a", []string{"/stick/"}) || underAny("/sticky/a", []string{"/stick/"}) || !underAny("/stick", []string{"/stick/"}) {
		t.Error("underAny")
	}
}
