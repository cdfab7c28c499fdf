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
// lock, then unlock by restoring the 24 words, and find the file still
// there; open the Network page and see the tree drawn as an SVG.
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
	var words []string
	run("create an identity",
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
	want := keys.Address()
	var positions []int
	run("confirm page",
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
	var addr string
	run("confirm the words", append(confirm,
		shot("create-confirm"),
		chromedp.Click("#finish"),
		chromedp.WaitVisible("#address"),
		chromedp.Text("#address", &addr),
		shot("home"),
	)...)
	if addr != want {
		t.Fatalf("home shows %q, want %q", addr, want)
	}

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

	// Lock, then unlock by restoring the words read above.
	var notice string
	run("lock",
		chromedp.Click(`nav a[href="/settings"]`),
		chromedp.WaitVisible("#lock"),
		shot("settings"),
		chromedp.Click("#lock"),
		chromedp.WaitVisible("#notice"),
		chromedp.Text("#notice", &notice),
		shot("locked"),
	)
	if !strings.Contains(notice, "Locked") {
		t.Errorf("after Lock the page says %q", notice)
	}
	run("restore the words",
		chromedp.Click("#go-restore"),
		chromedp.WaitVisible("#mnemonic"),
		chromedp.SendKeys("#mnemonic", strings.Join(words, " ")),
		shot("restore"),
		chromedp.Click("#unlock"),
		chromedp.WaitVisible("#address"),
		chromedp.Text("#address", &addr),
	)
	if addr != want {
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
	t.Logf("network tree: %d nodes drawn; screenshots in %s", circles, b.shots)
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
