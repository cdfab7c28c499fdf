package conduit

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/borgios/borgios/node/identity"
)

// TestBrowserMail drives Mail in real Chromium against a real
// three-node network with two people, each on their own conduit: Alice
// composes a message with an attachment to Bob's address; Bob sees it in
// his inbox with a Verified badge and Alice's address, reads it,
// downloads the attachment bit-identical, and deletes it.
func TestBrowserMail(t *testing.T) {
	b := startBrowser(t)
	nc := startMailNetwork(t, 3)
	alice := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	bob := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	bobPhrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	if st := alice.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock alice: %d", st)
	}
	if st := bob.api("POST", "/api/unlock", unlockRequest{Mnemonic: bobPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock bob: %d", st)
	}
	bobKeys, err := identity.KeysFromMnemonic(bobPhrase, "")
	if err != nil {
		t.Fatal(err)
	}
	aliceAddr, bobAddr := testKeys(t).Address(), bobKeys.Address()
	// Bob's conduit publishes his key record (opening Mail does the same).
	var pub struct{ Address string }
	if st := bob.api("POST", "/api/mail/publish", nil, &pub); st != http.StatusOK || pub.Address != bobAddr {
		t.Fatalf("publish: %d %+v", st, pub)
	}

	local := t.TempDir()
	data := make([]byte, 150_000+int(time.Now().UnixNano()%1000))
	rand.Read(data)
	attPath := filepath.Join(local, "report.bin")
	if err := os.WriteFile(attPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()
	run, shot, phoneShot := b.run, b.shot, b.phoneShot
	// The delete button asks for confirmation; accept it.
	chromedp.ListenTarget(b.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Run(b.ctx, page.HandleJavaScriptDialog(true))
		}
	})

	const subject = "Quarterly report <draft>"
	const body = "Hello Bob,\nthe numbers are attached.\n<script>alert(1)</script>"
	var notice string
	run("enable log", cdplog.Enable())
	run("alice opens mail",
		chromedp.Navigate(alice.URL()),
		chromedp.WaitVisible(`nav a[href="/mail"]`),
		chromedp.Click(`nav a[href="/mail"]`),
		chromedp.WaitVisible("#mail-empty"),
		chromedp.Click("#compose-link"),
		chromedp.WaitVisible("#mail-to"),
	)
	run("alice sends",
		chromedp.SendKeys("#mail-to", bobAddr),
		chromedp.SendKeys("#mail-subject-input", subject),
		chromedp.SendKeys("#mail-text", body),
		chromedp.SetUploadFiles("#mail-files", []string{attPath}),
		shot("mail-compose"),
		chromedp.Click("#send"),
		chromedp.WaitVisible("#mail-notice"),
		chromedp.Text("#mail-notice", &notice),
	)
	if !strings.Contains(notice, "Sent to "+bobAddr) {
		t.Fatalf("after sending the page says %q", notice)
	}

	var from, badge, gotSubject, gotBody string
	run("bob's inbox",
		chromedp.Navigate(bob.URL()),
		chromedp.WaitVisible(`nav a[href="/mail"]`),
		chromedp.Click(`nav a[href="/mail"]`),
		chromedp.WaitVisible("#mail-table"),
		chromedp.Text("#mail-table tbody tr .mail-addr", &from),
		chromedp.Text("#mail-table tbody tr .mail-badge", &badge),
		shot("mail"),
		phoneShot("mail"),
	)
	if from != aliceAddr || badge != "Verified" {
		t.Fatalf("inbox row from %q badge %q, want %q Verified", from, badge, aliceAddr)
	}
	run("bob reads",
		chromedp.Click("#mail-table tbody tr .mail-subject a"),
		chromedp.WaitVisible("#mail-body"),
		chromedp.Text("#mail-subject", &gotSubject),
		chromedp.Text("#mail-body", &gotBody),
		chromedp.Text("#mail-from", &from),
		shot("mail-read"),
		phoneShot("mail-read"),
	)
	if gotSubject != subject || strings.TrimSpace(gotBody) != body || from != aliceAddr {
		t.Fatalf("read subject %q body %q from %q", gotSubject, gotBody, from)
	}
	run("download attachment",
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.Click(`a[aria-label="Download report.bin"]`),
	)
	got := filepath.Join(downloads, "report.bin")
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := os.ReadFile(got)
		if err == nil && len(b) == len(data) {
			if !bytes.Equal(b, data) {
				t.Fatal("the downloaded attachment differs from the one sent")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete download in %s (last error %v, %d bytes)", downloads, err, len(b))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The API sees the message as read now.
	var list struct {
		Messages []messageJSON `json:"messages"`
	}
	if st := bob.api("GET", "/api/mail/list", nil, &list); st != http.StatusOK || len(list.Messages) != 1 || !list.Messages[0].Read ||
		!list.Messages[0].Verified || len(list.Messages[0].Attachments) != 1 {
		t.Fatalf("list: %d %+v", st, list)
	}

	run("bob deletes",
		chromedp.Click("#delete"),
		chromedp.WaitVisible("#mail-notice"),
		chromedp.WaitVisible("#mail-empty"),
	)
	if st := bob.api("GET", "/api/mail/list", nil, &list); st != http.StatusOK || len(list.Messages) != 0 {
		t.Fatalf("after delete: %d %+v", st, list)
	}
	t.Logf("screenshots in %s", b.shots)
}
