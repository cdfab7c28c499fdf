package conduit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
)

// TestBrowserFilesWallet drives Files and Wallet in real Chromium against
// a real three-node network: upload through the page's script, download
// the file bit-identical, preview a text file, see the balance, send with
// the confirmation step and see the balance change.
func TestBrowserFilesWallet(t *testing.T) {
	b := startBrowser(t)
	keys := testKeys(t)
	nc := startNetwork(t, 3, ledger.Allocation{Account: ledger.AccountID(keys.AccountPublic()), Amount: 100 * ledger.MicroPerShell})
	ts := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	run, shot, phoneShot := b.run, b.shot, b.phoneShot

	local := t.TempDir()
	data := make([]byte, 200_000+int(time.Now().UnixNano()%1000))
	rand.Read(data)
	upPath := filepath.Join(local, "upload.bin")
	notePath := filepath.Join(local, "note.txt")
	if err := os.WriteFile(upPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notePath, []byte("a note <b>not bold</b>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(local, "dot.png")
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pngPath, pngBuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()

	run("enable log", cdplog.Enable())
	run("open files",
		chromedp.Navigate(ts.URL()),
		chromedp.WaitVisible(`nav a[href="/files"]`),
		chromedp.Click(`nav a[href="/files"]`),
		chromedp.WaitVisible("#upload-input"),
		shot("files-empty"),
	)
	var notice string
	run("upload",
		chromedp.SetUploadFiles("#upload-input", []string{upPath, notePath, pngPath}),
		chromedp.Click("#upload-button"),
		chromedp.WaitVisible("#files-notice"),
		chromedp.Text("#files-notice", &notice),
		chromedp.WaitVisible("#file-table"),
		shot("files"),
		phoneShot("files"),
	)
	if !strings.Contains(notice, "Uploaded 3") {
		t.Fatalf("after upload the page says %q", notice)
	}
	run("download",
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.Click(`a[aria-label="Download upload.bin"]`),
	)
	got := filepath.Join(downloads, "upload.bin")
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := os.ReadFile(got)
		if err == nil && len(b) == len(data) {
			if !bytes.Equal(b, data) {
				t.Fatal("the downloaded file differs from the uploaded one")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete download in %s (last error %v, %d bytes)", downloads, err, len(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var text string
	run("preview text",
		chromedp.Click(`//a[text()="note.txt"]`, chromedp.BySearch),
		chromedp.WaitVisible("#preview-text"),
		chromedp.Text("#preview-text", &text),
		shot("files-preview"),
	)
	if !strings.Contains(text, "<b>not bold</b>") {
		t.Errorf("text preview shows %q", text)
	}

	// The image comes through /api/media (the stream fetcher) under the
	// page's CSP; naturalWidth is 0 until it has loaded and decoded.
	var width int
	run("preview image",
		chromedp.Click(`//a[text()="dot.png"]`, chromedp.BySearch),
		chromedp.WaitVisible(".preview-img"),
		chromedp.Poll(`document.querySelector(".preview-img").complete && document.querySelector(".preview-img").naturalWidth`, &width, chromedp.WithPollingTimeout(90*time.Second)),
	)
	if width != 40 {
		t.Errorf("image preview width %d, want 40", width)
	}

	var balance string
	run("wallet",
		chromedp.Click(`nav a[href="/wallet"]`),
		chromedp.WaitVisible("#balance"),
		chromedp.Text("#balance", &balance),
		shot("wallet"),
		phoneShot("wallet"),
	)
	if !strings.HasPrefix(balance, "100") {
		t.Fatalf("wallet shows balance %q, want 100 shells", balance)
	}
	pub, _, _ := identityKey()
	friend := identity.Address(pub)
	var confirmTo, after string
	run("send",
		chromedp.SendKeys("#send-to", friend),
		chromedp.SendKeys("#send-amount", "2.5"),
		chromedp.Click("#send-review"),
		chromedp.WaitVisible("#send-confirm"),
		chromedp.Text("#confirm-to", &confirmTo),
		shot("wallet-confirm"),
		chromedp.Click("#send-confirm"),
		chromedp.WaitVisible("#wallet-notice"),
		chromedp.Text("#balance", &after),
		shot("wallet-sent"),
	)
	if confirmTo != friend {
		t.Errorf("confirmation names %q, want %q", confirmTo, friend)
	}
	if after == balance || !strings.HasPrefix(after, "97") {
		t.Errorf("balance after sending 2.5 (plus fee) of %q: %q", balance, after)
	}
}

// TestBrowserNetwork opens the Network page in real Chromium against a
// real three-node network: the tree is drawn as an SVG with a title and
// description, this conduit's endpoints are marked (and the one in use),
// the text list is there, and the transfer rates go above zero while the
// conduit talks to the network.
func TestBrowserNetwork(t *testing.T) {
	b := startBrowser(t)
	nc := startNetwork(t, 3)
	ts := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	// Keep traffic flowing so the rates have something to show.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		p := nc.Pool()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			p.Refresh(ctx)
			cancel()
		}
	}()
	var title string
	var nodes, mine, inUse, items int
	var rate string
	b.run("network page",
		chromedp.Navigate(ts.URL()),
		chromedp.WaitVisible(`nav a[href="/network"]`),
		chromedp.Click(`nav a[href="/network"]`),
		// The first crawl may still be running when the page is drawn; the
		// page script swaps the picture in when it is done.
		chromedp.WaitVisible("#tree-svg"),
		chromedp.Poll(`document.querySelectorAll("#tree-svg g.tnode").length >= 3`, nil, chromedp.WithPollingTimeout(120*time.Second)),
		chromedp.Evaluate(`document.querySelectorAll("#tree-svg g.tnode").length`, &nodes),
		chromedp.Evaluate(`document.getElementById("tree-title").textContent`, &title),
		chromedp.Evaluate(`document.querySelectorAll("#tree-svg g.tnode-mine").length`, &mine),
		chromedp.Evaluate(`document.querySelectorAll("#tree-svg g.tnode-inuse").length`, &inUse),
		chromedp.Evaluate(`document.querySelectorAll("#tree-list li").length`, &items),
		chromedp.Poll(`(() => { for (const td of document.querySelectorAll('#peers td[data-f="down"], #peers td[data-f="up"]')) { if (td.textContent.trim() !== "0 B/s") return td.textContent.trim(); } return ""; })()`,
			&rate, chromedp.WithPollingTimeout(120*time.Second)),
		b.shot("network"),
		b.phoneShot("network"),
	)
	if !strings.Contains(title, "registry") {
		t.Errorf("SVG title %q", title)
	}
	if nodes != 3 || mine < 1 || inUse < 1 || items != 3 {
		t.Errorf("tree: %d nodes, %d mine, %d in use, %d list items", nodes, mine, inUse, items)
	}
	if !strings.HasSuffix(rate, "B/s") {
		t.Errorf("rate cell shows %q", rate)
	}
	var desc string
	b.run("tree description", chromedp.Evaluate(`document.getElementById("tree-desc").textContent`, &desc))
	if !strings.Contains(desc, "3 nodes answered") {
		t.Errorf("SVG description %q", desc)
	}
}

// TestBrowserSettings makes a key file from the Settings page (downloaded,
// then opened with its passphrase here) and approves a node's binding
// request: paste, review the node key, approve, read the completed binding.
func TestBrowserSettings(t *testing.T) {
	useFastKDF(t)
	b := startBrowser(t)
	ts := startServer(t, func(c *Config) { c.StatusInterval = time.Hour })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	keys := testKeys(t)
	downloads := t.TempDir()
	b.run("key file",
		chromedp.Navigate(ts.URL()),
		chromedp.WaitVisible(`nav a[href="/settings"]`),
		chromedp.Click(`nav a[href="/settings"]`),
		chromedp.WaitVisible("#kf-words"),
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.SendKeys("#kf-words", testPhrase),
		chromedp.SendKeys("#kf-pass", "a long passphrase"),
		chromedp.SendKeys("#kf-pass2", "a long passphrase"),
		chromedp.Click("#keyfile-download"),
	)
	got := filepath.Join(downloads, keyFileName)
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, err := os.ReadFile(got)
		if err == nil && len(data) == identity.KeyFileSize {
			k, err := identity.KeysFromKeyFile(data, []byte("a long passphrase"))
			if err != nil || k.Address() != keys.Address() {
				t.Fatalf("the downloaded key file: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no key file downloaded to %s (%v)", downloads, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	_, nodeKey, _ := ed25519.GenerateKey(nil)
	var me ledger.AccountID
	copy(me[:], keys.AccountPublic())
	req := ledger.NewBindingRequest(ledger.Hash{7}, nodeKey, me)
	var shown, completed, owned string
	b.run("approve a node",
		chromedp.Navigate(ts.Origin()+"/settings"),
		chromedp.WaitVisible("#binding-request"),
		chromedp.SetValue("#binding-request", EncodeBinding(&req)),
		chromedp.Click("#binding-review-button"),
		chromedp.WaitVisible("#binding-approve"),
		chromedp.Text("#review-node", &shown),
		b.shot("settings-review"),
		chromedp.Click("#binding-approve"),
		chromedp.WaitVisible("#binding-out"),
		chromedp.Text("#binding-out", &completed),
		chromedp.Text("#owned", &owned),
		b.shot("settings"),
		b.phoneShot("settings"),
	)
	if shown != hex.EncodeToString(nodeKey.Public().(ed25519.PublicKey)) {
		t.Errorf("review shows node %q", shown)
	}
	done, err := DecodeBinding(completed)
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Verify(); err != nil || done.Owner != me {
		t.Fatalf("completed binding: %v", err)
	}
	if !strings.Contains(owned, hex.EncodeToString(done.Node[:4])) {
		t.Errorf("owned list %q", owned)
	}
}
