// Command borgios is the one BorgIOS binary: the conduit by default, and a
// headless node, a local demo network and the seed and stick tools by
// subcommand.
package main

import (
	"os"

	"github.com/borgios/borgios/conduit/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
