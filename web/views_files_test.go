package web

import (
	"bytes"
	"context"
	"testing"
)

// TestFileRowsMatchTemplate: the hand-written row writer and the template
// it stands in for write the same bytes, escaping included.
func TestFileRowsMatchTemplate(t *testing.T) {
	rows := []FileRow{
		{Name: "dir", Path: "/a b/dir", Dir: true, MTime: "2026-01-02 03:04"},
		{Name: `x<script>"&'.txt`, Path: `/a b/x<script>"&'.txt`, Size: "1.0 KB", MTime: "2026-01-02 03:04", Preview: "text"},
		{Name: "data.bin", Path: "/a b/data.bin", Size: "12 B", MTime: "2026-01-02 03:04", PathQ: urlQuery("/a b/data.bin")},
		{Name: "ünï 📷.jpg", Path: "/a b/ünï 📷.jpg", Size: "3.0 MB", MTime: "2026-01-02 03:04", Preview: "image"},
	}
	dirQ := urlQuery("/a b")
	var want, got bytes.Buffer
	for _, r := range rows {
		if err := fileRow(dirQ, r).Render(context.Background(), &want); err != nil {
			t.Fatal(err)
		}
	}
	if err := fileRows(dirQ, rows).Render(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("rows differ:\nwriter:   %s\ntemplate: %s", got.String(), want.String())
	}
}
