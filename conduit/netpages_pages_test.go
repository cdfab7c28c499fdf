package conduit

import (
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
)

// fastKDF makes test key files cheap to seal and open.
var fastKDF = identity.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func useFastKDF(t *testing.T) {
	old := keyFileKDF
	keyFileKDF = fastKDF
	t.Cleanup(func() { keyFileKDF = old })
}

// TestNetworkPageAndAPI renders the Network page and its JSON against a
// real three-node network: the tree picture with this conduit's endpoints
// marked and a text equivalent, nodes per cell, the clock, and per-node
// traffic.
func TestNetworkPageAndAPI(t *testing.T) {
	nc := startNetwork(t, 3)
	ts := startServer(t, func(c *Config) { c.Network = nc })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	var page string
	waitUntil(t, "the page draws a tree of three nodes", func() bool {
		var st int
		st, page = ts.get("/network")
		return st == http.StatusOK && strings.Contains(page, `id="tree-svg"`) && strings.Count(page, `<g class="tnode`) == 3
	})
	for _, want := range []string{`role="img"`, `<title id="tree-title">`, `<desc id="tree-desc">`, `tnode-mine`, `tnode-inuse`,
		`id="tree-list"`, `id="peers"`, `id="cell-counts"`, `data-net="clock-offset"`, "/static/network.css"} {
		if !strings.Contains(page, want) {
			t.Errorf("the Network page lacks %s", want)
		}
	}
	var n networkJSON
	waitUntil(t, "the API reports the clock and traffic", func() bool {
		n = networkJSON{}
		if ts.api("GET", "/api/network", nil, &n) != http.StatusOK {
			return false
		}
		sent := false
		for _, e := range n.Endpoints {
			sent = sent || e.Sent > 0
		}
		return n.Clock != nil && sent && n.Tree != nil && n.TreeVersion != ""
	})
	if !n.Connected || n.Live["registry"] != 3 || len(n.Tree.Nodes) != 3 {
		t.Fatalf("network API: %+v", n)
	}
	st, frag := ts.get("/network/tree?cell=shard")
	if st != http.StatusOK || !strings.Contains(frag, "The shard tree") || strings.Contains(frag, "<html") {
		t.Fatalf("tree fragment: %d\n%s", st, frag)
	}
}

// TestSettingsKeyFileAndBinding makes a key file from Settings (download,
// then onto a stick folder), refuses a mistyped passphrase and another
// identity's words, and approves a node's binding request: review, then
// countersign, then list.
func TestSettingsKeyFileAndBinding(t *testing.T) {
	useFastKDF(t)
	stick := filepath.Join(t.TempDir(), "conduit", "identity.keyfile")
	ts := startServer(t, func(c *Config) { c.KeyFile = KeyFilePath(stick) })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	keys := testKeys(t)
	_, page := ts.get("/settings")
	for _, want := range []string{`id="keyfile-save"`, `id="keyfile-download"`, `id="binding-request"`, `id="owned-none"`} {
		if !strings.Contains(page, want) {
			t.Errorf("Settings lacks %s", want)
		}
	}

	form := url.Values{"mnemonic": {testPhrase}, "passphrase": {"correct horse"}, "passphrase2": {"correct horse"}, "to": {"download"}}
	resp, body := ts.postForm("/settings/keyfile", form)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	k, err := identity.KeysFromKeyFile([]byte(body), []byte("correct horse"))
	if err != nil || k.Address() != keys.Address() {
		t.Fatalf("the downloaded key file: %v", err)
	}
	if _, err := os.Stat(stick); err == nil {
		t.Fatal("a download wrote the stick")
	}
	form.Set("to", "stick")
	if resp, body := ts.postForm("/settings/keyfile", form); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="keyfile-notice"`) {
		t.Fatalf("save on the stick: %d\n%s", resp.StatusCode, body)
	}
	data, err := os.ReadFile(stick)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := identity.KeysFromKeyFile(data, []byte("correct horse")); err != nil || k.Address() != keys.Address() {
		t.Fatalf("the saved key file: %v", err)
	}
	form.Set("passphrase2", "correct horsE")
	if resp, body := ts.postForm("/settings/keyfile", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "differ") {
		t.Fatalf("mismatched passphrases: %d", resp.StatusCode)
	}
	other, _ := identity.NewMnemonic()
	form.Set("passphrase2", "correct horse")
	form.Set("mnemonic", other)
	if resp, body := ts.postForm("/settings/keyfile", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "another identity") {
		t.Fatalf("another identity's words: %d", resp.StatusCode)
	}

	// A node asks to be bound to this identity.
	_, nodeKey, _ := ed25519.GenerateKey(nil)
	var me ledger.AccountID
	copy(me[:], keys.AccountPublic())
	var g ledger.Hash
	g[0] = 9
	req := ledger.NewBindingRequest(g, nodeKey, me)
	text := EncodeBinding(&req)
	resp, body = ts.postForm("/settings/nodes/review", url.Values{"request": {text}})
	nodeHex := hex.EncodeToString(nodeKey.Public().(ed25519.PublicKey))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="binding-approve"`) || !strings.Contains(body, nodeHex) {
		t.Fatalf("review: %d\n%s", resp.StatusCode, body)
	}
	resp, body = ts.postForm("/settings/nodes/approve", url.Values{"request": {text}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="binding-out"`) {
		t.Fatalf("approve: %d\n%s", resp.StatusCode, body)
	}
	out := body[strings.Index(body, `id="binding-out">`)+len(`id="binding-out">`):]
	out = out[:strings.Index(out, "<")]
	done, err := DecodeBinding(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Verify(); err != nil || done.Owner != me {
		t.Fatalf("completed binding: %v", err)
	}
	if !strings.Contains(body, `id="owned"`) || !strings.Contains(body, nodeHex) {
		t.Fatal("the approved node is not listed")
	}

	// Someone else's request is refused, and garbage says what it is.
	_, stranger, _ := ed25519.GenerateKey(nil)
	var them ledger.AccountID
	copy(them[:], stranger.Public().(ed25519.PublicKey))
	foreign := ledger.NewBindingRequest(g, nodeKey, them)
	var le apiError
	if st := ts.api("POST", "/api/nodes/approve", bindingRequest{Request: EncodeBinding(&foreign)}, &le); st != http.StatusBadRequest || !strings.Contains(le.Error, "another owner") {
		t.Fatalf("foreign request: %d %+v", st, le)
	}
	if st := ts.api("POST", "/api/nodes/approve", bindingRequest{Request: "hello"}, &le); st != http.StatusBadRequest || !strings.Contains(le.Error, "not a binding request") {
		t.Fatalf("garbage: %d %+v", st, le)
	}
	var bj bindingJSON
	if st := ts.api("POST", "/api/nodes/approve", bindingRequest{Request: text}, &bj); st != http.StatusOK || bj.Node != nodeHex {
		t.Fatalf("API approve: %d %+v", st, bj)
	}

	ts.api("POST", "/api/lock", nil, nil)
	if st := ts.api("POST", "/api/nodes/approve", bindingRequest{Request: text}, &le); st != http.StatusUnauthorized {
		t.Fatalf("approve while locked: %d", st)
	}
}

func TestBindingText(t *testing.T) {
	_, nk, _ := ed25519.GenerateKey(nil)
	req := ledger.NewBindingRequest(ledger.Hash{1}, nk, ledger.AccountID{2})
	text := EncodeBinding(&req)
	// A terminal may wrap the line; a person may drop the prefix.
	wrapped := "  " + text[:40] + "\n" + text[40:] + "\n"
	for _, in := range []string{text, wrapped, strings.TrimPrefix(text, BindingPrefix)} {
		b, err := DecodeBinding(in)
		if err != nil || b.Node != req.Node || b.NodeSig != req.NodeSig {
			t.Fatalf("%q: %v", in, err)
		}
	}
	for _, bad := range []string{"", "borgios-binding:", "borgios-binding:!!", "borgios-binding:AAAA", "borg1qqqq"} {
		if _, err := DecodeBinding(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
}

// FuzzDecodeBinding: pasted text never panics the decoder, and what it
// accepts round-trips.
func FuzzDecodeBinding(f *testing.F) {
	_, nk, _ := ed25519.GenerateKey(nil)
	req := ledger.NewBindingRequest(ledger.Hash{1}, nk, ledger.AccountID{2})
	f.Add(EncodeBinding(&req))
	f.Add("borgios-binding:")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBinding(s)
		if err != nil {
			return
		}
		again, err := DecodeBinding(EncodeBinding(b))
		if err != nil || *again != *b {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// waitUntil polls cond for up to two minutes: the network forms and the
// tree crawl runs in the background, at their own pace under load.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
