package web

import "path"

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
