package web

import (
	"bytes"
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"rsc.io/qr"
)

const testAddress = "borg1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0sqg6hd0s"

// pages returns every page with realistic view models.
func pages(t testing.TB) map[string]templ.Component {
	t.Helper()
	code, err := NewQR(strings.ToUpper(testAddress))
	if err != nil {
		t.Fatal(err)
	}
	locked := Page{Title: "Welcome", Active: NavWelcome}
	unlocked := Page{Title: "Home", Active: NavHome, Unlocked: true, Address: testAddress, NeedsKeys: true}
	net := NetworkView{Health: HealthDegraded, Summary: "Connected to 1 node; want 3.", Mode: "embedded node", Peers: 1, NetworkID: "main"}
	words := strings.Fields("abandon ability able about above absent absorb abstract absurd abuse access accident account accuse achieve acid acoustic acquire across act action actor actress actual")
	return map[string]templ.Component{
		"welcome":         WelcomePage(WelcomeView{Page: locked, Notice: "Locked after 15 minutes without use."}),
		"welcome-keyfile": WelcomePage(WelcomeView{Page: locked, HasKeyFile: true, KeyFileError: "That is not the key file's passphrase."}),
		"words":           WordsPage(WordsView{Page: locked, Words: words}),
		"confirm":         ConfirmPage(ConfirmView{Page: locked, Positions: []int{3, 11, 20}, Error: "Word 3 does not match."}),
		"restore":         RestorePage(RestoreView{Page: locked, Phrase: "abandon <b>x</b>", Error: "Word 2 '<b>x</b>' is not in the list"}),
		"home":            HomePage(HomeView{Page: unlocked, Address: testAddress, QR: code, Balance: "—", Storage: "—", Network: net}),
		"network":         NetworkPage(NetworkPageView{Page: unlocked, Network: net}),
		"network-empty":   NetworkPage(NetworkPageView{Page: locked, Network: NetworkView{Health: HealthUnknown}}),
		"settings":        SettingsPage(SettingsView{Page: unlocked, IdleLock: "15 minutes"}),
		"unplugged":       UnpluggedPage(UnpluggedView{Page: locked}),
		"error":           ErrorPage(ErrorView{Page: locked, Status: 404, Message: "No page at /x."}),
	}
}

func render(t testing.TB, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	inputIDRe  = regexp.MustCompile(`<(?:input|textarea)[^>]*?\sid="([^"]+)"`)
	inputTagRe = regexp.MustCompile(`<(?:input|textarea|select)\b`)
)

// TestPagesAccessibleAndCSPClean checks what the strict CSP and basic
// accessibility need of every page: no inline script, style or handlers;
// a language, a title, one h1, a main landmark; every field labelled.
func TestPagesAccessibleAndCSPClean(t *testing.T) {
	for name, c := range pages(t) {
		html := render(t, c)
		low := strings.ToLower(html)
		if strings.Count(low, "<script") != 1 || !strings.Contains(html, `<script src="/static/app.js" defer></script>`) {
			t.Errorf("%s: scripts other than /static/app.js", name)
		}
		for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onerror=", " onsubmit=", "javascript:", "http://", "https://"} {
			// The SVG namespace is the one absolute URL allowed.
			if strings.Contains(strings.ReplaceAll(low, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
				t.Errorf("%s: contains %q", name, bad)
			}
		}
		for _, want := range []string{`<html lang="en">`, "<title>", `<main id="main"`, `class="skip" href="#main"`, `name="viewport"`} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: lacks %s", name, want)
			}
		}
		if n := strings.Count(html, "<h1"); n != 1 {
			t.Errorf("%s: %d h1 elements", name, n)
		}
		ids := inputIDRe.FindAllStringSubmatch(html, -1)
		if len(ids) != len(inputTagRe.FindAllString(html, -1)) {
			t.Errorf("%s: a form field without an id (so without a label)", name)
		}
		for _, m := range ids {
			if !strings.Contains(html, `<label for="`+m[1]+`"`) {
				t.Errorf("%s: field %s has no label", name, m[1])
			}
		}
		if strings.Contains(html, "<b>x</b>") {
			t.Errorf("%s: user text not escaped", name)
		}
	}
}

func TestNavShowsOnlyBuiltSections(t *testing.T) {
	home := render(t, pages(t)["home"])
	for _, want := range []string{`href="/home" aria-current="page"`, `href="/network"`, `href="/settings"`} {
		if !strings.Contains(home, want) {
			t.Errorf("unlocked nav lacks %s", want)
		}
	}
	for _, absent := range []string{"/files", "/wallet", "/mail"} {
		if strings.Contains(home, absent) {
			t.Errorf("nav links to %s, which does not exist yet", absent)
		}
	}
	welcome := render(t, pages(t)["welcome"])
	if strings.Contains(welcome, `href="/settings"`) || strings.Contains(welcome, `href="/home"`) {
		t.Error("locked nav links to pages that need keys")
	}
	if !strings.Contains(home, "data-needs-keys") || strings.Contains(welcome, "data-needs-keys") {
		t.Error("data-needs-keys on the wrong pages")
	}
}

func TestRestoreKeepsPhraseNotPassphrase(t *testing.T) {
	html := render(t, RestorePage(RestoreView{Phrase: "abandon ability", Error: "x"}))
	if !strings.Contains(html, ">abandon ability</textarea>") {
		t.Error("phrase not put back")
	}
	if !strings.Contains(html, `aria-invalid="true"`) || !strings.Contains(html, `aria-describedby="form-error"`) {
		t.Error("error not tied to the field")
	}
	for _, want := range []string{`spellcheck="false"`, `autocomplete="off"`, `autocapitalize="none"`} {
		if !strings.Contains(html, want) {
			t.Errorf("phrase field lacks %s (it would go to spellcheck or autofill)", want)
		}
	}
}

func TestQR(t *testing.T) {
	text := strings.ToUpper(testAddress)
	code, err := NewQR(text)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	// Alphanumeric mode keeps a 63-character address at version 4.
	if ref.Size != 33 {
		t.Errorf("upper-case address gives a %d-module code, want 33 (version 4)", ref.Size)
	}
	lower, _ := qr.Encode(testAddress, qr.M)
	if lower.Size <= ref.Size {
		t.Errorf("lower case (byte mode) %d modules, not larger than %d", lower.Size, ref.Size)
	}
	n := ref.Size + 2*quietZone
	if code.ViewBox != "0 0 41 41" || code.Pixels != n*pixelsPerModule {
		t.Errorf("ViewBox %q, Pixels %d", code.ViewBox, code.Pixels)
	}
	// Every dark module, and only those, is one square in the path.
	var dark int
	for y := range ref.Size {
		for x := range ref.Size {
			if ref.Black(x, y) {
				dark++
				sq := "M" + itoa(x+quietZone) + " " + itoa(y+quietZone) + "h1v1h-1z"
				if !strings.Contains(code.Path, sq) {
					t.Fatalf("module %d,%d missing", x, y)
				}
			}
		}
	}
	if got := strings.Count(code.Path, "M"); got != dark {
		t.Errorf("%d squares for %d dark modules", got, dark)
	}
	// The finder pattern's corner is dark, the quiet zone is not drawn.
	if !strings.HasPrefix(code.Path, "M4 4h1v1h-1z") {
		t.Errorf("path starts %.20q", code.Path)
	}
	if _, err := NewQR(strings.Repeat("x", 8000)); err == nil {
		t.Error("oversized text encoded")
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestStaticFiles(t *testing.T) {
	for _, name := range []string{"app.css", "app.js", "icon.svg"} {
		b, err := fs.ReadFile(Static, name)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v", name, err)
		}
		if bytes.Contains(b, []byte("http://")) && name != "icon.svg" || bytes.Contains(b, []byte("https://")) {
			t.Errorf("%s refers to an outside URL (no CDNs, no external fonts)", name)
		}
	}
	js, _ := fs.ReadFile(Static, "app.js")
	for _, bad := range []string{"eval(", "new Function", "innerHTML"} {
		if bytes.Contains(js, []byte(bad)) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

func TestHealthLabels(t *testing.T) {
	for h, want := range map[Health]string{HealthOK: "Healthy", HealthDegraded: "Degraded", HealthOffline: "Offline", HealthUnknown: "Unknown", "": "Unknown"} {
		if got := h.Label(); got != want {
			t.Errorf("%q: %q", h, got)
		}
	}
}

// BenchmarkRender renders each page to memory (templ only, no HTTP).
func BenchmarkRender(b *testing.B) {
	for name, c := range pages(b) {
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := c.Render(context.Background(), &buf); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
