// Package cli holds the borgios command line: one cobra command tree that
// the borgios binary (and tests, in-process) run. Each subcommand is a thin
// layer over the packages that do the work, so behaviour is tested there and
// only wiring and output formats are tested here.
package cli
