package main

import (
	"os"

	"github.com/borgios/borgios/conduit/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
