package conduit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/mail"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/web"
)

// Limits of the Mail section.
const (
	// maxMailText bounds the subject and body fields of a send: the sealed
	// letter (text plus attachment references) must fit mail.MaxSealedSize.
	maxMailText = 200 << 10
	// maxMailUpload bounds a whole send request, attachments included;
	// attachments stream to the shard store, so this is not memory.
	maxMailUpload = 1 << 30
	// maxMailAttachments bounds the files one message carries: each adds
	// a manifest to the sealed letter.
	maxMailAttachments = 20
	// inboxReaders is how many messages the inbox opens at once.
	inboxReaders = 8
	// republishKey is how often the conduit re-publishes the person's
	// mail key record while they use Mail (the prekey rotates weekly).
	republishKey = 10 * time.Minute
)

// errMailBadRequest marks a request the person must fix.
var errMailBadRequest = errors.New("bad mail request")

// mailSession is one request's mail client for the unlocked person. It
// holds a copy of the keys (the mail client needs the X25519 key to open
// letters), wiped by close.
type mailSession struct {
	keys   *identity.Keys
	client *mail.Client
	// published is the key under which ensurePublished remembers this
	// person on this pool (a new pool may reach another network).
	published string
}

func (s *Server) openMail() (*mailSession, error) {
	p := s.pool()
	if p == nil {
		return nil, ErrNotConnected
	}
	keys := new(identity.Keys)
	err := s.vault.WithKeys(func(k *identity.Keys) error {
		*keys = *k
		keys.Account = append(ed25519.PrivateKey(nil), k.Account...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c, err := mail.NewClient(mail.ClientConfig{
		Call: p.Client(keys.Account), Keys: keys,
		Members: poolMembers{p, mail.DNA.Name}, ShardMembers: poolMembers{p, shard.DNA.Name},
	})
	if err != nil {
		keys.Wipe()
		return nil, fmt.Errorf("conduit: mail client: %w", err)
	}
	return &mailSession{keys: keys, client: c, published: fmt.Sprintf("%p/%s", p, keys.Address())}, nil
}

func (m *mailSession) close() { m.keys.Wipe() }

// published remembers when each account's key record was last published
// through each pool by this process, so opening Mail does not re-publish
// on every click.
var published = struct {
	sync.Mutex
	at map[string]time.Time
}{at: map[string]time.Time{}}

// ensurePublished publishes the person's key record when this process
// has not done so recently: without it nobody can write to them. A
// failure is returned but the caller may go on (reading needs no record).
func (s *Server) ensurePublished(ctx context.Context, m *mailSession) error {
	addr := m.published
	now := time.Now()
	published.Lock()
	last, ok := published.at[addr]
	published.Unlock()
	if ok && now.Sub(last) < republishKey {
		return nil
	}
	if err := m.client.PublishKey(ctx); err != nil {
		return err
	}
	published.Lock()
	published.at[addr] = now
	published.Unlock()
	return nil
}

// attachmentJSON is one attachment in API answers.
type attachmentJSON struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
}

// messageJSON is one message in API answers. From is what the letter
// claims; it is proven only when Verified. A message that could not be
// opened has only ID, Received, Read, Size and Error.
type messageJSON struct {
	ID       string `json:"id"`
	From     string `json:"from,omitempty"`
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
	// LongTerm: sealed to the long-term key because the sender found no
	// valid prekey of ours: no forward secrecy for this message.
	LongTerm    bool             `json:"long_term,omitempty"`
	To          string           `json:"to,omitempty"`
	Subject     string           `json:"subject"`
	Body        *string          `json:"body,omitempty"`
	SentMS      int64            `json:"sent_ms,omitempty"`
	ReceivedMS  int64            `json:"received_ms"`
	Read        bool             `json:"read"`
	Size        int              `json:"size,omitempty"`
	Attachments []attachmentJSON `json:"attachments"`
	Error       string           `json:"error,omitempty"`
}

func addressOf(b []byte) string {
	if len(b) != ed25519.PublicKeySize {
		return ""
	}
	return identity.Address(ed25519.PublicKey(b))
}

func messageOf(msg *mail.Message, withBody bool) messageJSON {
	j := messageJSON{ID: hex.EncodeToString(msg.ID[:]), ReceivedMS: msg.Received, Read: msg.Read, Attachments: []attachmentJSON{}}
	if msg.Opened == nil {
		return j
	}
	j.From, j.To = addressOf(msg.From), addressOf(msg.To)
	j.Verified, j.Problem, j.LongTerm = msg.Verified, msg.Problem, msg.LongTerm
	j.Subject, j.SentMS = msg.Subject, msg.Time
	if withBody {
		b := msg.Body
		j.Body = &b
	}
	for i, a := range msg.Attachments {
		j.Attachments = append(j.Attachments, attachmentJSON{Index: i, Name: a.Name, Size: a.Size})
	}
	return j
}

// parseMailID accepts a message ID in hex.
func parseMailID(s string) (mail.ID, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(mail.ID{}) {
		return mail.ID{}, fmt.Errorf("%w: a message ID is 64 hex digits", errMailBadRequest)
	}
	return mail.ID(b), nil
}

// mailError maps a mail error to a status, code and sentence.
func mailError(err error) (int, apiError) {
	switch {
	case errors.Is(err, ErrLocked):
		return http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"}
	case errors.Is(err, ErrNotConnected):
		return http.StatusServiceUnavailable, apiError{Error: "not connected to a network yet", Code: "not_connected"}
	case errors.Is(err, errMailBadRequest):
		return http.StatusBadRequest, apiError{Error: err.Error(), Code: "bad_request"}
	case errors.Is(err, identity.ErrAddressChecksum), errors.Is(err, identity.ErrAddressFormat),
		errors.Is(err, identity.ErrAddressPrefix), errors.Is(err, identity.ErrAddressLength):
		return http.StatusBadRequest, apiError{Error: "that is not a valid borg1 address: " + err.Error(), Code: "bad_address"}
	case errors.Is(err, mail.ErrNoKey):
		return http.StatusNotFound, apiError{Error: "the recipient has not published a mail key yet: they need to open Mail (or run 'borgios mail publish') once", Code: "no_key"}
	case errors.Is(err, mail.ErrNotFound):
		return http.StatusNotFound, apiError{Error: "no such message", Code: "not_found"}
	case errors.Is(err, mail.ErrCannotOpen), errors.Is(err, mail.ErrNotForMe), errors.Is(err, mail.ErrMalformed):
		return http.StatusUnprocessableEntity, apiError{Error: "the message cannot be opened: " + err.Error(), Code: "cannot_open"}
	case cell.HasCode(err, mail.CodeMailboxFull):
		return http.StatusInsufficientStorage, apiError{Error: "the recipient's mailbox is full", Code: "mailbox_full"}
	}
	return http.StatusBadGateway, apiError{Error: "the network could not do it: " + err.Error(), Code: "network"}
}

func (s *Server) writeMailError(w http.ResponseWriter, err error) {
	status, e := mailError(err)
	if status == http.StatusBadGateway {
		s.log.Warn("conduit: mail", "err", err)
	}
	writeJSON(w, status, e)
}

// inbox lists one page of the mailbox, newest first: the messages at
// [offset, offset+limit) of total. Only that page is opened (a few at a
// time), and a message's header is opened once per unlock: messages are
// immutable, so later views take it from the header cache and only read
// flags and sizes come from the list. A message that does not open is
// listed with its error (and tried again next time).
func (s *Server) inbox(ctx context.Context, m *mailSession, offset, limit int) (page []messageJSON, total int, err error) {
	es, err := m.client.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Received > es[j].Received })
	total = len(es)
	es = es[min(offset, total):min(offset+limit, total)]
	out := make([]messageJSON, len(es))
	sem := make(chan struct{}, inboxReaders)
	var wg sync.WaitGroup
	for i, e := range es {
		if h, ok := s.mailHeads.get(m.keys.Address(), e.ID); ok {
			out[i] = h
		} else {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				msg, err := m.client.Read(ctx, e.ID)
				if err != nil {
					out[i] = messageJSON{ID: hex.EncodeToString(e.ID[:]), ReceivedMS: e.Received,
						Attachments: []attachmentJSON{}, Error: err.Error()}
					return
				}
				out[i] = messageOf(msg, false)
				s.mailHeads.put(m.keys.Address(), e.ID, out[i])
			}()
		}
	}
	wg.Wait()
	for i, e := range es {
		out[i].Read, out[i].Size = e.Read, e.Size
	}
	return out, total, nil
}

// inboxPage is the Mail page's page size; the API's default limit.
const inboxPage = 50

// maxInboxLimit bounds the API's limit.
const maxInboxLimit = 500

// mailHeads caches opened message headers (no bodies) of the unlocked
// person, so each message is fetched and opened once per unlock rather
// than on every view. forget wipes it at lock: decrypted mail does not
// outlive the unlock.
type mailHeads struct {
	mu  sync.Mutex
	who string
	m   map[mail.ID]messageJSON
}

// maxMailHeads bounds the cache (a few hundred bytes each).
const maxMailHeads = 20_000

func (c *mailHeads) get(who string, id mail.ID) (messageJSON, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.who != who {
		return messageJSON{}, false
	}
	h, ok := c.m[id]
	return h, ok
}

func (c *mailHeads) put(who string, id mail.ID, h messageJSON) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.who != who || c.m == nil || len(c.m) >= maxMailHeads {
		c.who, c.m = who, map[mail.ID]messageJSON{}
	}
	h.Body = nil
	c.m[id] = h
}

func (c *mailHeads) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *mailHeads) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.who, c.m = "", nil
}

// pageBounds reads offset and limit from a query (limit 1..max, default def).
func pageBounds(q url.Values, def, maxLimit int) (offset, limit int) {
	offset, _ = strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = def
	}
	return max(offset, 0), min(limit, maxLimit)
}

// readMessage opens one message and, unless peek, marks it read.
func (s *Server) readMessage(ctx context.Context, m *mailSession, id mail.ID, peek bool) (*mail.Message, error) {
	msg, err := m.client.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	if !peek && !msg.Read {
		if err := m.client.Mark(ctx, id, true); err != nil {
			s.log.Warn("conduit: mail: marking read", "err", err)
		} else {
			msg.Read = true
		}
	}
	return msg, nil
}

// sent is what a send stored and delivered.
type sent struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Holders int    `json:"holders"`
}

// composeFields are the text fields of a send, kept to refill the form.
type composeFields struct {
	To, Subject, Body string
}

// receiveMail reads a multipart send (fields to, subject, body, then any
// number of file parts named "file"), storing each file in the shard
// store as it arrives, then seals and delivers the letter. The text
// fields must come before the files, as a browser sends them in form
// order, so a wrong address is refused before anything is stored.
func (s *Server) receiveMail(w http.ResponseWriter, r *http.Request) (composeFields, *sent, error) {
	var f composeFields
	r.Body = http.MaxBytesReader(w, r.Body, maxMailUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return f, nil, fmt.Errorf("%w: send the message as multipart/form-data", errMailBadRequest)
	}
	m, err := s.openMail()
	if err != nil {
		return f, nil, err
	}
	defer m.close()
	var to ed25519.PublicKey
	var stored []mail.Attachment
	textLeft := int64(maxMailText)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return f, nil, fmt.Errorf("%w: reading the message: %v", errMailBadRequest, err)
		}
		name := part.FormName()
		if part.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(part, textLeft+1))
			part.Close()
			if err != nil {
				return f, nil, fmt.Errorf("%w: reading the message: %v", errMailBadRequest, err)
			}
			if textLeft -= int64(len(b)); textLeft < 0 {
				return f, nil, fmt.Errorf("%w: the text is longer than %d KiB; attach it as a file", errMailBadRequest, maxMailText>>10)
			}
			switch name {
			case "to":
				f.To = strings.TrimSpace(string(b))
				if to, err = identity.ParseAddress(f.To); err != nil {
					return f, nil, err
				}
			case "subject":
				f.Subject = strings.TrimSpace(string(b))
			case "body":
				f.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
			}
			continue
		}
		if name != "file" {
			part.Close()
			continue
		}
		if to == nil {
			part.Close()
			return f, nil, fmt.Errorf("%w: name the recipient (field \"to\") before the files", errMailBadRequest)
		}
		if len(stored) == maxMailAttachments {
			part.Close()
			return f, nil, fmt.Errorf("%w: at most %d attachments per message", errMailBadRequest, maxMailAttachments)
		}
		fname := path.Base(strings.ReplaceAll(part.FileName(), "\\", "/"))
		a, err := m.client.PutAttachment(r.Context(), mail.File{Name: fname, R: part})
		part.Close()
		if err != nil {
			return f, nil, err
		}
		stored = append(stored, a)
	}
	if to == nil {
		return f, nil, fmt.Errorf("%w: name the recipient's borg1 address", errMailBadRequest)
	}
	// Publishing our own record on send lets the recipient write back.
	if err := s.ensurePublished(r.Context(), m); err != nil {
		s.log.Warn("conduit: mail: publishing the key record", "err", err)
	}
	id, n, err := m.client.Send(r.Context(), mail.Draft{To: to, Subject: f.Subject, Body: f.Body, Stored: stored})
	if err != nil {
		return f, nil, err
	}
	return f, &sent{ID: hex.EncodeToString(id[:]), To: identity.Address(to), Holders: n}, nil
}

// apiMailList is GET /api/mail/list.
func (s *Server) apiMailList(w http.ResponseWriter, r *http.Request) {
	m, err := s.openMail()
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	defer m.close()
	if err := s.ensurePublished(r.Context(), m); err != nil {
		s.log.Warn("conduit: mail: publishing the key record", "err", err)
	}
	offset, limit := pageBounds(r.URL.Query(), inboxPage, maxInboxLimit)
	msgs, total, err := s.inbox(r.Context(), m, offset, limit)
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Address  string        `json:"address"`
		Messages []messageJSON `json:"messages"`
		Total    int           `json:"total"`
		Offset   int           `json:"offset"`
	}{m.keys.Address(), msgs, total, offset})
}

// apiMailMessage is GET /api/mail/message?id=HEX[&peek=1].
func (s *Server) apiMailMessage(w http.ResponseWriter, r *http.Request) {
	id, err := parseMailID(r.URL.Query().Get("id"))
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	m, err := s.openMail()
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	defer m.close()
	msg, err := s.readMessage(r.Context(), m, id, r.URL.Query().Get("peek") == "1")
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, messageOf(msg, true))
}

// apiMailAttachment is GET /api/mail/attachment?id=HEX&n=INDEX: always a
// download, never inline, whatever the file claims to be.
func (s *Server) apiMailAttachment(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, err := parseMailID(q.Get("id"))
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		s.writeMailError(w, fmt.Errorf("%w: n is the attachment's index", errMailBadRequest))
		return
	}
	m, err := s.openMail()
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	defer m.close()
	msg, err := m.client.Read(r.Context(), id)
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	if n >= len(msg.Attachments) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "the message has no such attachment", Code: "not_found"})
		return
	}
	a := msg.Attachments[n]
	name := path.Base(strings.ReplaceAll(a.Name, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if a.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	}
	// Headers go out with the first byte; a failure after that can only
	// cut the body short, which the length lets the browser notice.
	if err := m.client.FetchAttachment(r.Context(), a, w); err != nil && r.Context().Err() == nil {
		s.log.Warn("conduit: mail attachment", "err", err)
	}
}

// apiMailSend is POST /api/mail/send (multipart: to, subject, body, file...).
func (s *Server) apiMailSend(w http.ResponseWriter, r *http.Request) {
	_, out, err := s.receiveMail(w, r)
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// mailIDsRequest is the body of POST /api/mail/delete.
type mailIDsRequest struct {
	IDs []string `json:"ids"`
}

// mailMarkRequest is the body of POST /api/mail/mark.
type mailMarkRequest struct {
	ID   string `json:"id"`
	Read bool   `json:"read"`
}

func (s *Server) apiMailDelete(w http.ResponseWriter, r *http.Request) {
	var req mailIDsRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if len(req.IDs) == 0 || len(req.IDs) > mail.MaxTombIDs {
		s.writeMailError(w, fmt.Errorf("%w: name 1 to %d message IDs", errMailBadRequest, mail.MaxTombIDs))
		return
	}
	ids := make([]mail.ID, 0, len(req.IDs))
	for _, h := range req.IDs {
		id, err := parseMailID(h)
		if err != nil {
			s.writeMailError(w, err)
			return
		}
		ids = append(ids, id)
	}
	m, err := s.openMail()
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	defer m.close()
	if err := m.client.Delete(r.Context(), ids...); err != nil {
		s.writeMailError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) apiMailMark(w http.ResponseWriter, r *http.Request) {
	var req mailMarkRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	id, err := parseMailID(req.ID)
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	m, err := s.openMail()
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	defer m.close()
	if err := m.client.Mark(r.Context(), id, req.Read); err != nil {
		s.writeMailError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// apiMailPublish is POST /api/mail/publish: publish the key record now.
func (s *Server) apiMailPublish(w http.ResponseWriter, r *http.Request) {
	m, err := s.openMail()
	if err != nil {
		s.writeMailError(w, err)
		return
	}
	defer m.close()
	if err := m.client.PublishKey(r.Context()); err != nil {
		s.writeMailError(w, err)
		return
	}
	published.Lock()
	published.at[m.published] = time.Now()
	published.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Address string `json:"address"`
	}{m.keys.Address()})
}

// Pages.

func (s *Server) mailPage(title string) web.Page {
	p := s.chrome(title, web.NavMail)
	p.NeedsKeys = true
	p.Styles = []string{"mail.css"}
	return p
}

func mailTime(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04")
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) pageMail(w http.ResponseWriter, r *http.Request) {
	if !s.unlocked() {
		seeOther(w, r, "/welcome")
		return
	}
	m, err := s.openMail()
	if err != nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Mail needs a network: "+s.netView(r.Context()).Summary)
		return
	}
	defer m.close()
	v := web.MailboxView{Page: s.mailPage("Mail"), Address: m.keys.Address(), Notice: clip(r.URL.Query().Get("notice"), 200)}
	if err := s.ensurePublished(r.Context(), m); err != nil {
		_, e := mailError(err)
		v.Error = "Your mail key could not be published, so others cannot write to you yet: " + e.Error
	}
	pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pageNo = max(pageNo, 1)
	msgs, total, err := s.inbox(r.Context(), m, (pageNo-1)*inboxPage, inboxPage)
	if err != nil {
		_, e := mailError(err)
		v.Error = "Could not open the mailbox: " + e.Error
	}
	if total > inboxPage {
		first := (pageNo-1)*inboxPage + 1
		v.Range = fmt.Sprintf("%d–%d of %d", min(first, total), min(first+len(msgs)-1, total), total)
		if pageNo > 1 {
			v.Newer = fmt.Sprintf("/mail?page=%d", pageNo-1)
		}
		if pageNo*inboxPage < total {
			v.Older = fmt.Sprintf("/mail?page=%d", pageNo+1)
		}
	}
	for _, j := range msgs {
		row := web.MailRow{ID: j.ID, From: j.From, Verified: j.Verified, Problem: j.Problem, Subject: j.Subject,
			Date: mailTime(j.SentMS), Read: j.Read, Attachments: len(j.Attachments)}
		if j.Error != "" {
			row.Problem, row.Date = "This message cannot be opened: "+j.Error, mailTime(j.ReceivedMS)
		}
		v.Rows = append(v.Rows, row)
	}
	s.render(w, r, http.StatusOK, web.MailPage(v))
}

func (s *Server) pageMailRead(w http.ResponseWriter, r *http.Request) {
	if !s.unlocked() {
		seeOther(w, r, "/welcome")
		return
	}
	id, err := parseMailID(r.URL.Query().Get("id"))
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, "That link does not name a message.")
		return
	}
	m, err := s.openMail()
	if err != nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Mail needs a network: "+s.netView(r.Context()).Summary)
		return
	}
	defer m.close()
	msg, err := s.readMessage(r.Context(), m, id, false)
	if err != nil {
		status, e := mailError(err)
		s.renderError(w, r, status, "Could not open the message: "+e.Error)
		return
	}
	j := messageOf(msg, true)
	v := web.MailMessageView{Page: s.mailPage(msg.Subject), ID: j.ID, From: j.From, Verified: j.Verified, Problem: j.Problem,
		To: j.To, Subject: j.Subject, Date: mailTime(j.SentMS), Received: mailTime(j.ReceivedMS), Body: *j.Body}
	if v.Page.Title == "" {
		v.Page.Title = "Message"
	}
	if msg.LongTerm {
		// The page has no notice slot of its own; the alert line is where
		// the reader looks.
		v.Error = "Not forward-secret: the sender found no current mail key of yours and sealed this message to your long-term key. Open Mail regularly so your key stays published."
	}
	for _, a := range j.Attachments {
		v.Attachments = append(v.Attachments, web.MailAttachment{Name: a.Name, Size: humanSize(a.Size),
			URL: "/api/mail/attachment?id=" + j.ID + "&n=" + strconv.Itoa(a.Index)})
	}
	s.render(w, r, http.StatusOK, web.MailMessagePage(v))
}

func (s *Server) pageMailCompose(w http.ResponseWriter, r *http.Request) {
	if !s.unlocked() {
		seeOther(w, r, "/welcome")
		return
	}
	v := web.MailComposeView{Page: s.mailPage("Write a message"), To: clip(r.URL.Query().Get("to"), 200)}
	if reply := r.URL.Query().Get("reply"); reply != "" {
		if id, err := parseMailID(reply); err == nil {
			if m, err := s.openMail(); err == nil {
				if msg, err := m.client.Read(r.Context(), id); err == nil {
					v.To = addressOf(msg.From)
					v.Subject = msg.Subject
					if !strings.HasPrefix(strings.ToLower(v.Subject), "re:") {
						v.Subject = "Re: " + v.Subject
					}
				}
				m.close()
			}
		}
	}
	s.render(w, r, http.StatusOK, web.MailComposePage(v))
}

func (s *Server) postMailSend(w http.ResponseWriter, r *http.Request) {
	f, out, err := s.receiveMail(w, r)
	if err != nil {
		status, e := mailError(err)
		if status == http.StatusBadGateway {
			s.log.Warn("conduit: mail send", "err", err)
		}
		if status < 500 {
			status = http.StatusUnprocessableEntity
		}
		s.render(w, r, status, web.MailComposePage(web.MailComposeView{
			Page: s.mailPage("Write a message"), To: f.To, Subject: f.Subject, Body: f.Body,
			Error: "Not sent: " + e.Error + ". Attach the files again."}))
		return
	}
	seeOther(w, r, "/mail?notice="+url.QueryEscape("Sent to "+out.To+"."))
}

func (s *Server) postMailDelete(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	id, err := parseMailID(r.PostForm.Get("id"))
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form does not name a message.")
		return
	}
	m, err := s.openMail()
	if err != nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Mail needs a network: "+s.netView(r.Context()).Summary)
		return
	}
	defer m.close()
	if err := m.client.Delete(r.Context(), id); err != nil {
		status, e := mailError(err)
		s.renderError(w, r, status, "Could not delete the message: "+e.Error)
		return
	}
	seeOther(w, r, "/mail?notice="+url.QueryEscape("Deleted."))
}

// PublishMailKey publishes the unlocked person's mail key record if this
// process has not done so through the current pool recently, so others
// can write to them before they ever open Mail. Call it in the
// background after an unlock; it is a no-op without a pool.
func (s *Server) PublishMailKey(ctx context.Context) error {
	if s.pool() == nil {
		return nil
	}
	m, err := s.openMail()
	if err != nil {
		return err
	}
	defer m.close()
	return s.ensurePublished(ctx, m)
}
