package conduit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
)

// findChromium returns a Chromium or Chrome binary, or "".
func findChromium() string {
	if p := os.Getenv("BORGIOS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserProblems collects what the page reports to the console: CSP
// violations, script exceptions, failed loads.
type browserProblems struct {
	mu   sync.Mutex
	list []string
}

func (b *browserProblems) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list = append(b.list, s)
}

func (b *browserProblems) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.list
	b.list = nil
	return l
}

// TestBrowser walks the pages in real, headless Chromium: create an
// identity (reading the words off the page and typing three back), see the
// address on Home, lock, restore with a typo and then correctly, watch the
// page follow a lock made elsewhere through the event stream, and prepare
// to unplug. It saves a screenshot of each page to $BORGIOS_SCREENSHOTS
// (default: a temporary directory) at laptop and phone widths.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)
	ts := startServer(t, func(c *Config) { c.StatusInterval = time.Hour })
	ctx, run, shot, phoneShot, darkShot, shots := b.ctx, b.run, b.shot, b.phoneShot, b.darkShot, b.shots
	_ = ctx

	// Open the printed URL: the token becomes a cookie and leaves the
	// address bar.
	var loc string
	run("enable log", cdplog.Enable())
	run("open token URL",
		chromedp.Navigate(ts.URL()),
		chromedp.WaitVisible("#go-create"),
		chromedp.Location(&loc),
		shot("welcome"),
		phoneShot("welcome"),
		darkShot("welcome"),
	)
	if strings.Contains(loc, "token") || !strings.HasSuffix(loc, "/welcome") {
		t.Fatalf("after opening the token URL the address is %q", loc)
	}

	// Keyboard: the first Tab reaches the skip link; Enter on the focused
	// create button submits it.
	var active string
	run("keyboard",
		chromedp.KeyEvent("\t"),
		chromedp.Evaluate(`document.activeElement.className`, &active),
		chromedp.Focus("#go-create"),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible("#words"),
	)
	if active != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", active)
	}

	var words []string
	run("read words",
		chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-word]')).map(e => e.textContent)`, &words),
		shot("create-words"),
		phoneShot("create-words"),
	)
	if len(words) != 24 {
		t.Fatalf("the page shows %d words", len(words))
	}
	var positions []int
	run("confirm page",
		chromedp.Click("#written"),
		chromedp.WaitVisible("#finish"),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-position]')).map(e => +e.dataset.position)`, &positions),
	)
	if len(positions) != 3 {
		t.Fatalf("asked for %v", positions)
	}
	// A wrong word first: the error is shown inline.
	sel := func(p int) string { return "#word" + strconv.Itoa(p) }
	var errText string
	run("confirm wrong",
		chromedp.SendKeys(sel(positions[0]), "wrong"),
		chromedp.SendKeys(sel(positions[1]), words[positions[1]-1]),
		chromedp.SendKeys(sel(positions[2]), words[positions[2]-1]),
		chromedp.Click("#finish"),
		chromedp.WaitVisible("#form-error"),
		chromedp.Text("#form-error", &errText),
	)
	if !strings.Contains(errText, "Word "+strconv.Itoa(positions[0])) {
		t.Errorf("confirm error %q", errText)
	}
	var tasks chromedp.Tasks
	for _, p := range positions {
		tasks = append(tasks, chromedp.SendKeys(sel(p), words[p-1]))
	}
	run("confirm", append(tasks, shot("create-confirm"), chromedp.Click("#finish"), chromedp.WaitVisible("#address"))...)

	keys, err := identity.KeysFromMnemonic(strings.Join(words, " "), "")
	if err != nil {
		t.Fatal(err)
	}
	want := keys.Address()
	var addr, copied string
	run("home",
		chromedp.Text("#address", &addr),
		chromedp.Click("#copy"),
		chromedp.Poll(`document.querySelector('[data-copy-status]').textContent !== ''`, nil),
		chromedp.Text("[data-copy-status]", &copied),
		shot("home"),
		phoneShot("home"),
		darkShot("home"),
	)
	if addr != want {
		t.Fatalf("home shows %q, want %q", addr, want)
	}
	t.Logf("copy button said %q", copied)

	run("network",
		chromedp.Click(`nav a[href="/network"]`),
		chromedp.WaitVisible(`[data-live="peers"]`),
		shot("network"),
		phoneShot("network"),
	)
	var notice string
	run("settings and lock",
		chromedp.Click(`nav a[href="/settings"]`),
		chromedp.WaitVisible("#lock"),
		shot("settings"),
		phoneShot("settings"),
		chromedp.Click("#lock"),
		chromedp.WaitVisible("#notice"),
		chromedp.Text("#notice", &notice),
		shot("locked"),
	)
	if !strings.Contains(notice, "Locked") {
		t.Errorf("lock notice %q", notice)
	}
	if _, err := ts.Vault().Identity(); err == nil {
		t.Fatal("still unlocked after Lock")
	}

	// Unlock by restoring the phrase, with a typo in word 7 first.
	typo := append([]string(nil), words...)
	typo[6] = "zzzz"
	run("restore with typo",
		chromedp.Click("#go-restore"),
		chromedp.WaitVisible("#mnemonic"),
		shot("restore"),
		chromedp.SendKeys("#mnemonic", strings.Join(typo, " ")),
		chromedp.Click("#unlock"),
		chromedp.WaitVisible("#form-error"),
		chromedp.Text("#form-error", &errText),
		shot("restore-error"),
		phoneShot("restore-error"),
		darkShot("restore-error"),
	)
	if !strings.Contains(errText, "Word 7 'zzzz' is not in the list") {
		t.Errorf("restore error %q", errText)
	}
	run("restore",
		chromedp.Evaluate(`document.getElementById('mnemonic').value = ''`, nil),
		chromedp.SendKeys("#mnemonic", strings.Join(words, " ")),
		chromedp.Click("#unlock"),
		chromedp.WaitVisible("#address"),
		chromedp.Text("#address", &addr),
	)
	if addr != want {
		t.Fatalf("restored %q, want %q", addr, want)
	}

	// A lock from elsewhere (here the API, later the idle timer) reaches
	// the open page through the event stream: the header says so on a
	// page that needs no keys, and Home leaves for Welcome.
	run("network page", chromedp.Click(`nav a[href="/network"]`), chromedp.WaitVisible(`[data-live="peers"]`))
	if status := ts.api("POST", "/api/lock", nil, nil); status != http.StatusOK {
		t.Fatal(status)
	}
	run("live lock state", chromedp.Poll(`document.querySelector('[data-live="lockstate"]').textContent.trim() === 'Locked'`, nil))
	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: strings.Join(words, " ")}, nil); status != http.StatusOK {
		t.Fatal(status)
	}
	run("home again", chromedp.Navigate(ts.Origin()+"/home"), chromedp.WaitVisible("#address"))
	if status := ts.api("POST", "/api/lock", nil, nil); status != http.StatusOK {
		t.Fatal(status)
	}
	run("live lock", chromedp.WaitVisible("#go-create"), chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/welcome") {
		t.Errorf("after a lock elsewhere the page is %q", loc)
	}

	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: strings.Join(words, " ")}, nil); status != http.StatusOK {
		t.Fatal(status)
	}
	var h1 string
	run("unplug",
		chromedp.Navigate(ts.Origin()+"/settings"),
		chromedp.WaitVisible("#unplug"),
		chromedp.Click("#unplug"),
		chromedp.WaitVisible("#safe"),
		chromedp.Text("h1", &h1),
		shot("unplugged"),
	)
	if h1 != "Safe to unplug" {
		t.Errorf("after unplug the page says %q", h1)
	}
	if _, err := ts.Vault().Identity(); err == nil {
		t.Error("still unlocked after unplug")
	}
	t.Logf("screenshots in %s", shots)
}

// noHorizontalScroll fails when the page is wider than a phone screen.
func noHorizontalScroll(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var fits bool
		if err := chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits).Do(ctx); err != nil {
			return err
		}
		if !fits {
			return fmt.Errorf("%s is wider than a 390 px phone screen", name)
		}
		return nil
	})
}

// contrastJS lists visible text whose colour against its background falls
// below WCAG 2 AA: 4.5:1, or 3:1 for large text.
const contrastJS = `(() => {
  const parse = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor) || {r: 255, g: 255, b: 255, a: 1};
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    if (st.visibility === "hidden" || st.display === "none" || r.width === 0 || r.right < 0) continue;
    const fg = parse(st.color);
    if (!fg) continue;
    const l1 = lum(fg), l2 = lum(background(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(st.fontWeight, 10) >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(el.tagName + " '" + el.textContent.trim().slice(0, 30) + "' " + ratio.toFixed(2) + ":1");
  }
  return low;
})()`

// browserHarness is a headless Chromium with the checks every page gets:
// console problems fail the step, screenshots check contrast, phone shots
// check that nothing scrolls sideways.
type browserHarness struct {
	ctx       context.Context
	shots     string
	run       func(step string, actions ...chromedp.Action)
	shot      func(name string) chromedp.Action
	phoneShot func(name string) chromedp.Action
	darkShot  func(name string) chromedp.Action
}

// startBrowser starts Chromium (skipping the test without one) for t.
func startBrowser(t *testing.T) *browserHarness {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no Chromium found: install Debian's chromium (apt-get install -y chromium) or set BORGIOS_CHROMIUM to run the browser test")
	}
	shots := os.Getenv("BORGIOS_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	userDir, err := os.MkdirTemp("", "borgios-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	alloc, allocCancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(userDir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	browser, browserCancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		// Stop the browser and wait for it to exit before the user data
		// directory is removed: it writes there until the end.
		browserCancel()
		allocCancel()
		if c := chromedp.FromContext(browser); c != nil {
			if a, ok := c.Allocator.(*chromedp.ExecAllocator); ok {
				a.Wait()
			}
		}
		// Chromium's helper processes may still be writing for a moment
		// after the main one exits, so the removal is retried.
		for range 50 {
			if err := os.RemoveAll(userDir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove %s", userDir)
	})
	ctx := browser
	// Only a guard against a hung browser; nothing here is timed.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel)

	problems := &browserProblems{}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			// A form sent back with its mistakes marked is a 422 on
			// purpose; Chromium logs it as a failed load.
			if ev.Entry.Source == cdplog.SourceNetwork && strings.Contains(ev.Entry.Text, "status of 422") {
				return
			}
			if ev.Entry.Level == cdplog.LevelError || ev.Entry.Level == cdplog.LevelWarning {
				problems.add(fmt.Sprintf("log %s %s: %s (%s)", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *runtime.EventExceptionThrown:
			problems.add("exception: " + ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeWarning {
				problems.add(fmt.Sprintf("console %s", ev.Type))
			}
		}
	})
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		start := time.Now()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		t.Logf("%s: %v", step, time.Since(start).Round(time.Millisecond))
		for _, p := range problems.take() {
			t.Errorf("%s: browser reported %s", step, p)
		}
	}
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var low []string
			if err := chromedp.Evaluate(contrastJS, &low).Do(ctx); err != nil {
				return err
			}
			for _, l := range low {
				t.Errorf("%s: low contrast: %s", name, l)
			}
			var png []byte
			if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	darkShot := func(name string) chromedp.Action {
		return chromedp.Tasks{
			emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
			shot(name + "-dark"),
			emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}),
		}
	}
	phoneShot := func(name string) chromedp.Action {
		return chromedp.Tasks{
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			noHorizontalScroll(name),
			shot(name + "-phone"),
			chromedp.EmulateViewport(1280, 900),
		}
	}
	return &browserHarness{ctx: ctx, shots: shots, run: run, shot: shot, phoneShot: phoneShot, darkShot: darkShot}
}

// mediaResponse is one answer to the video element's requests, as the
// browser saw it.
type mediaResponse struct {
	status int
	rng    string // the Range the browser sent
	cr     string // Content-Range
}

// TestBrowserVideo uploads a short WebM (and a 2 MiB file beside it,
// whose progress bar must move by the upload event stream, with no
// polling) through the Files page to a real three-node network, opens its preview, plays it (currentTime advances
// with no media error), seeks to the middle (seeked fires, currentTime is
// near the middle, playback goes on from there) and checks the Range
// answers the conduit gave the video element: 206 with a Content-Range
// inside the file that matches the Range asked for.
func TestBrowserVideo(t *testing.T) {
	b := startBrowser(t)
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	nc := startNetwork(t, 3)
	ts := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	abs, err := filepath.Abs(clipPath)
	if err != nil {
		t.Fatal(err)
	}

	// A second, larger file goes up alongside, so its progress bar has
	// several steps to show (the network stores 256 KiB pieces).
	big := make([]byte, 2<<20)
	rand.Read(big)
	bigPath := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(bigPath, big, 0o644); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var media []mediaResponse
	var polls int
	progress := map[string][]upload{} // upload events by path
	ranges := map[network.RequestID]string{}
	hdr := func(h network.Headers, k string) string {
		for name, v := range h {
			if strings.EqualFold(name, k) {
				s, _ := v.(string)
				return s
			}
		}
		return ""
	}
	chromedp.ListenTarget(b.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if strings.Contains(ev.Request.URL, "/api/media/") {
				ranges[ev.RequestID] = hdr(ev.Request.Headers, "Range")
			}
			if strings.Contains(ev.Request.URL, "/api/files/progress") {
				polls++
			}
		case *network.EventResponseReceived:
			if strings.Contains(ev.Response.URL, "/api/media/") {
				media = append(media, mediaResponse{status: int(ev.Response.Status), rng: ranges[ev.RequestID], cr: hdr(ev.Response.Headers, "Content-Range")})
			}
		case *network.EventEventSourceMessageReceived:
			if ev.EventName == "upload" {
				var u upload
				if json.Unmarshal([]byte(ev.Data), &u) == nil {
					progress[u.Path] = append(progress[u.Path], u)
				}
			}
		}
	})
	run := b.run
	// A slow link (about 1.5 times the video's bit rate), so the middle
	// has not arrived when the seek asks for it, and uploads take a few
	// seconds, so their progress is seen moving.
	run("enable log", cdplog.Enable(), network.Enable(),
		network.EmulateNetworkConditions(false, 20, 150_000, 1_000_000))
	run("upload the video",
		chromedp.Navigate(ts.URL()),
		chromedp.WaitVisible(`nav a[href="/files"]`),
		chromedp.Navigate(ts.Origin()+"/files"),
		chromedp.WaitVisible("#upload-input"),
		chromedp.SetUploadFiles("#upload-input", []string{abs, bigPath}),
		chromedp.Click("#upload-button"),
		chromedp.WaitVisible(`//p[@id="files-notice"][contains(., "Uploaded 2")]`, chromedp.BySearch),
		chromedp.WaitVisible("#file-table"),
	)
	// The bars moved by the event stream, not by polling: big.bin's
	// events climb to its size, with steps in between.
	mu.Lock()
	evs := progress["/big.bin"]
	if polls != 0 {
		t.Errorf("the page polled /api/files/progress %d times; it has the event stream", polls)
	}
	// (The last event may not arrive: the page closes the stream when the
	// upload's own answer says it is done.)
	if len(evs) == 0 || evs[len(evs)-1].Stored > int64(len(big)) {
		t.Errorf("upload events of big.bin: %+v", evs)
	}
	steps := 0
	for i, u := range evs {
		if i > 0 && u.Stored < evs[i-1].Stored {
			t.Errorf("progress went back: %+v", evs)
		}
		if u.Stored > 0 && u.Stored < int64(len(big)) {
			steps++
		}
	}
	if steps == 0 {
		t.Errorf("no progress between 0 and the end of big.bin: %+v", evs)
	}
	t.Logf("big.bin: %d upload events, %d in between; clip.webm: %d", len(evs), steps, len(progress["/clip.webm"]))
	mu.Unlock()
	var duration float64
	run("open the preview",
		// Clicked from inside the page: the list is redrawn when the
		// uploads finish, and a node found before a redraw is gone by the
		// time a protocol-level click reaches it.
		chromedp.Poll(`(() => { const a = [...document.querySelectorAll("a")].find(a => a.textContent.trim() === "clip.webm");
			if (!a) { return false; } a.click(); return true; })()`, nil, chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.WaitVisible("#preview-media"),
		chromedp.Poll(`(() => { const v = document.getElementById("preview-media");
			if (v.error) { throw new Error("media error " + v.error.code + ": " + v.error.message); }
			return v.readyState >= 1 && isFinite(v.duration) ? v.duration : 0; })()`, &duration, chromedp.WithPollingTimeout(90*time.Second)),
	)
	if duration < 5.5 || duration > 6.5 {
		t.Fatalf("the video's duration is %v s, want 6", duration)
	}
	// Muted, so that the autoplay policy lets a script start it.
	var played float64
	run("play",
		chromedp.Evaluate(`(() => { const v = document.getElementById("preview-media");
			window.seekedAt = -1;
			v.addEventListener("seeked", () => { window.seekedAt = v.currentTime; });
			v.muted = true; v.play(); })()`, nil),
		chromedp.Poll(`(() => { const v = document.getElementById("preview-media");
			if (v.error) { throw new Error("media error " + v.error.code); }
			return v.currentTime > 0.5 ? v.currentTime : 0; })()`, &played, chromedp.WithPollingTimeout(90*time.Second)),
	)
	mid := duration / 2
	var seekedAt, after float64
	run("seek to the middle",
		chromedp.Evaluate(`(() => { const v = document.getElementById("preview-media"); v.pause(); v.currentTime = v.duration / 2; })()`, nil),
		chromedp.Poll(`window.seekedAt >= 0 ? window.seekedAt : false`, &seekedAt, chromedp.WithPollingTimeout(90*time.Second)),
		chromedp.Evaluate(`document.getElementById("preview-media").play()`, nil),
		chromedp.Poll(`(() => { const v = document.getElementById("preview-media");
			if (v.error) { throw new Error("media error " + v.error.code); }
			return v.currentTime > window.seekedAt + 0.3 ? v.currentTime : 0; })()`, &after, chromedp.WithPollingTimeout(90*time.Second)),
		chromedp.Evaluate(`document.getElementById("preview-media").pause()`, nil),
		b.shot("video"),
		b.phoneShot("video"),
	)
	if seekedAt < mid-0.5 || seekedAt > mid+0.5 {
		t.Errorf("seeked to %v s, want about %v", seekedAt, mid)
	}
	t.Logf("played to %.2f s, seeked to %.2f s, then played on to %.2f s", played, seekedAt, after)

	mu.Lock()
	defer mu.Unlock()
	size := len(clip)
	partials, pastStart := 0, false
	crPattern := regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)
	for _, m := range media {
		t.Logf("media answer: %d Range %q Content-Range %q", m.status, m.rng, m.cr)
		switch m.status {
		case http.StatusOK:
			continue
		case http.StatusPartialContent:
		default:
			t.Errorf("the video element got a %d", m.status)
			continue
		}
		partials++
		sm := crPattern.FindStringSubmatch(m.cr)
		if sm == nil {
			t.Errorf("206 with Content-Range %q", m.cr)
			continue
		}
		start, _ := strconv.Atoi(sm[1])
		end, _ := strconv.Atoi(sm[2])
		total, _ := strconv.Atoi(sm[3])
		if total != size || start > end || end >= size {
			t.Errorf("Content-Range %q for a %d-byte file", m.cr, size)
		}
		pastStart = pastStart || start > 0
		if want := "bytes=" + sm[1] + "-"; m.rng != "" && !strings.HasPrefix(m.rng, want) {
			t.Errorf("asked %q, answered %q", m.rng, m.cr)
		}
	}
	if partials == 0 {
		t.Error("the video element never got a 206: the conduit did not answer its Range requests")
	}
	if !pastStart {
		t.Error("the video element never asked for a range past the start (the WebM's cues are at its end)")
	}
}

// shells reads a "12.5 shells" text off a page.
func shells(t *testing.T, text string) ledger.Amount {
	t.Helper()
	a, err := ledger.ParseAmount(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "shells")))
	if err != nil {
		t.Fatalf("balance %q: %v", text, err)
	}
	return a
}

// TestBrowserSendBothBalances sends shells between two people, each with
// their own conduit and browser profile, on a real three-node network:
// the sender confirms a send on the Wallet page and sees the balance drop
// by the amount and the fee; the recipient, who restored a different
// phrase in the page, sees it waiting, receives it, and sees the balance
// rise by exactly the amount. Then a node bound to the sender earns a
// reward, shown under Earnings of my nodes.
func TestBrowserSendBothBalances(t *testing.T) {
	b := startBrowser(t)
	alice := testKeys(t)
	bobPhrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	bob, err := identity.KeysFromMnemonic(bobPhrase, "")
	if err != nil {
		t.Fatal(err)
	}
	nc := startNetwork(t, 3, ledger.Allocation{Account: ledger.AccountID(alice.AccountPublic()), Amount: 100 * ledger.MicroPerShell})
	tsA := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	tsB := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	if st := tsA.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	run, shot := b.run, b.shot
	var text string
	run("enable log", cdplog.Enable())
	run("alice's wallet",
		chromedp.Navigate(tsA.URL()),
		chromedp.WaitVisible(`nav a[href="/wallet"]`),
		chromedp.Click(`nav a[href="/wallet"]`),
		chromedp.WaitVisible("#balance"),
		chromedp.Text("#balance", &text),
	)
	a0 := shells(t, text)
	if a0 != 100*ledger.MicroPerShell {
		t.Fatalf("alice starts with %s", a0)
	}
	// Bob's tab, on his own conduit: its session cookie is named by the
	// conduit's port, so the two sessions stay apart. (A separate browser
	// context would be closer still, but headless Chromium refuses to open
	// a tab in one: "no browser is open".)
	bobCtx, cancelBob := chromedp.NewContext(b.ctx)
	defer cancelBob()
	runB := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(bobCtx, actions...); err != nil {
			t.Fatalf("bob: %s: %v", step, err)
		}
	}
	var addr string
	runB("restore bob's phrase",
		chromedp.Navigate(tsB.URL()),
		chromedp.WaitVisible("#go-restore"),
		chromedp.Click("#go-restore"),
		chromedp.WaitVisible("#mnemonic"),
		chromedp.SendKeys("#mnemonic", bobPhrase),
		chromedp.Click("#unlock"),
		chromedp.WaitVisible("#address"),
		chromedp.Text("#address", &addr),
		chromedp.Click(`nav a[href="/wallet"]`),
		chromedp.WaitVisible("#balance"),
		chromedp.Text("#balance", &text),
	)
	if addr != bob.Address() {
		t.Fatalf("bob's conduit shows %q, want %q", addr, bob.Address())
	}
	b0 := shells(t, text)
	if b0 != 0 {
		t.Fatalf("bob starts with %s", b0)
	}

	const sent = "2.5"
	amt, _ := ledger.ParseAmount(sent)
	run("alice sends",
		chromedp.SendKeys("#send-to", bob.Address()),
		chromedp.SendKeys("#send-amount", sent),
		chromedp.Click("#send-review"),
		chromedp.WaitVisible("#send-confirm"),
		chromedp.Click("#send-confirm"),
		chromedp.WaitVisible("#wallet-notice"),
		chromedp.Text("#balance", &text),
	)
	a1 := shells(t, text)
	var wj walletJSON
	tsA.api("GET", "/api/wallet", nil, &wj)
	var fee ledger.Amount
	for _, h := range wj.History {
		if h.Kind == "send" && h.With == bob.Address() {
			fee = h.Fee
		}
	}
	if a0-a1 != amt+fee {
		t.Errorf("alice's balance went from %s to %s, want down by %s plus the fee %s", a0, a1, amt, fee)
	}

	// Bob's page: the send is waiting; Receive credits it.
	var pending string
	runB("bob sees it waiting",
		chromedp.Reload(),
		chromedp.WaitVisible("#pending"),
		chromedp.Text("#pending", &pending),
	)
	if shells(t, pending) != amt {
		t.Errorf("bob's page shows %s waiting, want %s", pending, sent)
	}
	var bobShot []byte
	runB("bob receives",
		chromedp.Click("#receive"),
		chromedp.WaitVisible("#wallet-notice"),
		chromedp.Text("#balance", &text),
		chromedp.FullScreenshot(&bobShot, 90),
	)
	b1 := shells(t, text)
	if b1-b0 != amt {
		t.Errorf("bob's balance went from %s to %s, want up by %s", b0, b1, amt)
	}
	if err := os.WriteFile(filepath.Join(b.shots, "wallet-received.png"), bobShot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("alice %s -> %s (fee %s), bob %s -> %s", a0, a1, fee, b0, b1)

	// A node bound to Alice earns a reward: it shows under Earnings of
	// my nodes, and in the history, waiting to be received.
	nodeAddr, reward := payReward(t, nc, alice, 4)
	var earned string
	run("alice's node earns",
		chromedp.Reload(),
		chromedp.WaitVisible(`#earnings-table tr[data-node="`+nodeAddr+`"]`),
		chromedp.Text(`#earnings-table tr[data-node="`+nodeAddr+`"] .earned`, &earned),
		shot("wallet"),
	)
	if shells(t, earned) != reward {
		t.Errorf("earnings show %q, want %s", earned, reward)
	}
}

// TestBrowserFolderMoves renames a file, moves it into a folder and moves
// a folder (with a folder and a file inside) into another, all with the
// forms behind each entry's More link on the Files page, then moves a file by dragging its
// row onto a folder's row; against a real three-node network. Every
// moved file reads back with its contents and nothing stays behind.
func TestBrowserFolderMoves(t *testing.T) {
	b := startBrowser(t)
	nc := startNetwork(t, 3)
	ts := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	contents := map[string][]byte{"a.txt": []byte("alpha\n"), "b.txt": []byte("bravo\n"), "c.txt": []byte("charlie\n")}
	if st, body := ts.uploadFiles("/", "", contents, "a.txt", "b.txt"); st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, body)
	}
	if st, body := ts.uploadFiles("/docs/inner", "", contents, "c.txt"); st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, body)
	}
	if st := ts.api("POST", "/api/files/mkdir", pathRequest{Path: "/archive"}, nil); st != http.StatusOK {
		t.Fatalf("mkdir: %d", st)
	}
	run, shot := b.run, b.shot
	more := func(name string) chromedp.Action {
		return chromedp.Tasks{chromedp.Click(`a[aria-label="More actions for ` + name + `"]`), chromedp.WaitVisible("#actions")}
	}
	var notice string
	run("enable log", cdplog.Enable())
	run("rename a file",
		chromedp.Navigate(ts.URL()),
		chromedp.WaitVisible(`nav a[href="/files"]`),
		chromedp.Navigate(ts.Origin()+"/files"),
		chromedp.WaitVisible("#file-table"),
		more("a.txt"),
		chromedp.SetValue("#rename-name", "alpha.txt"),
		shot("files-rename"),
		b.phoneShot("files-rename"),
		chromedp.Click("#rename-button"),
		chromedp.WaitVisible("#files-notice"),
		chromedp.Text("#files-notice", &notice),
	)
	if !strings.Contains(notice, "Moved to /alpha.txt") {
		t.Fatalf("after rename the page says %q", notice)
	}
	run("move the file into a folder",
		more("alpha.txt"),
		chromedp.SendKeys("#move-into", "/docs"),
		chromedp.Click("#move-button"),
		chromedp.WaitVisible(`//p[@id="files-notice"][contains(., "/docs/alpha.txt")]`, chromedp.BySearch),
	)
	run("move a folder into another",
		more("docs"),
		chromedp.SendKeys("#move-into", "/archive"),
		chromedp.Click("#move-button"),
		chromedp.WaitVisible(`//p[@id="files-notice"][contains(., "/archive/docs")]`, chromedp.BySearch),
	)
	// Drag b.txt's row onto archive's row, with the events a mouse drag
	// fires (chromedp has no native HTML5 drag).
	run("drag a file onto a folder",
		chromedp.Evaluate(`(() => {
			const src = document.querySelector('tr[data-path="/b.txt"]');
			const dst = document.querySelector('tr[data-path="/archive"] td');
			const dt = new DataTransfer();
			src.dispatchEvent(new DragEvent("dragstart", {bubbles: true, cancelable: true, dataTransfer: dt}));
			dst.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
			dst.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));
		})()`, nil),
		chromedp.WaitVisible(`//p[@id="files-notice"][contains(., "Moved b.txt into /archive")]`, chromedp.BySearch),
		chromedp.Navigate(ts.Origin()+"/files?path=/archive"),
		chromedp.WaitVisible(`tr[data-path="/archive/b.txt"]`),
		shot("files-moved"),
	)

	var l listAnswer
	for dir, want := range map[string]string{
		"/":                   "archive:dir",
		"/archive":            "b.txt:file,docs:dir",
		"/archive/docs":       "alpha.txt:file,inner:dir",
		"/archive/docs/inner": "c.txt:file",
	} {
		if st := ts.api("GET", "/api/files/list?path="+url.QueryEscape(dir), nil, &l); st != http.StatusOK || names(l) != want {
			t.Errorf("%s lists %q (%d), want %q", dir, names(l), st, want)
		}
	}
	for p, name := range map[string]string{"/archive/docs/alpha.txt": "a.txt", "/archive/b.txt": "b.txt", "/archive/docs/inner/c.txt": "c.txt"} {
		resp, body := ts.getBearer("/api/files/download?path="+url.QueryEscape(p), nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, contents[name]) {
			t.Errorf("%s: %d %q, want %q", p, resp.StatusCode, body, contents[name])
		}
	}
	// The API refuses a folder moved into itself and a taken name.
	var le apiError
	if st := ts.api("POST", "/api/files/move", moveRequest{From: "/archive", Into: "/archive/docs"}, &le); st != http.StatusBadRequest {
		t.Errorf("folder into itself: %d %+v", st, le)
	}
	if st := ts.api("POST", "/api/files/move", moveRequest{From: "/archive/b.txt", To: "/archive/docs"}, &le); st != http.StatusConflict || le.Code != "exists" {
		t.Errorf("onto a taken name: %d %+v", st, le)
	}
}
