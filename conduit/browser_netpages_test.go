package conduit

import (
	"bytes"
	"crypto/rand"
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
