// Package web renders the conduit's pages with templ from view models of its
// own; it holds no network code. Static CSS and JavaScript are embedded so
// the binary serves the whole UI with no external files.
package web
