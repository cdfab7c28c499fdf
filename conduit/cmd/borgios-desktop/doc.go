//go:build desktop

// Command borgios-desktop shows the conduit's pages in a native window
// (Wails v2 over WebKitGTK, WebView2 or WKWebView) instead of the system
// browser. It links the system's webview through cgo, so it is a second,
// optional binary built with
//
//	go build -tags desktop,production,webkit2_41 ./conduit/cmd/borgios-desktop
//
// while borgios itself stays pure Go. It takes borgios's conduit flags
// (--portable, --peers, --data-dir, ...) and runs the same conduit; in
// portable mode the webview's data and caches stay on the stick too.
package main
