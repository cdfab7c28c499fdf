//go:build desktop && !(linux && webkit2_41)

package main

// navigatesItself: elsewhere the start page sends the window to the
// conduit with a meta refresh (see the README's desktop section for what
// that means for the first page).
const navigatesItself = false

func loadURI(string) {}
