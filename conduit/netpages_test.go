package conduit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"github.com/borgios/borgios/web"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
)

// uploadFiles posts files (name → contents) to the upload API as a script
// would, with the bearer token.
func (ts *testServer) uploadFiles(dir, id string, fs map[string][]byte, names ...string) (int, []byte) {
	ts.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, n := range names {
		w, err := mw.CreateFormFile("file", n)
		if err != nil {
			ts.t.Fatal(err)
		}
		w.Write(fs[n])
	}
	mw.Close()
	req := ts.newRequest("POST", "/api/files/upload?dir="+url.QueryEscape(dir)+"&id="+id, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	resp := ts.do(req, false)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// getBearer fetches path with the bearer token and optional extra headers.
func (ts *testServer) getBearer(path string, hdr map[string]string) (*http.Response, []byte) {
	ts.t.Helper()
	req := ts.newRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp := ts.do(req, false)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type listAnswer struct {
	Path    string          `json:"path"`
	Entries []fileEntryJSON `json:"entries"`
}

func names(l listAnswer) string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Name+":"+e.Kind)
	}
	return strings.Join(out, ",")
}

// TestFilesAndWalletAPI runs the Files and Wallet APIs and pages against
// a real three-node network: upload, progress, list, download
// bit-identical, Range media, move, mkdir, delete; balance, send with the
// confirmation page, history; and the nav showing both sections.
func TestFilesAndWalletAPI(t *testing.T) {
	keys := testKeys(t)
	me := ledger.AccountID(keys.AccountPublic())
	nc := startNetwork(t, 3, ledger.Allocation{Account: me, Amount: 100 * ledger.MicroPerShell})
	ts := startServer(t, func(c *Config) { c.Network = nc })

	var le apiError
	if st := ts.api("GET", "/api/files/list", nil, &le); st != http.StatusUnauthorized || le.Code != "locked" {
		t.Fatalf("list while locked: %d %+v", st, le)
	}
	_, home := ts.get("/home")
	if strings.Contains(home, `href="/files"`) {
		t.Fatal("Files offered in the nav while locked")
	}
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	_, home = ts.get("/home")
	if !strings.Contains(home, `href="/files"`) || !strings.Contains(home, `href="/wallet"`) {
		t.Fatal("Files and Wallet missing from the nav when unlocked and connected")
	}

	var l listAnswer
	if st := ts.api("GET", "/api/files/list?path=/", nil, &l); st != http.StatusOK || len(l.Entries) != 0 {
		t.Fatalf("empty tree: %d %+v", st, l)
	}
	data := make([]byte, 300_000)
	rand.Read(data)
	fs := map[string][]byte{"hello.txt": []byte("hello, borgios\n"), "data.bin": data}
	st, b := ts.uploadFiles("/docs", "t1", fs, "hello.txt", "data.bin")
	if st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, b)
	}
	var prog struct {
		Uploads []upload `json:"uploads"`
	}
	ts.api("GET", "/api/files/progress", nil, &prog)
	got := map[string]upload{}
	for _, u := range prog.Uploads {
		got[u.ID] = u
	}
	if u := got["t1-1"]; !u.Done || u.Stored != int64(len(data)) || u.Path != "/docs/data.bin" || u.Error != "" {
		t.Fatalf("progress of data.bin: %+v (all %+v)", u, prog.Uploads)
	}
	// Home shows the balance and the bytes stored, fresh after a change.
	if _, home := ts.get("/home"); !strings.Contains(home, "100.000000 shells") || !strings.Contains(home, web.Bytes(int64(len(data)+len(fs["hello.txt"])))) {
		t.Fatalf("home does not show the balance and storage used:\n%s", home)
	}
	if st := ts.api("GET", "/api/files/list?path=/docs", nil, &l); st != http.StatusOK || names(l) != "data.bin:file,hello.txt:file" {
		t.Fatalf("list /docs: %d %s", st, names(l))
	}

	resp, body := ts.getBearer("/api/files/download?path=/docs/data.bin", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("download: %d, %d bytes, identical %v", resp.StatusCode, len(body), bytes.Equal(body, data))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Fatalf("download disposition %q", cd)
	}
	resp, body = ts.getBearer("/api/media/docs/hello.txt", map[string]string{"Range": "bytes=7-13"})
	if resp.StatusCode != http.StatusPartialContent || string(body) != "borgios" {
		t.Fatalf("media range: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("text media type %q", ct)
	}
	if resp, _ := ts.getBearer("/api/media/docs/data.bin", nil); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("media of a non-previewable file: %d", resp.StatusCode)
	}

	var e fileEntryJSON
	if st := ts.api("POST", "/api/files/move", moveRequest{From: "/docs/hello.txt", To: "/docs/sub/hi.txt"}, &e); st != http.StatusOK || e.Path != "/docs/sub/hi.txt" {
		t.Fatalf("move: %d %+v", st, e)
	}
	if st := ts.api("POST", "/api/files/mkdir", pathRequest{Path: "/empty"}, nil); st != http.StatusOK {
		t.Fatalf("mkdir: %d", st)
	}
	if st := ts.api("POST", "/api/files/delete", pathRequest{Path: "/docs/data.bin"}, nil); st != http.StatusOK {
		t.Fatalf("delete: %d", st)
	}
	ts.api("GET", "/api/files/list?path=/docs", nil, &l)
	if names(l) != "sub:dir" {
		t.Fatalf("after move and delete: %s", names(l))
	}
	ts.api("GET", "/api/files/list?path=/", nil, &l)
	if names(l) != "docs:dir,empty:dir" {
		t.Fatalf("top folder: %s", names(l))
	}
	if st := ts.api("POST", "/api/files/delete", pathRequest{Path: "/nope"}, &le); st != http.StatusNotFound || le.Code != "not_found" {
		t.Fatalf("delete missing: %d %+v", st, le)
	}
	if st := ts.api("POST", "/api/files/mkdir", pathRequest{Path: "/a/../.."}, &le); st != http.StatusBadRequest {
		t.Fatalf("bad path: %d %+v", st, le)
	}
	st2, page := ts.get("/files?path=/docs/sub&view=/docs/sub/hi.txt")
	if st2 != http.StatusOK || !strings.Contains(page, "hi.txt") || !strings.Contains(page, "hello, borgios") {
		t.Fatalf("files page: %d\n%s", st2, page)
	}

	// Wallet.
	var wj walletJSON
	if st := ts.api("GET", "/api/wallet", nil, &wj); st != http.StatusOK || wj.Balance != 100*ledger.MicroPerShell {
		t.Fatalf("wallet: %d %+v", st, wj)
	}
	_, page = ts.get("/wallet")
	if !strings.Contains(page, `id="balance"`) || !strings.Contains(page, "100") {
		t.Fatalf("wallet page:\n%s", page)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	friend := identity.Address(pub)
	resp2, page := ts.postForm("/wallet/send", url.Values{"to": {friend}, "amount": {"12.5"}})
	if resp2.StatusCode != http.StatusOK || !strings.Contains(page, `id="send-confirm"`) || !strings.Contains(page, friend) {
		t.Fatalf("send without confirmation must ask: %d\n%s", resp2.StatusCode, page)
	}
	ts.api("GET", "/api/wallet", nil, &wj)
	if wj.Balance != 100*ledger.MicroPerShell {
		t.Fatalf("the review step sent: %s", wj.Balance)
	}
	resp2, page = ts.postForm("/wallet/send", url.Values{"to": {friend}, "amount": {"12.5"}, "confirm": {"yes"}})
	if resp2.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirmed send: %d\n%s", resp2.StatusCode, page)
	}
	var ct certJSON
	if st := ts.api("POST", "/api/wallet/send", sendRequest{To: friend, Amount: "1"}, &ct); st != http.StatusOK || ct.To != friend || ct.Amount != ledger.MicroPerShell {
		t.Fatalf("API send: %d %+v", st, ct)
	}
	if st := ts.api("POST", "/api/wallet/send", sendRequest{To: friend, Amount: "-1"}, &le); st != http.StatusBadRequest || le.Code != "bad_send" {
		t.Fatalf("bad amount: %d %+v", st, le)
	}
	ts.api("GET", "/api/wallet", nil, &wj)
	if wj.Balance >= 100*ledger.MicroPerShell-13_500_000 || len(wj.History) < 2 {
		t.Fatalf("after sends: %+v", wj)
	}
	j, _ := json.Marshal(wj.History)
	if !strings.Contains(string(j), friend) {
		t.Fatalf("history does not name the recipient: %s", j)
	}
}
