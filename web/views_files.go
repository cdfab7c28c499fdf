package web

import (
	"context"
	"html"
	"io"
	"path"
	"strings"

	"github.com/a-h/templ"
)

// Sections that exist only while unlocked and connected to a network.
const (
	NavFiles  Nav = "files"
	NavWallet Nav = "wallet"
)

// Crumb is one folder in the path shown above a listing.
type Crumb struct {
	Name string
	Path string
}

// FileRow is one entry of a folder listing.
type FileRow struct {
	Name  string
	Path  string
	Dir   bool
	Size  string // human size; empty for folders
	MTime string // "2006-01-02 15:04" UTC
	// Preview says how the file can be shown in the page: "image",
	// "audio", "video", "text", "pdf" or "" (download only).
	Preview string
	// PathQ is Path escaped for a query, when the conduit has it at hand;
	// a row's three links share it (escaping is much of a big folder's
	// render time).
	PathQ string
}

func (r FileRow) pathQ() string {
	if r.PathQ != "" {
		return r.PathQ
	}
	return urlQuery(r.Path)
}

// FilePreview is the file opened for viewing above the listing.
type FilePreview struct {
	Name string
	Path string
	Kind string // as FileRow.Preview
	// MediaURL serves the file inline with Range support.
	MediaURL string
	// Text is the start of a text file; Truncated says there is more.
	Text      string
	Truncated bool
}

// FilesView is one folder of the person's file tree.
type FilesView struct {
	Page
	Path    string
	Crumbs  []Crumb
	Entries []FileRow
	Preview *FilePreview
	// Selected is the entry whose rename, move and delete forms are open.
	Selected *FileRow
	// Folders are offered as destinations of a move (a datalist): the
	// folders above this one and the ones in it.
	Folders []string
	Error   string
	Notice  string
}

// pathDir is the folder holding p.
func pathDir(p string) string { return path.Dir(p) }

// fileRows writes the rows of a folder listing, byte for byte what the
// fileRow template writes (TestFileRowsMatchTemplate holds them equal),
// without the template's per-expression allocations: a folder of 1,000
// files is otherwise mostly allocation and escaping.
func fileRows(dirQ string, rows []FileRow) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		sw, ok := w.(io.StringWriter)
		if !ok {
			sw = stringWriter{w}
		}
		var err error
		put := func(s string) {
			if err == nil {
				_, err = sw.WriteString(s)
			}
		}
		esc := func(s string) { put(escapeText(s)) }
		dq := escapeText(dirQ)
		for i := range rows {
			e := &rows[i]
			pq := escapeText(e.pathQ())
			put(`<tr data-path="`)
			esc(e.Path)
			put(`"`)
			if e.Dir {
				put(` data-dir`)
			}
			put(` draggable="true"><td class="name">`)
			switch {
			case e.Dir:
				put(`<a href="/files?path=`)
				put(pq)
				put(`"><span aria-hidden="true">📁 </span>`)
				esc(e.Name)
				put(`</a>`)
			case e.Preview != "":
				put(`<a href="/files?path=`)
				put(dq)
				put(`&amp;view=`)
				put(pq)
				put(`">`)
				esc(e.Name)
				put(`</a>`)
			default:
				esc(e.Name)
			}
			put(`</td><td>`)
			esc(e.Size)
			put(`</td><td>`)
			esc(e.MTime)
			put(`</td><td class="row-actions">`)
			if !e.Dir {
				put(`<a class="button small" href="/api/files/download?path=`)
				put(pq)
				put(`" download="`)
				esc(e.Name)
				put(`" aria-label="Download `)
				esc(e.Name)
				put(`">Download</a> `)
			}
			put(`<a class="button small" href="/files?path=`)
			put(dq)
			put(`&amp;act=`)
			put(pq)
			put(`#actions" aria-label="More actions for `)
			esc(e.Name)
			put(`">More</a></td></tr>`)
		}
		return err
	})
}

// escapeText escapes s as html.EscapeString (and so templ) does, copying
// only when there is something to escape.
func escapeText(s string) string {
	if strings.ContainsAny(s, `<>&'"`) {
		return html.EscapeString(s)
	}
	return s
}

type stringWriter struct{ w io.Writer }

func (s stringWriter) WriteString(v string) (int, error) { return io.WriteString(s.w, v) }
