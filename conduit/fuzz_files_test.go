package conduit

import (
	"strings"
	"testing"

	"github.com/borgios/borgios/node/files"
)

// FuzzCleanPath: whatever a page or script sends as a path, cleanPath
// either refuses it or returns an absolute path the file tree accepts,
// with no empty, "." or ".." element, unchanged by a second cleaning.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b", "a//b/", "/../x", "/a/./b", "/a\x00b", "/" + strings.Repeat("x", 300), "/ä/ö.txt", "\\a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := cleanPath(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("%q -> %q not absolute", in, p)
		}
		if p != "/" {
			for _, el := range strings.Split(p[1:], "/") {
				if el == "" || el == "." || el == ".." || !files.ValidName(el) {
					t.Fatalf("%q -> %q has element %q", in, p, el)
				}
			}
		}
		if again, err := cleanPath(p); err != nil || again != p {
			t.Fatalf("%q -> %q -> %q, %v", in, p, again, err)
		}
	})
}
