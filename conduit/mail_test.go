package conduit

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/identity"
)

// sendMail posts a multipart send as a script would (bearer token).
func (ts *testServer) sendMail(fields [][2]string, files map[string][]byte) (int, []byte) {
	ts.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	for name, data := range files {
		w, _ := mw.CreateFormFile("file", name)
		w.Write(data)
	}
	mw.Close()
	req := ts.newRequest("POST", "/api/mail/send", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	resp := ts.do(req, false)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestMailAPI sends through the JSON API between two conduits on a real
// network and checks list, read, attachment, mark, the pages, errors and
// delete.
func TestMailAPI(t *testing.T) {
	nc := startMailNetwork(t, 3)
	alice := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	bob := startServer(t, func(c *Config) { c.Network = nc; c.StatusInterval = time.Hour })
	bobPhrase, _ := identity.NewMnemonic()
	bobKeys, _ := identity.KeysFromMnemonic(bobPhrase, "")
	if st := alice.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	// Before Bob publishes, a send says so.
	st, b := alice.sendMail([][2]string{{"to", bobKeys.Address()}, {"subject", "x"}, {"body", "y"}}, nil)
	var e apiError
	json.Unmarshal(b, &e)
	if st != http.StatusNotFound || e.Code != "no_key" {
		t.Fatalf("send before publish: %d %s", st, b)
	}
	if st := bob.api("POST", "/api/unlock", unlockRequest{Mnemonic: bobPhrase}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	if st := bob.api("POST", "/api/mail/publish", nil, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	// A typo in the address is refused before anything is stored.
	bad := []byte(bobKeys.Address())
	bad[10] ^= 1
	if st, b := alice.sendMail([][2]string{{"to", string(bad)}}, map[string][]byte{"a": {1}}); st != http.StatusBadRequest {
		t.Fatalf("bad address: %d %s", st, b)
	}
	if st, b := alice.sendMail([][2]string{{"subject", "no recipient"}}, map[string][]byte{"a": {1}}); st != http.StatusBadRequest {
		t.Fatalf("file before to: %d %s", st, b)
	}
	data := make([]byte, 70_000)
	rand.Read(data)
	st, b = alice.sendMail([][2]string{{"to", bobKeys.Address()}, {"subject", "hello"}, {"body", "line 1\r\nline 2"}}, map[string][]byte{"data.bin": data})
	var out sent
	if json.Unmarshal(b, &out); st != http.StatusOK || out.Holders == 0 || len(out.ID) != 64 {
		t.Fatalf("send: %d %s", st, b)
	}
	var list struct {
		Address  string        `json:"address"`
		Messages []messageJSON `json:"messages"`
		Total    int           `json:"total"`
		Offset   int           `json:"offset"`
	}
	if st := bob.api("GET", "/api/mail/list", nil, &list); st != http.StatusOK || len(list.Messages) != 1 {
		t.Fatalf("list: %d %+v", st, list)
	}
	m := list.Messages[0]
	if m.ID != out.ID || m.From != testKeys(t).Address() || !m.Verified || m.Subject != "hello" || m.Read || m.Body != nil || len(m.Attachments) != 1 {
		t.Fatalf("listed %+v", m)
	}
	st, page := bob.get("/mail")
	if st != http.StatusOK || !strings.Contains(page, "hello") || !strings.Contains(page, "Verified") {
		t.Fatalf("inbox page: %d", st)
	}
	st, page = bob.get("/mail/read?id=" + out.ID)
	if st != http.StatusOK || !strings.Contains(page, "line 1\nline 2") || !strings.Contains(page, "data.bin") {
		t.Fatalf("read page: %d\n%s", st, page)
	}
	var msg messageJSON
	if st := bob.api("GET", "/api/mail/message?id="+out.ID, nil, &msg); st != http.StatusOK || msg.Body == nil || *msg.Body != "line 1\nline 2" || !msg.Read {
		t.Fatalf("message: %d %+v", st, msg)
	}
	st, got := bob.get("/api/mail/attachment?id=" + out.ID + "&n=0")
	if st != http.StatusOK || got != string(data) {
		t.Fatalf("attachment: %d, %d bytes", st, len(got))
	}
	if st := bob.api("POST", "/api/mail/mark", mailMarkRequest{ID: out.ID, Read: false}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	// Alice's conduit cannot read Bob's message: it is not in her mailbox.
	if st := alice.api("GET", "/api/mail/message?id="+out.ID, nil, &e); st != http.StatusNotFound {
		t.Fatalf("alice reads bob's mail: %d %+v", st, e)
	}
	if st := bob.api("GET", "/api/mail/message?id=zz", nil, &e); st != http.StatusBadRequest {
		t.Fatalf("bad id: %d", st)
	}
	// Pages: two more letters, listed newest first in pages of two; the
	// read flag comes from the mailbox even for a header opened before.
	ids := []string{out.ID}
	for _, subj := range []string{"two", "three"} {
		st, b := alice.sendMail([][2]string{{"to", bobKeys.Address()}, {"subject", subj}, {"body", "b"}}, nil)
		var o sent
		if json.Unmarshal(b, &o); st != http.StatusOK {
			t.Fatalf("send %s: %d %s", subj, st, b)
		}
		ids = append(ids, o.ID)
		time.Sleep(5 * time.Millisecond) // distinct receive times
	}
	if st := bob.api("GET", "/api/mail/list?limit=2", nil, &list); st != http.StatusOK || list.Total != 3 || len(list.Messages) != 2 ||
		list.Messages[0].Subject != "three" || list.Messages[1].Subject != "two" {
		t.Fatalf("first page: %d %+v", st, list)
	}
	if st := bob.api("GET", "/api/mail/list?limit=2&offset=2", nil, &list); st != http.StatusOK || list.Total != 3 || list.Offset != 2 ||
		len(list.Messages) != 1 || list.Messages[0].Subject != "hello" || list.Messages[0].Read {
		t.Fatalf("second page: %d %+v", st, list)
	}
	if n := bob.mailHeads.size(); n != 3 {
		t.Fatalf("headers cached after listing: %d", n)
	}
	// A lock forgets the opened headers.
	if st := bob.api("POST", "/api/lock", nil, nil); st != http.StatusOK {
		t.Fatalf("lock: %d", st)
	}
	if n := bob.mailHeads.size(); n != 0 {
		t.Fatalf("%d opened mail headers kept after lock", n)
	}
	if st := bob.api("POST", "/api/unlock", unlockRequest{Mnemonic: bobPhrase}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	if st := bob.api("POST", "/api/mail/delete", mailIDsRequest{IDs: ids}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	if st := bob.api("GET", "/api/mail/list", nil, &list); st != http.StatusOK || len(list.Messages) != 0 {
		t.Fatalf("after delete: %d %+v", st, list)
	}
}
