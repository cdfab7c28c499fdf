package conduit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/mail"
)

func TestAPICreateLockUnlock(t *testing.T) {
	ts := startServer(t, nil)

	var n newIdentityJSON
	if status := ts.api("POST", "/api/identity/new", nil, &n); status != http.StatusOK {
		t.Fatalf("new: %d", status)
	}
	if len(n.Words) != 24 || len(n.Confirm) != 3 {
		t.Fatalf("new: %d words, confirm %v", len(n.Words), n.Confirm)
	}
	phrase := strings.Join(n.Words, " ")
	if err := identity.ValidateMnemonic(phrase); err != nil {
		t.Fatalf("new phrase invalid: %v", err)
	}

	// A wrong word is caught and says which.
	wrong := answersFor(n)
	p := n.Confirm[1]
	wrong[strconv.Itoa(p)] = "zzz"
	var e apiError
	if status := ts.api("POST", "/api/identity/confirm", confirmRequest{Words: wrong}, &e); status != http.StatusUnprocessableEntity || e.Code != "mismatch" || e.Position != p {
		t.Fatalf("confirm wrong: %d %+v", status, e)
	}
	// A missing answer too.
	if status := ts.api("POST", "/api/identity/confirm", confirmRequest{Words: map[string]string{}}, &e); status != http.StatusUnprocessableEntity {
		t.Fatalf("confirm empty: %d %+v", status, e)
	}

	// Right words, in any case and spacing, unlock.
	right := answersFor(n)
	for k, v := range right {
		right[k] = "  " + strings.ToUpper(v) + " "
	}
	var id identityJSON
	if status := ts.api("POST", "/api/identity/confirm", confirmRequest{Words: right}, &id); status != http.StatusOK || id.Locked {
		t.Fatalf("confirm: %d %+v", status, id)
	}
	want, err := identity.KeysFromMnemonic(phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	if id.Address != want.Address() || !strings.HasPrefix(id.Address, "borg1") || len(id.AccountPublicKey) != 64 || len(id.X25519PublicKey) != 64 {
		t.Fatalf("identity %+v, want address %s", id, want.Address())
	}
	// The phrase is gone from the server once confirmed.
	if ts.currentCreate() != nil {
		t.Error("pending phrase kept after confirm")
	}
	if status := ts.api("POST", "/api/identity/confirm", confirmRequest{Words: answersFor(n)}, &e); status != http.StatusConflict || e.Code != "no_pending" {
		t.Errorf("second confirm: %d %+v", status, e)
	}
	if status := ts.api("POST", "/api/identity/new", nil, &e); status != http.StatusConflict || e.Code != "already_unlocked" {
		t.Errorf("new while unlocked: %d %+v", status, e)
	}
	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: phrase}, &e); status != http.StatusConflict || e.Code != "already_unlocked" {
		t.Errorf("unlock while unlocked: %d %+v", status, e)
	}

	var got identityJSON
	ts.api("GET", "/api/identity", nil, &got)
	if got != id {
		t.Errorf("GET identity %+v, want %+v", got, id)
	}

	got = identityJSON{}
	if status := ts.api("POST", "/api/lock", nil, &got); status != http.StatusOK || !got.Locked || got.Address != "" || got.LockReason != LockByUser {
		t.Fatalf("lock: %d %+v", status, got)
	}
	got = identityJSON{}
	ts.api("GET", "/api/identity", nil, &got)
	if !got.Locked || got.Address != "" {
		t.Fatalf("after lock: %+v", got)
	}

	// Unlock by typing the phrase (sloppily) restores the same identity.
	sloppy := "  " + strings.ToUpper(strings.Join(n.Words, "   ")) + "\n"
	got = identityJSON{}
	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: sloppy}, &got); status != http.StatusOK || got.Address != id.Address {
		t.Fatalf("unlock: %d %+v", status, got)
	}
	ts.api("POST", "/api/lock", nil, nil)

	// A BIP39 passphrase gives another identity.
	got = identityJSON{}
	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: phrase, Passphrase: "x"}, &got); status != http.StatusOK || got.Address == id.Address {
		t.Fatalf("unlock with passphrase: %d %+v", status, got)
	}
}

func TestAPIUnlockErrors(t *testing.T) {
	ts := startServer(t, nil)
	words := strings.Fields(testPhrase)
	typo := append([]string(nil), words...)
	typo[6] = "abandn"
	short := strings.Join(words[:23], " ")
	swapped := append([]string(nil), words...)
	swapped[23], swapped[0] = swapped[0], swapped[23]

	cases := []struct {
		name, phrase, code string
		position           int
	}{
		{"typo", strings.Join(typo, " "), "unknown_word", 7},
		{"count", short, "word_count", 0},
		{"checksum", strings.Join(swapped, " "), "checksum", 0},
		{"empty", "", "word_count", 0},
	}
	for _, c := range cases {
		var e apiError
		status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: c.phrase}, &e)
		if status != http.StatusUnprocessableEntity || e.Code != c.code || e.Position != c.position {
			t.Errorf("%s: %d %+v", c.name, status, e)
		}
		if c.code == "unknown_word" {
			if len(e.Suggestions) == 0 || e.Suggestions[0] != "abandon" || !strings.Contains(e.Error, "did you mean abandon") {
				t.Errorf("%s: %+v", c.name, e)
			}
		}
	}
	// Not JSON, or not labelled JSON.
	req := ts.newRequest("POST", "/api/unlock", strings.NewReader(`mnemonic=x`))
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, code := refusalOf(t, ts.do(req, false)); status != http.StatusUnsupportedMediaType || code != "content_type" {
		t.Errorf("form body: %d %s", status, code)
	}
	req = ts.newRequest("POST", "/api/unlock", strings.NewReader(`{"mnemonic": 5}`))
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	req.Header.Set("Content-Type", "application/json")
	if status, code := refusalOf(t, ts.do(req, false)); status != http.StatusBadRequest || code != "bad_json" {
		t.Errorf("bad JSON: %d %s", status, code)
	}
	var e apiError
	if status := ts.api("GET", "/api/nothing", nil, &e); status != http.StatusNotFound || e.Code != "not_found" {
		t.Errorf("unknown endpoint: %d %+v", status, e)
	}
	if status := ts.api("GET", "/api/lock", nil, &e); status != http.StatusNotFound || e.Code != "not_found" {
		t.Errorf("GET /api/lock: %d", status)
	}
}

func TestIdleLockThroughRequests(t *testing.T) {
	ts := startServer(t, nil)
	var id identityJSON
	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, &id); status != http.StatusOK {
		t.Fatal(status)
	}
	ts.mailHeads.put(id.Address, mail.ID{1}, messageJSON{ID: "01", Subject: "opened before the idle lock"})
	ts.clock.Advance(10 * time.Minute)
	ts.api("GET", "/api/identity", nil, &id) // a real use: postpones
	ts.clock.Advance(10 * time.Minute)
	var st statusJSON
	ts.api("GET", "/api/status", nil, &st) // the page's polling: does not
	if st.Locked {
		t.Fatal("locked too early")
	}
	ts.clock.Advance(5 * time.Minute)
	st = statusJSON{}
	ts.api("GET", "/api/status", nil, &st)
	if !st.Locked || st.LockReason != LockIdle || st.Address != "" {
		t.Fatalf("not idle-locked: %+v", st)
	}
	if n := ts.mailHeads.size(); n != 0 {
		t.Fatalf("%d opened mail headers kept after the idle lock", n)
	}
	status, body := ts.get("/welcome")
	if status != http.StatusOK || !strings.Contains(body, "Locked after 15 minutes without use") {
		t.Errorf("welcome after idle lock: %d", status)
	}
	if status, _ := ts.get("/home"); status != http.StatusSeeOther {
		t.Errorf("home while locked: %d", status)
	}
}

func TestIdleLockDropsPendingPhrase(t *testing.T) {
	ts := startServer(t, nil)
	ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil)
	ts.api("POST", "/api/lock", nil, nil)
	var n newIdentityJSON
	ts.api("POST", "/api/identity/new", nil, &n)
	ts.api("POST", "/api/lock", nil, nil)
	var e apiError
	if status := ts.api("POST", "/api/identity/confirm", confirmRequest{Words: answersFor(n)}, &e); status != http.StatusConflict {
		t.Errorf("confirm after lock: %d %+v", status, e)
	}
}

func TestStatusAndEvents(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.StatusInterval = time.Hour })
	var st statusJSON
	ts.api("GET", "/api/status", nil, &st)
	if !st.Locked || st.Network.Health != HealthOK || st.Network.Peers != 3 || st.IdleLockSeconds != 900 {
		t.Fatalf("status %+v", st)
	}

	// The test's deadline only keeps a broken stream from hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := ts.newRequest("GET", "/api/events", nil).WithContext(ctx)
	resp := ts.do(req, true)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := readEvents(resp.Body)
	next := func() (string, statusJSON) {
		t.Helper()
		ev, ok := <-events
		if !ok {
			t.Fatal("stream ended")
		}
		var s statusJSON
		if ev.name == "status" {
			if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
				t.Fatal(err)
			}
		}
		return ev.name, s
	}
	if name, s := next(); name != "status" || !s.Locked {
		t.Fatalf("first event %s %+v", name, s)
	}
	ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil)
	if name, s := next(); name != "status" || s.Locked || !strings.HasPrefix(s.Address, "borg1") {
		t.Fatalf("after unlock: %s %+v", name, s)
	}
	ts.api("POST", "/api/lock", nil, nil)
	if name, s := next(); name != "status" || !s.Locked || s.LockReason != LockByUser {
		t.Fatalf("after lock: %s %+v", name, s)
	}
	// Shutting down says goodbye, so the page stops reconnecting.
	ts.cancel()
	for {
		ev, ok := <-events
		if !ok {
			break // the request context ended with the server: also fine
		}
		if ev.name == "bye" {
			break
		}
	}
}

type sseEvent struct{ name, data string }

// readEvents parses a text/event-stream into events (comments skipped).
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

var (
	wordRe     = regexp.MustCompile(`<li data-n="(\d+)"><span class="n">\d+</span> <span class="w" data-word>([a-z]+)</span></li>`)
	positionRe = regexp.MustCompile(`data-position="(\d+)"`)
)

func TestPageFlows(t *testing.T) {
	ts := startServer(t, nil)

	if status, _ := ts.get("/"); status != http.StatusSeeOther {
		t.Fatalf("/: %d", status)
	}
	status, body := ts.get("/welcome")
	if status != http.StatusOK || !strings.Contains(body, "Create a new identity") {
		t.Fatalf("welcome: %d", status)
	}
	resp, _ := ts.postForm("/welcome/create", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/welcome/words" {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = ts.get("/welcome/words")
	var words []string
	for _, m := range wordRe.FindAllStringSubmatch(body, -1) {
		words = append(words, m[2])
	}
	if len(words) != 24 {
		t.Fatalf("words page shows %d words", len(words))
	}
	_, body = ts.get("/welcome/confirm")
	form := url.Values{}
	var asked []int
	for _, m := range positionRe.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		asked = append(asked, n)
		form.Set("word"+m[1], words[n-1])
	}
	if len(asked) != 3 {
		t.Fatalf("confirm asks %v", asked)
	}
	bad := url.Values{}
	for k := range form {
		bad.Set(k, "wrong")
	}
	resp, body = ts.postForm("/welcome/confirm", bad)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Word "+strconv.Itoa(asked[0])+" does not match") {
		t.Fatalf("confirm wrong: %d", resp.StatusCode)
	}
	resp, _ = ts.postForm("/welcome/confirm", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	keys, err := identity.KeysFromMnemonic(strings.Join(words, " "), "")
	if err != nil {
		t.Fatal(err)
	}
	addr := keys.Address()
	status, body = ts.get("/home")
	if status != http.StatusOK || !strings.Contains(body, addr) || !strings.Contains(body, "<svg") || !strings.Contains(body, `data-copy="address"`) {
		t.Fatalf("home: %d, address %s shown: %v", status, addr, strings.Contains(body, addr))
	}
	if !strings.Contains(body, "Healthy") || !strings.Contains(body, "Connected to 3 nodes.") {
		t.Error("home lacks network health")
	}
	if status, body = ts.get("/settings"); status != http.StatusOK || !strings.Contains(body, "15 minutes") {
		t.Errorf("settings: %d", status)
	}
	if status, _ = ts.get("/welcome"); status != http.StatusSeeOther {
		t.Errorf("welcome while unlocked: %d", status)
	}

	resp, _ = ts.postForm("/lock", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/welcome" {
		t.Fatalf("lock: %d", resp.StatusCode)
	}
	if _, body = ts.get("/welcome"); !strings.Contains(body, "Locked. Your keys were wiped") {
		t.Error("no lock notice")
	}

	// Restore with a typo: the error names the word and keeps the phrase.
	typo := append([]string(nil), words...)
	typo[6] = typo[6][:len(typo[6])-1] + "q"
	if identity.ValidateMnemonic(strings.Join(typo, " ")) == nil {
		typo[6] = "qqqq"
	}
	resp, body = ts.postForm("/welcome/restore", url.Values{"mnemonic": {strings.Join(typo, " ")}, "passphrase": {"secret-pass"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Word 7 &#39;"+typo[6]+"&#39; is not in the list") {
		t.Fatalf("restore typo: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "secret-pass") {
		t.Error("passphrase echoed back")
	}
	resp, _ = ts.postForm("/welcome/restore", url.Values{"mnemonic": {strings.Join(words, " ")}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("restore: %d", resp.StatusCode)
	}
	if _, body = ts.get("/home"); !strings.Contains(body, addr) {
		t.Error("restored identity differs")
	}
	if status, _ = ts.get("/network"); status != http.StatusOK {
		t.Errorf("network: %d", status)
	}
	if status, _ = ts.get("/nope"); status != http.StatusNotFound {
		t.Errorf("unknown page: %d", status)
	}
}

func TestUnplugExitsAndWipes(t *testing.T) {
	called := make(chan struct{}, 1)
	ts := startServer(t, func(c *Config) {
		c.ExitOnUnplug = true
		c.OnUnplug = func(context.Context) error { called <- struct{}{}; return nil }
	})
	k := testKeys(t)
	acct := k.Account
	if _, err := ts.Vault().Unlock(k); err != nil {
		t.Fatal(err)
	}
	resp, body := ts.postForm("/unplug", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Safe to unplug") {
		t.Fatalf("unplug: %d", resp.StatusCode)
	}
	<-called
	if !allZero(acct) {
		t.Error("keys not wiped")
	}
	// Run returns by itself; the cleanup's cancel comes after.
	<-ts.Unplugged()
	if err := <-ts.runErr; err != nil {
		t.Fatal(err)
	}
	ts.runErr <- nil
}

func TestUnplugFailureIsReported(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.OnUnplug = func(context.Context) error { return errors.New("stick busy") }
	})
	ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil)
	var e apiError
	if status := ts.api("POST", "/api/unplug", nil, &e); status != http.StatusInternalServerError || e.Code != "unplug_failed" || !strings.Contains(e.Error, "stick busy") {
		t.Errorf("unplug: %d %+v", status, e)
	}
	var id identityJSON
	if ts.api("GET", "/api/identity", nil, &id); !id.Locked {
		t.Error("keys kept after a failed unplug")
	}
	select {
	case <-ts.Unplugged():
		t.Error("Unplugged closed after failure")
	default:
	}
}

func TestShutdownWipes(t *testing.T) {
	ts := startServer(t, nil)
	k := testKeys(t)
	acct := k.Account
	if _, err := ts.Vault().Unlock(k); err != nil {
		t.Fatal(err)
	}
	ts.cancel()
	if err := <-ts.runErr; err != nil {
		t.Fatal(err)
	}
	ts.runErr <- nil
	if !allZero(acct) {
		t.Error("keys survived shutdown")
	}
}

// clipPath is a 6 s, 320x240 VP8 WebM (noise over a test pattern, so it
// does not compress to nothing, with a key frame every second), made with
//
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=25:duration=6 -vf noise=alls=20:allf=t \
//	  -c:v libvpx -b:v 800k -g 25 -auto-alt-ref 0 -pix_fmt yuv420p -an clip.webm
const clipPath = "testdata/clip.webm"

// TestMediaRanges checks /api/media's answers to the Range requests a
// player and a script can send, on a file stored on a real three-node
// network: a plain range, an open one, a suffix, one running past the
// end (clipped), ranges wholly past the end (416 with bytes */SIZE),
// several at once (multipart/byteranges), and If-Range with a matching
// and a stale validator.
func TestMediaRanges(t *testing.T) {
	// Random bytes under a video's name: the ranges do not care what is
	// in the file, and one network piece (256 KiB) keeps the many whole
	// reads cheap under the race detector. The video itself plays in
	// TestBrowserVideo.
	clip := make([]byte, 60_000+int(time.Now().UnixNano()%1000))
	rand.Read(clip)
	size := len(clip)
	nc := startNetwork(t, 3)
	ts := startServer(t, func(c *Config) { c.Network = nc })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	if st, b := ts.uploadFiles("/videos", "", map[string][]byte{"clip.webm": clip}, "clip.webm"); st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, b)
	}
	const media = "/api/media/videos/clip.webm"
	whole, body := ts.getBearer(media, nil)
	if whole.StatusCode != http.StatusOK || !bytes.Equal(body, clip) {
		t.Fatalf("whole file: %d, %d bytes", whole.StatusCode, len(body))
	}
	if whole.Header.Get("Accept-Ranges") != "bytes" || !strings.HasPrefix(whole.Header.Get("Content-Type"), "video/webm") {
		t.Fatalf("headers of the whole file: %v", whole.Header)
	}
	etag := whole.Header.Get("ETag")
	lastMod := whole.Header.Get("Last-Modified")
	if etag == "" || lastMod == "" {
		t.Fatalf("no validators: ETag %q Last-Modified %q", etag, lastMod)
	}

	partial := func(name, rng string, hdr map[string]string, start, end int) {
		t.Helper()
		h := map[string]string{"Range": rng}
		for k, v := range hdr {
			h[k] = v
		}
		resp, b := ts.getBearer(media, h)
		want := fmt.Sprintf("bytes %d-%d/%d", start, end, size)
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != want {
			t.Errorf("%s (%s): %d Content-Range %q, want 206 %q", name, rng, resp.StatusCode, resp.Header.Get("Content-Range"), want)
			return
		}
		if !bytes.Equal(b, clip[start:end+1]) || resp.Header.Get("Content-Length") != strconv.Itoa(end+1-start) {
			t.Errorf("%s (%s): %d bytes (Content-Length %s), not bytes %d-%d of the file", name, rng, len(b), resp.Header.Get("Content-Length"), start, end)
		}
	}
	partial("first bytes", "bytes=0-99", nil, 0, 99)
	partial("middle", fmt.Sprintf("bytes=%d-%d", size/2, size/2+9999), nil, size/2, size/2+9999)
	partial("open range", fmt.Sprintf("bytes=%d-", size-1000), nil, size-1000, size-1)
	partial("suffix", "bytes=-500", nil, size-500, size-1)
	partial("suffix longer than the file", fmt.Sprintf("bytes=-%d", size+100), nil, 0, size-1)
	partial("end past the end", fmt.Sprintf("bytes=%d-%d", size-10, size+1000), nil, size-10, size-1)
	partial("last byte", fmt.Sprintf("bytes=%d-%d", size-1, size-1), nil, size-1, size-1)

	for _, rng := range []string{fmt.Sprintf("bytes=%d-", size), fmt.Sprintf("bytes=%d-%d", size+10, size+20), "bytes=-0"} {
		resp, _ := ts.getBearer(media, map[string]string{"Range": rng})
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
			t.Errorf("%s: %d Content-Range %q, want 416 bytes */%d", rng, resp.StatusCode, resp.Header.Get("Content-Range"), size)
		}
	}
	if resp, _ := ts.getBearer(media, map[string]string{"Range": "bytes=9-2"}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("backwards range: %d, want 416", resp.StatusCode)
	}
	// A unit the server does not know is ignored: the whole file.
	if resp, b := ts.getBearer(media, map[string]string{"Range": "pages=1-2"}); resp.StatusCode != http.StatusOK || len(b) != size {
		t.Errorf("unknown range unit: %d, %d bytes", resp.StatusCode, len(b))
	}

	// Several ranges: one multipart/byteranges answer, each part with its
	// own Content-Range.
	resp, b := ts.getBearer(media, map[string]string{"Range": "bytes=0-9,1000-1099,-20"})
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusPartialContent || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multiple ranges: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	wantParts := [][2]int{{0, 9}, {1000, 1099}, {size - 20, size - 1}}
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if i != len(wantParts) {
				t.Errorf("multipart answer has %d parts, want %d", i, len(wantParts))
			}
			break
		}
		if err != nil || i >= len(wantParts) {
			t.Fatalf("part %d: %v", i, err)
		}
		pb, _ := io.ReadAll(p)
		w := wantParts[i]
		if cr := p.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", w[0], w[1], size) || !bytes.Equal(pb, clip[w[0]:w[1]+1]) {
			t.Errorf("part %d: Content-Range %q, %d bytes", i, cr, len(pb))
		}
	}

	// If-Range: the range only while the file is still the one the
	// validator names; otherwise the whole (new) file.
	partial("If-Range with the ETag", "bytes=100-199", map[string]string{"If-Range": etag}, 100, 199)
	partial("If-Range with the date", "bytes=100-199", map[string]string{"If-Range": lastMod}, 100, 199)
	for _, stale := range []string{`"0000000000"`, "Mon, 02 Jan 2006 15:04:05 GMT"} {
		if resp, b := ts.getBearer(media, map[string]string{"Range": "bytes=100-199", "If-Range": stale}); resp.StatusCode != http.StatusOK || !bytes.Equal(b, clip) {
			t.Errorf("If-Range %s: %d, %d bytes, want the whole file", stale, resp.StatusCode, len(b))
		}
	}
	if resp, _ := ts.getBearer(media, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", resp.StatusCode)
	}
}

// FuzzNormalizeRange: whatever the Range header, normalizeRange neither
// panics nor hands ServeContent a zero suffix or another unit.
func FuzzNormalizeRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-99", "bytes=-0", "bytes=-0,-00", "pages=1-2", "bytes=0-9,-0,5-", "BYTES=1-", "bytes", "=", "bytes=,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		out, ok := normalizeRange(h)
		if !ok {
			if out != "" {
				t.Fatalf("%q: refused but kept %q", h, out)
			}
			return
		}
		if out == "" {
			return
		}
		if !strings.HasPrefix(out, "bytes=") {
			t.Fatalf("%q -> %q", h, out)
		}
		for _, sp := range strings.Split(strings.TrimPrefix(out, "bytes="), ",") {
			if sp = strings.TrimSpace(sp); len(sp) > 1 && sp[0] == '-' && strings.Trim(sp[1:], "0") == "" {
				t.Fatalf("%q -> %q keeps a zero suffix", h, out)
			}
		}
	})
}

// payReward has a fresh node bound to owner claim a reward for a
// delivery a third key confirmed, as a node does on its own chain; the
// payout goes in flight to owner. It returns the node's address and the
// amount.
func payReward(t *testing.T, nc *NetworkClient, owner *identity.Keys, gib uint64) (string, ledger.Amount) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodePub, nodeKey, _ := ed25519.GenerateKey(nil)
	_, readerKey, _ := ed25519.GenerateKey(nil)
	p := nc.Pool()
	targets := p.Endpoints(ledgercell.DNA.Name)
	if len(targets) == 0 {
		t.Fatal("no ledger endpoint")
	}
	caller := p.Client(nodeKey)
	g, err := ledgercell.FetchGenesis(ctx, caller, targets[0])
	if err != nil {
		t.Fatal(err)
	}
	bind := ledger.NewBindingRequest(g.Hash(), nodeKey, ledger.AccountID(owner.AccountPublic()))
	if err := bind.SignOwner(owner.Account); err != nil {
		t.Fatal(err)
	}
	content := ledger.Hash{7, 7, 7}
	proof := ledger.ServiceProof{Genesis: g.Hash(), Kind: ledger.ProofDelivery, Node: ledger.AccountID(nodePub),
		Expected: content, Observed: content, Bytes: gib << 30, Period: 1}
	proof.Sign(readerKey)
	amt, err := proof.Earnings(g)
	if err != nil {
		t.Fatal(err)
	}
	c := ledgercell.NewClient(ledgercell.ClientConfig{Genesis: g, Caller: caller, Submit: &targets[0], Peers: targets, Timeout: 30 * time.Second})
	defer c.Close()
	// Right after start the submitting node may not know the other
	// witnesses yet; a refused block costs nothing, so try again.
	for {
		_, err := c.Append(ctx, &ledger.Reward{Proof: proof, Binding: bind, Amount: amt})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("reward: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return identity.Address(nodePub), amt
}

// TestWalletEarnings: a reward a node bound to the person claims shows
// in /api/wallet's earnings and on the page under Earnings of my nodes,
// waiting until received and credited after; the balance rises by it.
func TestWalletEarnings(t *testing.T) {
	keys := testKeys(t)
	nc := startNetwork(t, 3, ledger.Allocation{Account: ledger.AccountID(keys.AccountPublic()), Amount: 10 * ledger.MicroPerShell})
	ts := startServer(t, func(c *Config) { c.Network = nc })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	var wj walletJSON
	if st := ts.api("GET", "/api/wallet", nil, &wj); st != http.StatusOK || len(wj.Earnings) != 0 {
		t.Fatalf("wallet before: %d %+v", st, wj)
	}
	_, page := ts.get("/wallet")
	if !strings.Contains(page, `id="no-earnings"`) {
		t.Fatal("the wallet page does not say there are no earnings yet")
	}
	nodeAddr, amt := payReward(t, nc, keys, 4)
	nodeAddr2, amt2 := payReward(t, nc, keys, 1)
	ts.api("GET", "/api/wallet", nil, &wj)
	if len(wj.Earnings) != 2 || wj.Sum != amt+amt2 {
		t.Fatalf("after two rewards: %+v", wj)
	}
	byNode := map[string]earningJSON{}
	for _, e := range wj.Earnings {
		byNode[e.Node] = e
	}
	if e := byNode[nodeAddr]; e.Amount != amt || e.Work != "delivery" || e.Bytes != 4<<30 || e.Credited {
		t.Fatalf("earning of the first node: %+v", e)
	}
	if e := byNode[nodeAddr2]; e.Amount != amt2 {
		t.Fatalf("earning of the second node: %+v", e)
	}
	_, page = ts.get("/wallet")
	if !strings.Contains(page, `data-node="`+nodeAddr+`"`) || !strings.Contains(page, amt.String()+" shells") {
		t.Fatalf("the wallet page does not show the node's earnings:\n%s", page)
	}
	var ct certJSON
	if st := ts.api("POST", "/api/wallet/receive", nil, &ct); st != http.StatusOK || ct.Kind != "receive" {
		t.Fatalf("receive: %d %+v", st, ct)
	}
	ts.api("GET", "/api/wallet", nil, &wj)
	if wj.Balance != 10*ledger.MicroPerShell+amt+amt2 || len(wj.Earnings) != 2 || !wj.Earnings[0].Credited || !wj.Earnings[1].Credited {
		t.Fatalf("after receiving: %+v", wj)
	}
}

// TestUploadEvents: GET /api/files/events streams an upload's progress
// as it is stored on a real three-node network, climbing to the file's
// size and ending with done; the polling endpoint reports the same.
func TestUploadEvents(t *testing.T) {
	nc := startNetwork(t, 3)
	ts := startServer(t, func(c *Config) { c.Network = nc })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req := ts.newRequest("GET", "/api/files/events", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	resp := ts.do(req, false)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := readEvents(resp.Body)

	data := make([]byte, 1_500_000)
	rand.Read(data)
	uploaded := make(chan int, 1)
	go func() {
		st, _ := ts.uploadFiles("/", "ev1", map[string][]byte{"big.bin": data}, "big.bin")
		uploaded <- st
	}()
	var seen []upload
	for {
		ev, ok := <-events
		if !ok {
			t.Fatalf("the stream ended after %+v", seen)
		}
		var u upload
		if ev.name != "upload" || json.Unmarshal([]byte(ev.data), &u) != nil || u.ID != "ev1" {
			continue
		}
		if len(seen) > 0 && u.Stored < seen[len(seen)-1].Stored {
			t.Fatalf("progress went back: %+v then %+v", seen, u)
		}
		seen = append(seen, u)
		if u.Done {
			break
		}
	}
	last := seen[len(seen)-1]
	if last.Stored != int64(len(data)) || last.Error != "" || last.Path != "/big.bin" {
		t.Fatalf("last event %+v", last)
	}
	if st := <-uploaded; st != http.StatusOK {
		t.Fatalf("upload: %d", st)
	}
	var prog struct {
		Uploads []upload `json:"uploads"`
	}
	ts.api("GET", "/api/files/progress", nil, &prog)
	if len(prog.Uploads) != 1 || prog.Uploads[0] != last {
		t.Fatalf("polling says %+v, the stream said %+v", prog.Uploads, last)
	}
	t.Logf("%d upload events", len(seen))
}
