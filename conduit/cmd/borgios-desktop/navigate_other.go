//go:build desktop && !(linux && webkit2_41)

package main

// navigatesItself: elsewhere the start page sends the window to the
// conduit with a meta refresh, and the window reloads the conduit's first
// page once from that page itself so the session cookie is sent (see the
// OnDomReady handler). Tried on WebKitGTK by forcing this path; WebView2
// and WKWebView are untested.
const navigatesItself = false

func loadURI(string) {}
