package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static is the embedded CSS, JavaScript and icon, rooted so that
// "app.css" is the stylesheet; the conduit serves it under /static/.
var Static fs.FS = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return s
}
