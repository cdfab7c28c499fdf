package usb

import (
	"embed"
	"io/fs"
)

// assets are the launchers and the README a prepared stick gets. They are
// files in the repository (usb/assets) so they can be read and shellchecked
// as what they are.
//
//go:embed assets/start-linux.sh assets/start-macos.command assets/start-windows.bat assets/README-FIRST.txt
var assets embed.FS

// Asset returns the embedded file name (start-linux.sh, README-FIRST.txt, ...).
func Asset(name string) ([]byte, error) { return fs.ReadFile(assets, "assets/"+name) }
