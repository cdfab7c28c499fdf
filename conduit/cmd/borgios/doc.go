// Command borgios is the one BorgIOS binary: the conduit by default, and a
// headless node, a local demo network and the seed and stick tools by
// subcommand.
package main
