package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Screen size of the virtual display: the window's default size, so the
// screenshot is the window.
const screenW, screenH = 1200, 800

// TestDesktopWindow builds borgios-desktop with its build tags, starts it
// in portable mode under Xvfb, waits for the conduit's welcome page to load
// in the window, saves a screenshot of the screen (the window fills it;
// $BORGIOS_SCREENSHOTS/desktop.png, else a temp folder), then sends SIGTERM
// and checks that the app exits 0, leaves no process behind (WebKit's web
// and network processes included) and kept the webview's data on the stick:
// WebKit's folders are there, HOME stays empty and, with strace installed,
// every file the app and WebKit's processes changed is on the stick.
//
// The screenshot comes from Xvfb itself (-fbdir keeps the screen in an XWD
// file), so no screenshot tool is needed beyond Debian's xvfb.
func TestDesktopWindow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the desktop test drives WebKitGTK under Xvfb (Linux only)")
	}
	if err := exec.Command("pkg-config", "--exists", "webkit2gtk-4.1", "gtk+-3.0").Run(); err != nil {
		t.Skip("needs pkg-config with webkit2gtk-4.1 and gtk+-3.0 (Debian: pkg-config libgtk-3-dev libwebkit2gtk-4.1-dev)")
	}
	cc := "gcc"
	if out, err := exec.Command("go", "env", "CC").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		cc = strings.Fields(string(out))[0]
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("needs a C compiler (%s) for cgo (Debian: gcc)", cc)
	}
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Skip("needs Xvfb (Debian: xvfb)")
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "borgios-desktop")
	build := exec.Command("go", "build", "-tags", "desktop,production,webkit2_41", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build borgios-desktop: %v\n%s", err, out)
	}

	fb := filepath.Join(dir, "fb")
	os.Mkdir(fb, 0o755)
	display := startXvfb(t, xvfb, fb)

	// A HOME and XDG folders of its own, empty: the app runs portable, so
	// nothing may appear in them.
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	stick := filepath.Join(dir, "stick")
	args := []string{bin, "--portable", stick, "--data-dir", "", "--idle-lock", "15m"}
	traces := ""
	if st, err := exec.LookPath("strace"); err == nil && exec.Command(st, "-f", "-o", "/dev/null", "true").Run() == nil {
		// Every file the app and WebKit's processes change, to check
		// that all of it is on the stick.
		traces = filepath.Join(dir, "strace")
		os.Mkdir(traces, 0o700)
		args = append([]string{st, "-f", "-ff", "-qq", "-y", "-s", "4096", "-o", filepath.Join(traces, "t"),
			"-e", "trace=open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,truncate,mknod,mknodat",
			"-e", "status=successful"}, args...)
	} else {
		t.Log("strace not installed (Debian: strace): checking HOME and the stick only")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(cleanEnv(),
		"DISPLAY="+display,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		// Xvfb has no GPU: let WebKit draw in software without probing.
		"LIBGL_ALWAYS_SOFTWARE=1",
	)
	// Its own process group, so that WebKit's helper processes can be
	// found (and killed if the test fails) after it exits.
	ownProcessGroup(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		killGroup(pgid)
		<-done
	})
	loaded := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Log("borgios-desktop: " + sc.Text())
			// Load 3: the conduit's first page, after the start page and
			// the token exchange page.
			if sc.Text() == "window: page loaded 3" {
				close(loaded)
			}
		}
	}()
	select {
	case <-loaded:
	case <-done:
		t.Fatalf("borgios-desktop exited early (%v):\n%s", cmd.ProcessState, stderr.String())
	case <-time.After(120 * time.Second):
		t.Fatalf("the window did not load the conduit's page within 120s:\n%s", stderr.String())
	}

	img := stableScreen(t, filepath.Join(fb, "Xvfb_screen0"))
	shots := os.Getenv("BORGIOS_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(shots, "desktop.png")
	if err := os.WriteFile(shot, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if s := stderr.String(); strings.Contains(s, "refused request") {
		t.Errorf("the conduit refused the window's requests:\n%s", s)
	}

	app := cmd.Process.Pid
	if traces != "" {
		app = childOf(t, app)
	}
	if err := terminate(app); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("borgios-desktop did not exit within 60s of SIGTERM:\n%s", stderr.String())
	}
	<-scanned
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("borgios-desktop exited with %d after SIGTERM, want 0:\n%s", code, stderr.String())
	}
	// WebKit's helpers notice their parent is gone and exit on their own;
	// give them time on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for left := groupMembers(pgid); len(left) > 0; left = groupMembers(pgid) {
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind after exit: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The webview's data and caches went to the stick, and nothing to HOME.
	for _, sub := range []string{"share", "cache"} {
		if _, err := os.Stat(filepath.Join(stick, "data", sub, "borgios-desktop")); err != nil {
			t.Errorf("WebKit's %s folder is not on the stick: %v", sub, err)
		}
	}
	if traces != "" {
		n := 0
		for _, w := range tracedWrites(t, traces) {
			n++
			if !strings.HasPrefix(w, dir+"/") && !strings.HasPrefix(w, "/dev/") || strings.HasPrefix(w, "/dev/shm/") {
				t.Errorf("wrote outside the stick: %s", w)
			}
		}
		t.Logf("strace: %d file changes, all in the test's folder (stick) or devices", n)
	}
	var inHome []string
	filepath.WalkDir(home, func(p string, _ os.DirEntry, err error) error {
		if p != home {
			inHome = append(inHome, p)
		}
		return nil
	})
	if len(inHome) > 0 {
		t.Errorf("written to HOME in portable mode: %v", inHome)
	}
}

// cleanEnv is this process's environment without the variables the test
// sets itself or that would point the app elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DISPLAY", "WAYLAND_DISPLAY", "HOME", "TMPDIR", "BORGIOS_PORTABLE":
			continue
		}
		if strings.HasPrefix(k, "XDG_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startXvfb starts a virtual X display on a free display number (Xvfb
// picks it and writes it to -displayfd) with its screen kept in fb.
func startXvfb(t *testing.T, xvfb, fb string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", screenW, screenH), "-fbdir", fb, "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	var xerr syncBuffer
	x.Stderr = &xerr
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	xdone := make(chan struct{})
	go func() { x.Wait(); close(xdone) }()
	t.Cleanup(func() {
		terminate(x.Process.Pid)
		select {
		case <-xdone:
		case <-time.After(20 * time.Second):
			x.Process.Kill()
			<-xdone
		}
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			t.Fatalf("Xvfb did not start (display %q):\n%s", n, xerr.String())
		}
		return ":" + n
	case <-time.After(60 * time.Second):
		t.Fatalf("Xvfb did not start within 60s:\n%s", xerr.String())
	}
	return ""
}

// stableScreen waits until the screen shows more than one colour (the page
// has drawn) and two readings a second apart agree (it has finished).
func stableScreen(t *testing.T, path string) image.Image {
	t.Helper()
	var prev []byte
	deadline := time.Now().Add(90 * time.Second)
	for {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := decodeXWD(raw)
		if err != nil {
			t.Fatalf("screen: %v", err)
		}
		if colours(img) > 8 && bytes.Equal(raw, prev) {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen did not settle on a drawn page within 90s (%d colours)", colours(img))
		}
		prev = raw
		time.Sleep(time.Second)
	}
}

// colours counts distinct colours, up to 100.
func colours(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
			if len(seen) >= 100 {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// decodeXWD reads the X Window Dump that Xvfb -fbdir keeps: a header of
// 25 big-endian 32-bit fields, the window name, the colour map, then
// ZPixmap rows. Only the TrueColor 24/32-bit layout Xvfb uses at depth 24
// is read.
func decodeXWD(b []byte) (image.Image, error) {
	if len(b) < 100 {
		return nil, errors.New("xwd: short header")
	}
	f := func(i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }
	headerSize, version, format, depth := f(0), f(1), f(2), f(3)
	w, h := int(f(4)), int(f(5))
	byteOrder, bpp, bpl := f(7), f(11), int(f(12))
	rmask, gmask, bmask := f(14), f(15), f(16)
	ncolors := int(f(19))
	if version != 7 || format != 2 || depth != 24 || bpp != 32 {
		return nil, fmt.Errorf("xwd: unsupported version %d format %d depth %d bpp %d", version, format, depth, bpp)
	}
	off := int(headerSize) + 12*ncolors
	if off+h*bpl > len(b) || w*4 > bpl {
		return nil, errors.New("xwd: truncated pixels")
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		row := b[off+y*bpl:]
		for x := 0; x < w; x++ {
			var p uint32
			if byteOrder == 0 {
				p = binary.LittleEndian.Uint32(row[4*x:])
			} else {
				p = binary.BigEndian.Uint32(row[4*x:])
			}
			img.SetRGBA(x, y, color.RGBA{channel(p, rmask), channel(p, gmask), channel(p, bmask), 0xff})
		}
	}
	return img, nil
}

// channel extracts an 8-bit channel under mask.
func channel(p, mask uint32) uint8 {
	if mask == 0 {
		return 0
	}
	shift := 0
	for mask>>shift&1 == 0 {
		shift++
	}
	v := (p & mask) >> shift
	bits := 0
	for m := mask >> shift; m != 0; m >>= 1 {
		bits++
	}
	if bits < 8 {
		v <<= 8 - bits
	} else if bits > 8 {
		v >>= bits - 8
	}
	return uint8(v)
}

// childOf is the first child of pid (the app under strace).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatal("strace has no child")
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return child
}

var (
	traceCall = regexp.MustCompile(`^(\w+)\((.*)\)\s+= `)
	// A path argument, after the directory descriptor it is relative to
	// when there is one (strace -y prints a descriptor as 5</its/path>).
	traceStr = regexp.MustCompile(`(?:(?:\d+|AT_FDCWD)<([^>]*)>, )?"((?:[^"\\]|\\.)*)"`)
)

// tracedWrites reads strace -y's per-process logs and returns every path
// created, opened for writing, renamed, linked or removed (relative paths
// only come with a directory descriptor in what the app and WebKit call).
func tracedWrites(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "t.*"))
	if len(files) == 0 {
		t.Fatal("strace wrote no logs")
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			m := traceCall.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			call, argv := m[1], m[2]
			if strings.HasPrefix(call, "open") && !strings.Contains(argv, "O_WRONLY") && !strings.Contains(argv, "O_RDWR") &&
				!strings.Contains(argv, "O_CREAT") && !strings.Contains(argv, "O_TRUNC") {
				continue
			}
			for _, s := range traceStr.FindAllStringSubmatch(argv, -1) {
				p := s[2]
				if !filepath.IsAbs(p) && s[1] != "" {
					p = filepath.Join(s[1], p)
				}
				out = append(out, filepath.Clean(p))
			}
		}
	}
	return out
}

// groupMembers lists the processes still in process group pgid.
func groupMembers(pgid int) []string {
	var left []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 2 && fields[0] != "Z" && fields[2] == strconv.Itoa(pgid) {
			left = append(left, e.Name()+" "+s[:i+1])
		}
	}
	return left
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
