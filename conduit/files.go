package conduit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/web"
)

// Limits of the Files section.
const (
	// textPreviewMax is how much of a text file the page shows.
	textPreviewMax = 64 << 10
	// maxTrackedUploads bounds the progress table; finished uploads are
	// forgotten first.
	maxTrackedUploads = 256
	// keepFinished is how long a finished upload stays in the table, so
	// the page's last poll sees it done.
	keepFinished = 2 * time.Minute
)

// previewKind says how the page may show a file, by extension. Anything
// not listed (HTML, SVG, scripts) is offered for download only: served
// inline from our origin it could run script with the conduit's session.
func previewKind(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".bmp":
		return "image"
	case ".mp3", ".ogg", ".oga", ".wav", ".flac", ".m4a", ".opus":
		return "audio"
	case ".mp4", ".webm", ".ogv", ".m4v", ".mov":
		return "video"
	case ".txt", ".md", ".log", ".csv", ".json", ".go", ".py", ".c", ".h", ".rs", ".sh", ".yaml", ".yml", ".toml", ".ini", ".conf":
		return "text"
	case ".pdf":
		return "pdf"
	}
	return ""
}

// mediaTypes are the Content-Types /api/media sends for previewable
// files, fixed here rather than taken from the machine's mime.types,
// which differ (one Debian table calls .webm audio) and decide whether a
// player accepts the file.
var mediaTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".avif": "image/avif", ".bmp": "image/bmp",
	".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".wav": "audio/wav",
	".flac": "audio/flac", ".m4a": "audio/mp4", ".opus": "audio/ogg",
	".mp4": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".m4v": "video/mp4", ".mov": "video/quicktime",
	".pdf": "application/pdf",
}

// mediaType is the Content-Type of a previewable file; text is always
// plain text, whatever its extension says.
func mediaType(name string) string {
	if previewKind(name) == "text" {
		return "text/plain; charset=utf-8"
	}
	if t, ok := mediaTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// cleanPath makes p an absolute tree path ("/a/b"), refusing names the
// file tree would refuse, so the person hears about it before any upload.
func cleanPath(p string) (string, error) {
	if p == "" {
		p = "/"
	}
	parts, err := files.SplitPath(p)
	if err != nil {
		return "", err
	}
	return "/" + strings.Join(parts, "/"), nil
}

// upload is one transfer's progress, as GET /api/files/progress and the
// events of GET /api/files/events report it: an upload, or a download
// (Kind "download": Stored is then bytes sent to the browser).
type upload struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // "upload" or "download"
	Path   string `json:"path"`
	Size   int64  `json:"size,omitempty"` // the whole file, when known
	Stored int64  `json:"stored"`
	// Rate is bytes moved per second since the transfer began.
	Rate int64 `json:"rate"`
	// Sources is how many holders have delivered pieces of a download.
	Sources int    `json:"sources,omitempty"`
	Done    bool   `json:"done"`
	Error   string `json:"error,omitempty"`
	// Version counts changes, so a stream sends each upload only when it
	// moved on.
	Version uint64 `json:"-"`
	ended   time.Time
	began   time.Time // monotonic, for the rate only
}

// uploads tracks uploads in flight for the progress API and stream.
type uploads struct {
	mu      sync.Mutex
	m       map[string]*upload
	changed chan struct{} // closed and replaced on every change
}

var uploadIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// notify wakes the event streams. mu held.
func (u *uploads) notify() {
	if u.changed != nil {
		close(u.changed)
		u.changed = nil
	}
}

// changes returns a channel closed at the next change; take it before
// reading the table so a change in between is not missed.
func (u *uploads) changes() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.changed == nil {
		u.changed = make(chan struct{})
	}
	return u.changed
}

func (u *uploads) start(id, p string, now time.Time) {
	u.begin(&upload{ID: id, Kind: "upload", Path: p}, now)
}

// begin tracks a new transfer (ID, Kind, Path and Size set).
func (u *uploads) begin(t *upload, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]*upload{}
	}
	for k, v := range u.m {
		if v.Done && now.Sub(v.ended) > keepFinished {
			delete(u.m, k)
		}
	}
	if len(u.m) >= maxTrackedUploads {
		return // progress is a courtesy; the upload itself goes on
	}
	t.Version, t.began = 1, time.Now()
	u.m[t.ID] = t
	u.notify()
}

// setSources records how many holders a download has heard from.
func (u *uploads) setSources(id string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if v := u.m[id]; v != nil && v.Sources != n {
		v.Sources = n
		v.Version++
		u.notify()
	}
}

func (u *uploads) set(id string, stored int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if v := u.m[id]; v != nil {
		v.Stored = stored
		if d := time.Since(v.began); d > 0 {
			v.Rate = int64(float64(stored) / d.Seconds())
		}
		v.Version++
		u.notify()
	}
}

func (u *uploads) finish(id string, err error, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if v := u.m[id]; v != nil {
		v.Done, v.ended = true, now
		if err != nil {
			v.Error = err.Error()
		}
		v.Version++
		u.notify()
	}
}

func (u *uploads) list() []upload {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]upload, 0, len(u.m))
	for _, v := range u.m {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// fileEntryJSON is one entry in API answers.
type fileEntryJSON struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Kind    string `json:"kind"` // "file" or "dir"
	Size    int64  `json:"size"`
	MTimeMS int64  `json:"mtime_ms"`
	Preview string `json:"preview,omitempty"`
}

func entryJSON(dir string, e files.Entry) fileEntryJSON {
	j := fileEntryJSON{Name: e.Name, Path: path.Join(dir, e.Name), Kind: "file", Size: e.Size, MTimeMS: e.MTime}
	if e.Kind == files.KindDir {
		j.Kind = "dir"
	} else {
		j.Preview = previewKind(e.Name)
	}
	return j
}

// filesError maps a file-tree error to a status, code and sentence.
func filesError(err error) (int, apiError) {
	switch {
	case errors.Is(err, ErrLocked):
		return http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"}
	case errors.Is(err, ErrNotConnected):
		return http.StatusServiceUnavailable, apiError{Error: "not connected to a network yet", Code: "not_connected"}
	case errors.Is(err, files.ErrNotFound):
		return http.StatusNotFound, apiError{Error: "no such file or folder", Code: "not_found"}
	case errors.Is(err, files.ErrExists):
		return http.StatusConflict, apiError{Error: "something with that name is already there", Code: "exists"}
	case errors.Is(err, files.ErrNotDir):
		return http.StatusConflict, apiError{Error: "a file is in the way: that path is not a folder", Code: "not_dir"}
	case errors.Is(err, files.ErrIsDir):
		return http.StatusConflict, apiError{Error: "that is a folder, not a file", Code: "is_dir"}
	case errors.Is(err, files.ErrBadPath), errors.Is(err, errBadRequest):
		return http.StatusBadRequest, apiError{Error: err.Error(), Code: "bad_path"}
	}
	return http.StatusBadGateway, apiError{Error: "the network could not do it: " + err.Error(), Code: "network"}
}

var errBadRequest = errors.New("bad request")

func (s *Server) writeFilesError(w http.ResponseWriter, err error) {
	status, e := filesError(err)
	if status == http.StatusBadGateway {
		s.log.Warn("conduit: files", "err", err)
	}
	writeJSON(w, status, e)
}

// listDir returns the folder's entries, with "/" for the empty tree.
func (s *Server) listDir(ctx context.Context, ns *netSession, dir string) ([]files.Entry, error) {
	es, err := ns.files.List(ctx, dir)
	if errors.Is(err, files.ErrNotFound) && dir == "/" {
		return nil, nil // nothing stored yet
	}
	return es, err
}

func (s *Server) apiFilesList(w http.ResponseWriter, r *http.Request) {
	dir, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil {
		s.writeFilesError(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	ns, err := s.openSession()
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	defer ns.close()
	es, err := s.listDir(r.Context(), ns, dir)
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	out := struct {
		Path    string          `json:"path"`
		Entries []fileEntryJSON `json:"entries"`
	}{Path: dir, Entries: make([]fileEntryJSON, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, entryJSON(dir, e))
	}
	writeJSON(w, http.StatusOK, out)
}

// receiveUploads stores every file part of a multipart body under dir,
// streaming each part to the network as it arrives. id, if valid, names
// the upload for the progress API (a part index is appended after the
// first file).
func (s *Server) receiveUploads(r *http.Request, dir, id string) ([]fileEntryJSON, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: send the files as multipart/form-data", errBadRequest)
	}
	ns, err := s.openSession()
	if err != nil {
		return nil, err
	}
	defer ns.close()
	var out []fileEntryJSON
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("%w: reading the upload: %v", errBadRequest, err)
		}
		name := part.FileName()
		if part.FormName() != "file" || name == "" {
			part.Close()
			continue
		}
		// Browsers send a bare name; a folder upload may send a relative
		// path, and only its last element is used.
		name = path.Base(strings.ReplaceAll(name, "\\", "/"))
		if !files.ValidName(name) {
			part.Close()
			return out, fmt.Errorf("%w: %q is not a usable file name", errBadRequest, name)
		}
		p := path.Join(dir, name)
		pid := ""
		if uploadIDPattern.MatchString(id) {
			pid = id
			if n > 0 {
				pid = id + "-" + strconv.Itoa(n)
			}
			s.uploads.start(pid, p, s.cfg.Clock())
		}
		s.lockTree()
		e, err := ns.files.Put(r.Context(), p, part, func(stored int64) {
			if pid != "" {
				s.uploads.set(pid, stored)
			}
		})
		s.treeMu.Unlock()
		part.Close()
		if pid != "" {
			s.uploads.finish(pid, err, s.cfg.Clock())
		}
		if err != nil {
			return out, fmt.Errorf("storing %s: %w", p, err)
		}
		out = append(out, entryJSON(dir, e))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no file in the upload (field name \"file\")", errBadRequest)
	}
	return out, nil
}

func (s *Server) apiFilesUpload(w http.ResponseWriter, r *http.Request) {
	dir, err := cleanPath(r.URL.Query().Get("dir"))
	if err != nil {
		s.writeFilesError(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	stored, err := s.receiveUploads(r, dir, r.URL.Query().Get("id"))
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Files []fileEntryJSON `json:"files"`
	}{stored})
}

func (s *Server) apiFilesProgress(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Uploads []upload `json:"uploads"`
	}{s.uploads.list()})
}

// serveDownload sends the file as an attachment, never inline: what the
// person stored may be HTML that would run on our origin.
func (s *Server) apiFilesDownload(w http.ResponseWriter, r *http.Request) {
	p, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil || p == "/" {
		s.writeFilesError(w, fmt.Errorf("%w: name a file", errBadRequest))
		return
	}
	ns, err := s.openSession()
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	defer ns.close()
	e, err := ns.files.Stat(r.Context(), p)
	if err == nil && e.Kind == files.KindDir {
		err = files.ErrIsDir
	}
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": e.Name}))
	h.Set("Content-Length", strconv.FormatInt(e.Size, 10))
	// Progress for the UI and scripts: bytes sent, rate, and how many
	// holders delivered, under the id asked for or a fresh one (answered
	// in X-Transfer-Id before the body).
	id := r.URL.Query().Get("id")
	if !uploadIDPattern.MatchString(id) {
		var b [6]byte
		rand.Read(b[:])
		id = "dl-" + hex.EncodeToString(b[:])
	}
	h.Set("X-Transfer-Id", id)
	s.uploads.begin(&upload{ID: id, Kind: "download", Path: p, Size: e.Size}, s.cfg.Clock())
	var (
		mu      sync.Mutex
		holders = map[string]bool{}
	)
	ns.onShard = func(d shard.Delivery) {
		if d.Shard != d.Observed {
			return
		}
		mu.Lock()
		holders[string(d.Holder)] = true
		n := len(holders)
		mu.Unlock()
		s.uploads.setSources(id, n)
	}
	cw := &countingWriter{w: w, report: func(n int64) { s.uploads.set(id, n) }}
	// Headers go out with the first byte; a failure after that can only
	// cut the body short, which the length lets the browser notice.
	err = ns.files.GetEntry(r.Context(), e, cw)
	if err != nil && r.Context().Err() == nil {
		s.log.Warn("conduit: download", "err", err)
	}
	s.uploads.set(id, cw.n)
	if err == nil && cw.n != e.Size {
		err = fmt.Errorf("sent %d of %d bytes", cw.n, e.Size)
	}
	s.uploads.finish(id, err, s.cfg.Clock())
}

// countingWriter counts the bytes written through it and reports the
// running total at most every 256 KiB (a network piece).
type countingWriter struct {
	w       io.Writer
	n, last int64
	report  func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	if c.n-c.last >= 256<<10 || err != nil {
		c.last = c.n
		c.report(c.n)
	}
	return k, err
}

// apiMedia serves previewable files inline with Range support through the
// stream fetcher, so a video plays and seeks before it has downloaded.
func (s *Server) apiMedia(w http.ResponseWriter, r *http.Request) {
	p, err := cleanPath("/" + r.PathValue("path"))
	if err != nil || p == "/" {
		s.writeFilesError(w, fmt.Errorf("%w: name a file", errBadRequest))
		return
	}
	if previewKind(p) == "" {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "this kind of file is offered for download only", Code: "not_previewable"})
		return
	}
	ns, err := s.openSession()
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	defer ns.close()
	e, err := ns.files.Stat(r.Context(), p)
	if err == nil && e.Kind == files.KindDir {
		err = files.ErrIsDir
	}
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	m, err := ns.storage.Shard().OpenManifest(e.Ref)
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	f, err := ns.fetcher(s.streamDelivered(ns))
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	// The fetcher keeps bulk streams open to holders between pieces; this
	// request is its whole life, so close them when it ends.
	defer f.Close()
	rng, ok := normalizeRange(r.Header.Get("Range"))
	if !ok {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(e.Size, 10))
		writeJSON(w, http.StatusRequestedRangeNotSatisfiable, apiError{Error: "no byte of that range is in the file", Code: "bad_range"})
		return
	}
	if rng == "" {
		r.Header.Del("Range")
	} else {
		r.Header.Set("Range", rng)
	}
	w.Header().Set("Content-Type", mediaType(p))
	// A sandbox on the file itself, in case it is opened on its own tab.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; sandbox")
	f.Handler(func(*http.Request) (*shard.Manifest, string, time.Time, error) {
		return m, e.Name, time.UnixMilli(e.MTime), nil
	}).ServeHTTP(w, r)
}

// normalizeRange prepares a Range header for http.ServeContent, which
// gets two cases wrong: a unit other than bytes must be ignored (RFC 9110
// 14.2), not refused; and a zero-length suffix ("-0") is unsatisfiable,
// not a 206 with an impossible Content-Range. It returns the header to
// use ("" for none) and false when nothing in it can be satisfied.
func normalizeRange(h string) (string, bool) {
	if h == "" {
		return "", true
	}
	unit, set, found := strings.Cut(h, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return "", true
	}
	specs := strings.Split(set, ",")
	kept := specs[:0]
	for _, sp := range specs {
		sp = strings.TrimSpace(sp)
		if strings.HasPrefix(sp, "-") && strings.Trim(sp[1:], "0") == "" && len(sp) > 1 {
			continue // "-0", "-00": no bytes
		}
		kept = append(kept, sp)
	}
	if len(kept) == 0 {
		return "", false
	}
	return "bytes=" + strings.Join(kept, ","), true
}

// pathRequest is the body of delete and mkdir.
type pathRequest struct {
	Path string `json:"path"`
}

// moveRequest is the body of move (rename is a move in the same folder).
type moveRequest struct {
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	// Into, instead of To, moves the entry into that folder under its
	// own name.
	Into string `json:"into,omitempty"`
}

// target is where a move request puts the entry.
func (m moveRequest) target() string {
	if m.To == "" && m.Into != "" {
		return path.Join("/", m.Into, path.Base(path.Join("/", m.From)))
	}
	return m.To
}

func (s *Server) apiFilesMkdir(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := s.mkdir(r.Context(), req.Path); err != nil {
		s.writeFilesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) apiFilesDelete(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := s.remove(r.Context(), req.Path); err != nil {
		s.writeFilesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) apiFilesMove(w http.ResponseWriter, r *http.Request) {
	var req moveRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	e, err := s.move(r.Context(), req.From, req.target())
	if err != nil {
		s.writeFilesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) mkdir(ctx context.Context, p string) error {
	p, err := cleanPath(p)
	if err != nil || p == "/" {
		return fmt.Errorf("%w: name a folder", errBadRequest)
	}
	ns, err := s.openSession()
	if err != nil {
		return err
	}
	defer ns.close()
	s.lockTree()
	defer s.treeMu.Unlock()
	return ns.files.Mkdir(ctx, p)
}

func (s *Server) remove(ctx context.Context, p string) error {
	p, err := cleanPath(p)
	if err != nil || p == "/" {
		return fmt.Errorf("%w: name a file or folder (not the top folder)", errBadRequest)
	}
	ns, err := s.openSession()
	if err != nil {
		return err
	}
	defer ns.close()
	s.lockTree()
	defer s.treeMu.Unlock()
	return ns.files.Remove(ctx, p)
}

// treeMover is a file tree that moves an entry in one tree update,
// without copying contents. files.Client grows it in its own package; until
// it does, move copies.
type treeMover interface {
	Move(ctx context.Context, from, to string) (files.Entry, error)
}

// move renames or moves a file or a folder (with everything in it) to the
// path to, which must not exist yet. With a tree that moves entries
// itself (treeMover) it is one update; otherwise the contents are read
// back and stored under the new names before the old ones go, so a
// failure half-way leaves both, never neither.
func (s *Server) move(ctx context.Context, from, to string) (fileEntryJSON, error) {
	from, err := cleanPath(from)
	if err != nil || from == "/" {
		return fileEntryJSON{}, fmt.Errorf("%w: name the file or folder to move", errBadRequest)
	}
	to, err = cleanPath(to)
	if err != nil || to == "/" {
		return fileEntryJSON{}, fmt.Errorf("%w: name where to move it", errBadRequest)
	}
	if from == to {
		return fileEntryJSON{}, fmt.Errorf("%w: that is the same name", errBadRequest)
	}
	if strings.HasPrefix(to, from+"/") {
		return fileEntryJSON{}, fmt.Errorf("%w: a folder cannot move into itself", errBadRequest)
	}
	ns, err := s.openSession()
	if err != nil {
		return fileEntryJSON{}, err
	}
	defer ns.close()
	s.lockTree()
	defer s.treeMu.Unlock()
	e, err := ns.files.Stat(ctx, from)
	if err != nil {
		return fileEntryJSON{}, err
	}
	if _, err := ns.files.Stat(ctx, to); err == nil {
		return fileEntryJSON{}, files.ErrExists
	} else if !errors.Is(err, files.ErrNotFound) {
		return fileEntryJSON{}, err
	}
	if m, ok := any(ns.files).(treeMover); ok {
		ne, err := m.Move(ctx, from, to)
		if err != nil {
			return fileEntryJSON{}, err
		}
		return entryJSON(path.Dir(to), ne), nil
	}
	if e.Kind != files.KindDir {
		ne, err := copyFile(ctx, ns.files, e, to)
		if err != nil {
			return fileEntryJSON{}, err
		}
		if err := ns.files.Remove(ctx, from); err != nil {
			return fileEntryJSON{}, fmt.Errorf("stored under the new name, but the old one stays: %w", err)
		}
		return entryJSON(path.Dir(to), ne), nil
	}
	// A folder: the new folder first (an empty one moves too), then each
	// entry under it, read from one snapshot of the tree.
	if err := ns.files.Mkdir(ctx, to); err != nil {
		return fileEntryJSON{}, err
	}
	err = ns.files.Walk(ctx, from, func(p string, se files.Entry) error {
		dst := to + strings.TrimPrefix(p, from)
		if se.Kind == files.KindDir {
			return ns.files.Mkdir(ctx, dst)
		}
		_, err := copyFile(ctx, ns.files, se, dst)
		return err
	})
	if err != nil {
		return fileEntryJSON{}, fmt.Errorf("copying the folder (the original is untouched): %w", err)
	}
	if err := ns.files.Remove(ctx, from); err != nil {
		return fileEntryJSON{}, fmt.Errorf("copied to the new place, but the old folder stays: %w", err)
	}
	ne, err := ns.files.Stat(ctx, to)
	if err != nil {
		return fileEntryJSON{}, err
	}
	return entryJSON(path.Dir(to), ne), nil
}

// copyFile stores the contents of e again under to.
func copyFile(ctx context.Context, fc *files.Client, e files.Entry, to string) (files.Entry, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(fc.GetEntry(ctx, e, pw)) }()
	ne, err := fc.Put(ctx, to, pr, nil)
	pr.CloseWithError(err)
	return ne, err
}

// humanSize says n bytes the way a file manager does.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "B"
}

// crumbs are the folders from the top down to dir.
func crumbs(dir string) []web.Crumb {
	out := []web.Crumb{{Name: "My files", Path: "/"}}
	cur := ""
	for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
		if part == "" {
			continue
		}
		cur += "/" + part
		out = append(out, web.Crumb{Name: part, Path: cur})
	}
	return out
}

// filesView builds the listing's view model; a pure function of the
// entries so the render benchmark measures exactly what a page view does.
func filesView(page web.Page, dir string, es []files.Entry) web.FilesView {
	v := web.FilesView{Page: page, Path: dir, Crumbs: crumbs(dir), Entries: make([]web.FileRow, 0, len(es))}
	for _, e := range es {
		row := web.FileRow{Name: e.Name, Path: path.Join(dir, e.Name), Dir: e.Kind == files.KindDir,
			MTime: time.UnixMilli(e.MTime).UTC().Format("2006-01-02 15:04")}
		row.PathQ = url.QueryEscape(row.Path)
		if !row.Dir {
			row.Size = humanSize(e.Size)
			row.Preview = previewKind(e.Name)
		}
		v.Entries = append(v.Entries, row)
	}
	// Folders first, as people expect.
	sort.SliceStable(v.Entries, func(i, j int) bool { return v.Entries[i].Dir && !v.Entries[j].Dir })
	// Where an entry can move without typing: the folders above, and the
	// ones here. Deeper ones are typed (the list stays one walk-free read).
	for _, c := range v.Crumbs {
		v.Folders = append(v.Folders, c.Path)
	}
	for _, e := range v.Entries {
		if !e.Dir {
			break
		}
		v.Folders = append(v.Folders, e.Path)
	}
	return v
}

func (s *Server) filesPage(title string) web.Page {
	p := s.chrome(title, web.NavFiles)
	p.NeedsKeys = true
	return p
}

func (s *Server) pageFiles(w http.ResponseWriter, r *http.Request) {
	if !s.unlocked() {
		seeOther(w, r, "/welcome")
		return
	}
	q := r.URL.Query()
	dir, err := cleanPath(q.Get("path"))
	if err != nil {
		dir = "/"
	}
	ns, err := s.openSession()
	if err != nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Files need a network: "+s.netView(r.Context()).Summary)
		return
	}
	defer ns.close()
	es, err := s.listDir(r.Context(), ns, dir)
	v := filesView(s.filesPage("Files"), dir, es)
	v.Notice = q.Get("notice")
	if len(v.Notice) > 200 {
		v.Notice = v.Notice[:200]
	}
	if err != nil {
		_, e := filesError(err)
		v.Error = "Could not open " + dir + ": " + e.Error
	}
	if act := q.Get("act"); act != "" {
		if p, err := cleanPath(act); err == nil && p != "/" {
			for i := range v.Entries {
				if v.Entries[i].Path == p {
					v.Selected = &v.Entries[i]
				}
			}
		}
	}
	if view := q.Get("view"); view != "" {
		v.Preview = s.preview(r.Context(), ns, view)
	}
	s.render(w, r, http.StatusOK, web.FilesPage(v))
}

func (s *Server) preview(ctx context.Context, ns *netSession, p string) *web.FilePreview {
	p, err := cleanPath(p)
	if err != nil {
		return nil
	}
	kind := previewKind(p)
	if kind == "" {
		return nil
	}
	pv := &web.FilePreview{Name: path.Base(p), Path: p, Kind: kind, MediaURL: "/api/media" + escapePath(p)}
	if kind == "text" {
		e, err := ns.files.Stat(ctx, p)
		if err != nil {
			return nil
		}
		var buf bytes.Buffer
		lw := &limitWriter{w: &buf, n: textPreviewMax}
		if err := ns.files.GetEntry(ctx, e, lw); err != nil && !errors.Is(err, errLimit) {
			pv.Text = "(could not read the file: " + err.Error() + ")"
			return pv
		}
		pv.Text = strings.ToValidUTF8(buf.String(), "�")
		pv.Truncated = e.Size > textPreviewMax
	}
	return pv
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

var errLimit = errors.New("preview limit reached")

// limitWriter keeps the first n bytes, then stops the transfer.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	if int64(len(b)) > l.n {
		k, _ := l.w.Write(b[:l.n])
		l.n = 0
		return k, errLimit
	}
	l.n -= int64(len(b))
	return l.w.Write(b)
}

// Form handlers: the page without script. Each redirects back to the
// folder, with an error or a notice in the query.
func backToFolder(w http.ResponseWriter, r *http.Request, dir, notice string) {
	q := url.Values{"path": {dir}}
	if notice != "" {
		q.Set("notice", notice)
	}
	seeOther(w, r, "/files?"+q.Encode())
}

func formError(err error) string {
	_, e := filesError(err)
	return e.Error
}

func (s *Server) postFilesUpload(w http.ResponseWriter, r *http.Request) {
	dir, err := cleanPath(r.URL.Query().Get("dir"))
	if err != nil {
		dir = "/"
	}
	stored, err := s.receiveUploads(r, dir, "")
	if err != nil {
		backToFolder(w, r, dir, "Upload failed: "+formError(err))
		return
	}
	backToFolder(w, r, dir, fmt.Sprintf("Uploaded %d file(s).", len(stored)))
}

func (s *Server) postFilesMkdir(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	dir, err := cleanPath(r.PostForm.Get("dir"))
	if err != nil {
		dir = "/"
	}
	name := r.PostForm.Get("name")
	if !files.ValidName(name) {
		backToFolder(w, r, dir, "That folder name cannot be used.")
		return
	}
	if err := s.mkdir(r.Context(), path.Join(dir, name)); err != nil {
		backToFolder(w, r, dir, "Could not create the folder: "+formError(err))
		return
	}
	backToFolder(w, r, dir, "Folder "+name+" created.")
}

func (s *Server) postFilesDelete(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	p := r.PostForm.Get("path")
	dir := path.Dir(path.Join("/", p))
	if err := s.remove(r.Context(), p); err != nil {
		backToFolder(w, r, dir, "Could not delete: "+formError(err))
		return
	}
	backToFolder(w, r, dir, "Deleted "+path.Base(p)+".")
}

func (s *Server) postFilesMove(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	// Three forms post here: rename (a new name in the same folder),
	// move into a folder (keeping the name), or a whole new path.
	from, to := r.PostForm.Get("from"), r.PostForm.Get("to")
	dir := path.Dir(path.Join("/", from))
	switch {
	case to != "":
	case r.PostForm.Has("name"):
		name := strings.TrimSpace(r.PostForm.Get("name"))
		if !files.ValidName(name) {
			backToFolder(w, r, dir, "That name cannot be used.")
			return
		}
		to = path.Join(dir, name)
	case r.PostForm.Has("into"):
		into, err := cleanPath(strings.TrimSpace(r.PostForm.Get("into")))
		if err != nil {
			backToFolder(w, r, dir, "Could not move: that folder path cannot be used.")
			return
		}
		to = path.Join(into, path.Base(path.Join("/", from)))
	}
	if _, err := s.move(r.Context(), from, to); err != nil {
		backToFolder(w, r, dir, "Could not move: "+formError(err))
		return
	}
	backToFolder(w, r, dir, "Moved to "+path.Join("/", to)+".")
}
