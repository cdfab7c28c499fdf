package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
)

// demoStepLimit bounds one browser step against the demo. It is only a
// guard against a hung page on a loaded machine; nothing is timed.
const demoStepLimit = 120 * time.Second

// demoNodes is how many nodes the demo under test runs (its default).
const demoNodes = 5

// demoURLPattern is the conduit address `borgios demo` prints, with its
// per-launch secret.
var demoURLPattern = regexp.MustCompile(`^\s*(http://127\.0\.0\.1:\d+)/\?token=\S+$`)

// demoChromium returns a Chromium or Chrome binary, or "" (the conduit
// package's harness looks in the same places; test files of another
// package cannot be shared).
func demoChromium() string {
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

// startDemo runs the real `borgios demo` as a process and returns the
// conduit address it prints (with the token) and its origin. The process is
// stopped the way a person stops it, SIGTERM, and killed if it has not
// exited 10 s later.
func startDemo(t *testing.T) (tokenURL, origin string) {
	t.Helper()
	p := startProc(t, "demo", "--no-browser", "--listen", "127.0.0.1:0", "--nodes", strconv.Itoa(demoNodes), "--heartbeat", "250ms")
	// Registered after startProc's own cleanup, so it runs first.
	t.Cleanup(func() {
		if p.cmd.ProcessState != nil {
			return
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Logf("SIGTERM the demo: %v", err)
		}
		select {
		case <-p.done:
			t.Logf("demo stopped after SIGTERM: %v", p.cmd.ProcessState)
		case <-time.After(10 * time.Second):
			t.Log("the demo did not stop within 10 s of SIGTERM; killing it")
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	// The trees form before the conduit starts; the demo itself gives up
	// after 90 s.
	timeout := time.After(150 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatal("borgios demo exited before printing the conduit's address")
			}
			if m := demoURLPattern.FindStringSubmatch(line); m != nil {
				return strings.TrimSpace(line), m[1]
			}
		case <-timeout:
			t.Fatal("borgios demo printed no conduit address within 150 s")
		}
	}
}

// demoBrowser is a headless Chromium for one test: run fails the test on
// a failed step or on anything the page reported to the console; shot
// saves a screenshot under $BORGIOS_SCREENSHOTS (default: a temporary
// directory) with a "demo-" prefix.
type demoBrowser struct {
	ctx   context.Context
	shots string
	run   func(step string, actions ...chromedp.Action)
	// runLenient runs a step that may fail on purpose and returns what
	// the page reported to the console instead of failing the test.
	runLenient func(step string, actions ...chromedp.Action) []string
	shot       func(name string) chromedp.Action
}

func startDemoBrowser(t *testing.T, chromium string) *demoBrowser {
	t.Helper()
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
		// Wait for the browser to exit before removing its profile: it
		// writes there until the end, and its helpers a moment longer.
		browserCancel()
		allocCancel()
		if c := chromedp.FromContext(browser); c != nil {
			if a, ok := c.Allocator.(*chromedp.ExecAllocator); ok {
				a.Wait()
			}
		}
		for range 50 {
			if err := os.RemoveAll(userDir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove %s", userDir)
	})
	// Only a guard against a hung browser; nothing here is timed.
	ctx, cancel := context.WithTimeout(browser, 10*time.Minute)
	t.Cleanup(cancel)
	// The first Run starts the browser and its tab, which live as long as
	// the context they were started in: here the test's, not a step's.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			// A form sent back with its mistakes marked is a 422 on
			// purpose; Chromium logs it as a failed load.
			if ev.Entry.Source == cdplog.SourceNetwork && strings.Contains(ev.Entry.Text, "status of 422") {
				return
			}
			if ev.Entry.Level == cdplog.LevelError || ev.Entry.Level == cdplog.LevelWarning {
				p = fmt.Sprintf("log %s %s: %s (%s)", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *cdpruntime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Error()
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.APITypeError || ev.Type == cdpruntime.APITypeWarning {
				p = fmt.Sprintf("console %s", ev.Type)
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	})
	// runLenient runs a step and returns what the page reported meanwhile,
	// for steps that may fail on purpose and be tried again.
	runLenient := func(step string, actions ...chromedp.Action) []string {
		t.Helper()
		start := time.Now()
		stepCtx, cancel := context.WithTimeout(ctx, demoStepLimit)
		defer cancel()
		if err := chromedp.Run(stepCtx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		t.Logf("%s: %v", step, time.Since(start).Round(time.Millisecond))
		mu.Lock()
		defer mu.Unlock()
		found := problems
		problems = nil
		return found
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		for _, p := range runLenient(step, actions...) {
			t.Errorf("%s: browser reported %s", step, p)
		}
	}
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, "demo-"+name+".png"), png, 0o644)
		})
	}
	return &demoBrowser{ctx: ctx, shots: shots, run: run, runLenient: runLenient, shot: shot}
}

// awaitPromise makes Evaluate wait for the promise the script returns.
func awaitPromise(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams {
	return p.WithAwaitPromise(true)
}

// downloadJS fetches the file behind a row's Download link, inside the
// page (same cookie, same origin rules as a click), and returns its bytes
// as base64.
const downloadJS = `(async () => {
  const a = document.querySelector('tr[data-path=%q] a[download]');
  if (!a) { throw new Error("no download link for %s"); }
  const res = await fetch(a.href, {credentials: "same-origin"});
  if (!res.ok) { throw new Error("download answered " + res.status + ": " + await res.text()); }
  const blob = await res.blob();
  const url = await new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(fr.result);
    fr.onerror = () => reject(fr.error);
    fr.readAsDataURL(blob);
  });
  return url.slice(url.indexOf(",") + 1);
})()`

// TestDemoInChromium runs the real `borgios demo` process and walks its
// pages in real, headless Chromium, the way a person trying BorgIOS for the
// first time would: create an identity and type back the three words
// asked for; upload a file of random bytes through the Files page's input
// and download it back bit-identical through the page's Download link;
// upload a short WebM, open its preview, play it and seek to the middle;
// lock, then unlock by restoring the 24 words, and find the file still
// there; open the Network page and see the tree drawn as an SVG; create a
// second identity, take shells from the demo's faucet with the first,
// send some to the second with the confirmation step, and see both
// balances change.
func TestDemoInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the demo browser test starts a five-node network and Chromium")
	}
	chromium := demoChromium()
	if chromium == "" {
		t.Skip("no Chromium found: install Debian's chromium (apt-get install -y chromium) or set BORGIOS_CHROMIUM to run the demo browser test")
	}
	tokenURL, origin := startDemo(t)
	t.Logf("demo conduit at %s", origin)
	// Started after the demo, so its cleanup (closing the page's event
	// streams) runs before the demo is stopped.
	b := startDemoBrowser(t, chromium)
	run, shot := b.run, b.shot

	// Welcome → create: read the 24 words, confirm the three asked.
	run("enable log", cdplog.Enable())
	var loc string
	run("open the printed address",
		chromedp.Navigate(tokenURL),
		chromedp.WaitVisible("#go-create"),
		chromedp.Location(&loc),
		shot("welcome"),
	)
	if strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %q", loc)
	}
	words, addr := demoCreate(t, b, true)
	want := addr

	// Files: upload random bytes through the page's input, then fetch
	// them back through the row's Download link.
	content := make([]byte, 300<<10)
	rand.Read(content)
	const name = "demo-random.bin"
	local := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(local, content, 0o644); err != nil {
		t.Fatal(err)
	}
	uploadFile(t, b, origin, local)
	row := "/" + name
	download := func(step string) {
		t.Helper()
		var b64 string
		run(step,
			chromedp.WaitVisible(`tr[data-path="`+row+`"] a[download]`),
			chromedp.Evaluate(fmt.Sprintf(downloadJS, row, row), &b64, awaitPromise),
		)
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("%s: the page returned bad base64: %v", step, err)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("%s: downloaded %d bytes (sha256 %x), uploaded %d (sha256 %x)",
				step, len(got), sha256.Sum256(got), len(content), sha256.Sum256(content))
		}
		t.Logf("%s: %d bytes, identical", step, len(got))
	}
	download("download it back")

	// Video: upload the clip through the Files page, open its preview,
	// play it and seek to the middle.
	demoPlayVideo(t, b, origin)

	// Lock, then unlock by restoring the words read above.
	demoLock(t, b, "settings", "locked")
	if addr = demoRestore(t, b, words, "restore"); addr != want {
		t.Fatalf("after restoring the words home shows %q, want %q", addr, want)
	}
	// The file was stored on the network under the identity, not in the
	// conduit's memory: it comes back after the lock.
	run("files after unlock", chromedp.Navigate(origin+"/files"), chromedp.WaitVisible("#upload-input"))
	download("download after unlock")

	// Network: the tree of the demo's nodes, drawn as an SVG (the page
	// may first say it is asking the nodes, and swap the picture in when
	// they answer).
	var circles int
	run("network page",
		chromedp.Click(`nav a[href="/network"]`),
		chromedp.WaitVisible("#tree-svg"),
		chromedp.Poll(fmt.Sprintf(`(() => { const n = document.querySelectorAll('#tree-svg circle').length; return n === %d ? n : false; })()`, demoNodes),
			&circles, chromedp.WithPollingTimeout(demoStepLimit)),
		shot("network"),
	)
	t.Logf("network tree: %d nodes drawn", circles)

	// Shells: a second identity B, then the first sends B shells the
	// faucet gave it, and both balances change.
	demoSendShells(t, b, origin, words, want)
	t.Logf("screenshots in %s", b.shots)
}

// uploadFile uploads one file through the Files page's input. The demo's
// network client connects in the background while the conduit starts, so
// it first waits (in the page) until the conduit calls the network
// healthy, and an upload that fails even so is tried again, until the step
// limit; the page's complaints about a failed attempt are only logged.
func uploadFile(t *testing.T, b *demoBrowser, origin, local string) {
	t.Helper()
	b.run("wait for a healthy network",
		chromedp.Navigate(origin+"/files"),
		chromedp.WaitVisible("#upload-input"),
		chromedp.Poll(`fetch("/api/status", {credentials: "same-origin"}).then(r => r.json()).then(s => s.network.health === "ok")`,
			nil, chromedp.WithPollingTimeout(demoStepLimit), chromedp.WithPollingInterval(500*time.Millisecond)),
	)
	deadline := time.Now().Add(demoStepLimit)
	for attempt := 1; ; attempt++ {
		var notice string
		problems := b.runLenient(fmt.Sprintf("upload (attempt %d)", attempt),
			chromedp.Navigate(origin+"/files"),
			chromedp.WaitVisible("#upload-input"),
			chromedp.SetUploadFiles("#upload-input", []string{local}),
			chromedp.Click("#upload-button"),
			chromedp.WaitVisible(`//p[@id="files-notice"][contains(., "Uploaded") or contains(., "failed")]`, chromedp.BySearch),
			chromedp.Text("#files-notice", &notice),
			b.shot("files"),
		)
		if strings.Contains(notice, "Uploaded 1") {
			for _, p := range problems {
				t.Errorf("upload: browser reported %s", p)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload through the Files page: %q after %d attempts; the page reported %q", notice, attempt, problems)
		}
		t.Logf("upload attempt %d: %q (the page reported %q); trying again", attempt, notice, problems)
		time.Sleep(2 * time.Second)
	}
}

// demoCreate goes from the Welcome page through Create: it reads the
// 24 words, types back the three asked for and returns the words and the
// address Home shows, after checking that the words derive that address.
// shots saves the pages of the way (only the first identity's are kept).
func demoCreate(t *testing.T, b *demoBrowser, shots bool) (words []string, addr string) {
	t.Helper()
	shot := func(name string) chromedp.Action {
		if !shots {
			return chromedp.Tasks{}
		}
		return b.shot(name)
	}
	b.run("create an identity",
		chromedp.WaitVisible("#go-create"),
		chromedp.Click("#go-create"),
		chromedp.WaitVisible("#words"),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-word]')).map(e => e.textContent.trim())`, &words),
		shot("create-words"),
	)
	if len(words) != 24 {
		t.Fatalf("the page shows %d words: %q", len(words), words)
	}
	keys, err := identity.KeysFromMnemonic(strings.Join(words, " "), "")
	if err != nil {
		t.Fatalf("the page's words are not a valid phrase: %v", err)
	}
	var positions []int
	b.run("confirm page",
		chromedp.Click("#written"),
		chromedp.WaitVisible("#finish"),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-position]')).map(e => +e.dataset.position)`, &positions),
	)
	if len(positions) != 3 {
		t.Fatalf("the page asks for words %v, want three", positions)
	}
	var confirm chromedp.Tasks
	for _, p := range positions {
		if p < 1 || p > 24 {
			t.Fatalf("the page asks for word %d", p)
		}
		confirm = append(confirm, chromedp.SendKeys("#word"+strconv.Itoa(p), words[p-1]))
	}
	b.run("confirm the words", append(confirm,
		shot("create-confirm"),
		chromedp.Click("#finish"),
		chromedp.WaitVisible("#address"),
		chromedp.Text("#address", &addr),
		shot("home"),
	)...)
	if want := keys.Address(); addr != want {
		t.Fatalf("home shows %q, want %q (the address of the words shown)", addr, want)
	}
	return words, addr
}

// demoLock presses Lock on the Settings page and checks that the page says
// so; it ends on the Welcome page. Empty shot names take no screenshots.
func demoLock(t *testing.T, b *demoBrowser, settingsShot, lockedShot string) {
	t.Helper()
	shot := func(name string) chromedp.Action {
		if name == "" {
			return chromedp.Tasks{}
		}
		return b.shot(name)
	}
	var notice string
	b.run("lock",
		chromedp.Click(`nav a[href="/settings"]`),
		chromedp.WaitVisible("#lock"),
		shot(settingsShot),
		chromedp.Click("#lock"),
		chromedp.WaitVisible("#notice"),
		chromedp.Text("#notice", &notice),
		shot(lockedShot),
	)
	if !strings.Contains(notice, "Locked") {
		t.Errorf("after Lock the page says %q", notice)
	}
}

// demoRestore unlocks from the Welcome page by typing the 24 words and
// returns the address Home shows.
func demoRestore(t *testing.T, b *demoBrowser, words []string, restoreShot string) (addr string) {
	t.Helper()
	shot := chromedp.Action(chromedp.Tasks{})
	if restoreShot != "" {
		shot = b.shot(restoreShot)
	}
	b.run("restore the words",
		chromedp.Click("#go-restore"),
		chromedp.WaitVisible("#mnemonic"),
		chromedp.SendKeys("#mnemonic", strings.Join(words, " ")),
		shot,
		chromedp.Click("#unlock"),
		chromedp.WaitVisible("#address"),
		chromedp.Text("#address", &addr),
	)
	return addr
}

// demoClip is the 6 s VP8 WebM the conduit's own video test plays.
const demoClip = "../../testdata/clip.webm"

// demoPlayVideo uploads the clip through the Files page, opens its preview,
// plays it muted (the autoplay policy lets a script start muted media)
// until it passes 0.5 s with no media error, and seeks to the middle.
func demoPlayVideo(t *testing.T, b *demoBrowser, origin string) {
	t.Helper()
	clip, err := filepath.Abs(demoClip)
	if err != nil {
		t.Fatal(err)
	}
	uploadFile(t, b, origin, clip)
	var duration float64
	b.run("open the video's preview",
		// Clicked from inside the page: the list is redrawn when the
		// upload finishes, and a node found before a redraw is gone by
		// the time a protocol-level click reaches it.
		chromedp.Poll(`(() => { const a = [...document.querySelectorAll("a")].find(a => a.textContent.trim() === "clip.webm");
			if (!a) { return false; } a.click(); return true; })()`, nil, chromedp.WithPollingTimeout(demoStepLimit)),
		chromedp.WaitVisible("#preview-media"),
		chromedp.Poll(`(() => { const v = document.getElementById("preview-media");
			if (v.error) { throw new Error("media error " + v.error.code + ": " + v.error.message); }
			return v.readyState >= 1 && isFinite(v.duration) ? v.duration : 0; })()`, &duration, chromedp.WithPollingTimeout(demoStepLimit)),
	)
	if duration < 5.5 || duration > 6.5 {
		t.Fatalf("the video's duration is %v s, want 6", duration)
	}
	var played float64
	b.run("play the video",
		chromedp.Evaluate(`(() => { const v = document.getElementById("preview-media");
			window.seekedAt = -1;
			v.addEventListener("seeked", () => { window.seekedAt = v.currentTime; });
			v.muted = true; v.play(); })()`, nil),
		chromedp.Poll(`(() => { const v = document.getElementById("preview-media");
			if (v.error) { throw new Error("media error " + v.error.code + ": " + v.error.message); }
			return v.currentTime > 0.5 ? v.currentTime : 0; })()`, &played, chromedp.WithPollingTimeout(demoStepLimit)),
	)
	mid := duration / 2
	var seekedAt float64
	b.run("seek to the middle",
		chromedp.Evaluate(`(() => { const v = document.getElementById("preview-media"); v.pause(); v.currentTime = v.duration / 2; })()`, nil),
		chromedp.Poll(`(() => { const v = document.getElementById("preview-media");
			if (v.error) { throw new Error("media error " + v.error.code + ": " + v.error.message); }
			return window.seekedAt >= 0 ? window.seekedAt : false; })()`, &seekedAt, chromedp.WithPollingTimeout(demoStepLimit)),
		b.shot("video"),
	)
	if seekedAt < mid-0.5 || seekedAt > mid+0.5 {
		t.Errorf("seeked to %v s, want about %v", seekedAt, mid)
	}
	t.Logf("video: %.2f s long, played to %.2f s, seeked to %.2f s", duration, played, seekedAt)
}

// demoShells reads a "12.5 shells" text off a page.
func demoShells(t *testing.T, what, text string) ledger.Amount {
	t.Helper()
	a, err := ledger.ParseAmount(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "shells")))
	if err != nil {
		t.Fatalf("%s: %q is not an amount: %v", what, text, err)
	}
	return a
}

// demoWallet opens the Wallet page and returns its balance, and what it shows
// waiting to be received ("" when nothing is). wantPending reloads the
// page until something is waiting: the page reads the ledger when it is
// drawn, and a send may reach the nodes it asks a moment later.
func demoWallet(t *testing.T, b *demoBrowser, origin, step string, wantPending bool) (balance ledger.Amount, pending string) {
	t.Helper()
	deadline := time.Now().Add(demoStepLimit)
	for attempt := 1; ; attempt++ {
		var text string
		b.run(fmt.Sprintf("%s (attempt %d)", step, attempt),
			chromedp.Navigate(origin+"/wallet"),
			chromedp.WaitVisible("#balance"),
			chromedp.Text("#balance", &text),
			chromedp.Evaluate(`(() => { const p = document.getElementById("pending"); return p ? p.textContent.trim() : ""; })()`, &pending),
		)
		balance = demoShells(t, step+": balance", text)
		if pending != "" || !wantPending {
			return balance, pending
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing waiting to be received after %d attempts (balance %s)", step, attempt, balance)
		}
		time.Sleep(time.Second)
	}
}

// demoReceive presses Receive on the Wallet page and returns the balance the
// page shows after it.
func demoReceive(t *testing.T, b *demoBrowser, step, shotName string) ledger.Amount {
	t.Helper()
	var text, notice string
	b.run(step,
		chromedp.Click("#receive"),
		chromedp.WaitVisible("#wallet-notice"),
		chromedp.Text("#wallet-notice", &notice),
		chromedp.Text("#balance", &text),
		b.shot(shotName),
	)
	t.Logf("%s: the page says %q", step, notice)
	return demoShells(t, step+": balance", text)
}

// demoSendShells is the Wallet part of the demo walk: it locks the first
// identity (A), creates a second (B) and reads its address, locks it,
// restores A, takes 100 shells from the demo's faucet and receives them,
// sends 2.5 to B with the confirmation step and sees A's balance drop by
// the amount and the fee; then locks, restores B, and sees the 2.5
// waiting, receives it and sees B's balance rise to 2.5.
func demoSendShells(t *testing.T, b *demoBrowser, origin string, wordsA []string, addrA string) {
	t.Helper()
	demoLock(t, b, "", "")
	wordsB, addrB := demoCreate(t, b, false)
	if addrB == addrA {
		t.Fatalf("the second identity has the first one's address %s", addrA)
	}
	demoLock(t, b, "", "")
	if got := demoRestore(t, b, wordsA, ""); got != addrA {
		t.Fatalf("after restoring A's words home shows %q, want %q", got, addrA)
	}

	// A: the faucet, then Receive.
	start, _ := demoWallet(t, b, origin, "A's wallet", false)
	if start != 0 {
		t.Fatalf("A starts with %s shells, want none", start)
	}
	var notice string
	b.run("A presses the faucet",
		chromedp.WaitVisible("#faucet"),
		b.shot("wallet-faucet"),
		chromedp.Click("#faucet"),
		chromedp.WaitVisible("#wallet-notice"),
		chromedp.Text("#wallet-notice", &notice),
	)
	t.Logf("faucet: the page says %q", notice)
	if !strings.Contains(notice, "faucet sent you") {
		t.Fatalf("after pressing the faucet the page says %q", notice)
	}
	_, pending := demoWallet(t, b, origin, "A's wallet after the faucet", true)
	gift := demoShells(t, "A's pending", pending)
	if gift != 100*ledger.MicroPerShell {
		t.Errorf("the faucet's shells waiting for A: %s, want 100", gift)
	}
	a0 := demoReceive(t, b, "A receives the faucet's shells", "wallet-faucet-received")
	if a0 != start+gift {
		t.Fatalf("A's balance after receiving %s is %s", gift, a0)
	}

	// A sends 2.5 to B, through the confirmation page.
	const sent = "2.5"
	amt, err := ledger.ParseAmount(sent)
	if err != nil {
		t.Fatal(err)
	}
	var confirmTo, confirmAmount, text string
	b.run("A reviews the send",
		chromedp.SendKeys("#send-to", addrB),
		chromedp.SendKeys("#send-amount", sent),
		chromedp.Click("#send-review"),
		chromedp.WaitVisible("#send-confirm"),
		chromedp.Text("#confirm-to", &confirmTo),
		chromedp.Text("#confirm-amount", &confirmAmount),
		b.shot("wallet-confirm"),
	)
	if confirmTo != addrB || !strings.HasPrefix(strings.TrimSpace(confirmAmount), sent) {
		t.Fatalf("the confirmation page asks to send %q to %q, want %s to %s", confirmAmount, confirmTo, sent, addrB)
	}
	b.run("A confirms the send",
		chromedp.Click("#send-confirm"),
		chromedp.WaitVisible("#wallet-notice"),
		chromedp.Text("#wallet-notice", &notice),
		chromedp.Text("#balance", &text),
		b.shot("wallet-sent"),
	)
	t.Logf("send: the page says %q", notice)
	a1 := demoShells(t, "A's balance after the send", text)
	// The fee the ledger charged, as the page's own API reports it.
	var feeText string
	b.run("read the fee",
		chromedp.Evaluate(fmt.Sprintf(`fetch("/api/wallet", {credentials: "same-origin"}).then(r => {
			if (!r.ok) { throw new Error("/api/wallet answered " + r.status); } return r.json(); })
		  .then(w => { const h = (w.history || []).find(h => h.kind === "send" && h.with === %q);
			if (!h) { throw new Error("no send to B in the history: " + JSON.stringify(w.history)); }
			return h.fee || "0"; })`, addrB), &feeText, awaitPromise),
	)
	fee := demoShells(t, "fee", feeText)
	if a0-a1 != amt+fee {
		t.Errorf("A's balance went from %s to %s, want down by %s plus the fee %s", a0, a1, amt, fee)
	}

	// B: the 2.5 is waiting; Receive credits it.
	demoLock(t, b, "", "")
	if got := demoRestore(t, b, wordsB, ""); got != addrB {
		t.Fatalf("after restoring B's words home shows %q, want %q", got, addrB)
	}
	b0, pending := demoWallet(t, b, origin, "B's wallet", true)
	if got := demoShells(t, "B's pending", pending); got != amt {
		t.Errorf("B's page shows %s waiting, want %s", got, amt)
	}
	b.run("B sees it waiting", b.shot("wallet-pending"))
	b1 := demoReceive(t, b, "B receives", "wallet-received")
	if b0 != 0 || b1 != amt {
		t.Errorf("B's balance went from %s to %s, want from 0 to %s", b0, b1, amt)
	}
	t.Logf("A: 0 -> %s (faucet) -> %s (sent %s, fee %s); B: %s -> %s", a0, a1, amt, fee, b0, b1)
}
