//go:build desktop

package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/logger"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/options/windows"
	wruntime "github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/borgios/borgios/conduit/cli"
)

// GTK (and AppKit on macOS) must be driven from the thread that started
// them, which for AppKit must be the process's first thread: keep main on
// it from the start.
func init() { runtime.LockOSThread() }

func main() { os.Exit(run()) }

// run starts the conduit, then the window once the conduit has its
// address, and returns the exit code. Either side ending ends the other:
// closing the window stops the conduit (wiping the keys), and the conduit
// stopping (SIGINT/SIGTERM, Prepare to unplug, the stick pulled out)
// closes the window.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	urls := make(chan string, 1)
	stopped := make(chan struct{})
	var conduitErr error
	go func() {
		defer close(stopped)
		conduitErr = cli.RunWindowed(cctx, os.Args[1:], os.Stdout, os.Stderr, func(u string) { urls <- u })
	}()
	var target string
	select {
	case target = <-urls:
	case <-stopped:
		// --help, --version, or the conduit could not start.
		return exitCode(conduitErr)
	}

	// From here on portable mode (if any) has set HOME, TMPDIR and the XDG
	// folders, so everything the webview writes goes where they point.
	started := make(chan context.Context, 1)
	windowGone := make(chan struct{})
	go func() {
		select {
		case <-stopped:
		case <-windowGone:
			return
		}
		if ctx.Err() != nil {
			// A signal stopped the conduit: wails.Run has its own
			// SIGINT/SIGTERM handler that closes the window, and a
			// second Quit from here races it inside GTK
			// (gtk_main_quit twice: "Attempt to unlock mutex that was
			// not locked", SIGABRT).
			return
		}
		select {
		case wctx := <-started:
			wruntime.Quit(wctx)
		case <-windowGone:
		}
	}()
	// OnDomReady runs on the message goroutine on Linux; elsewhere Wails
	// may call it from several.
	var loadCount atomic.Int32
	err := wails.Run(&options.App{
		Title:     "BorgIOS",
		Width:     1200,
		Height:    800,
		MinWidth:  400,
		MinHeight: 300,
		AssetServer: &assetserver.Options{
			Handler: startPage(target),
		},
		OnStartup: func(wctx context.Context) { started <- wctx },
		OnDomReady: func(context.Context) {
			// Load 1 is the start page, load 2 the conduit's token
			// exchange page, load 3 the conduit's first page (the test
			// of this command waits for it).
			fmt.Printf("window: page loaded %d\n", loadCount.Add(1))
		},
		Logger:             logger.NewDefaultLogger(),
		LogLevel:           logger.ERROR,
		LogLevelProduction: logger.ERROR,
		Linux: &linux.Options{
			ProgramName:      "borgios-desktop",
			WebviewGpuPolicy: linux.WebviewGpuPolicyOnDemand,
		},
		Windows: &windows.Options{
			// WebView2 keeps its profile here; in portable mode
			// LOCALAPPDATA points at the stick.
			WebviewUserDataPath: webviewDataDir(),
		},
	})
	close(windowGone)
	cancel()
	<-stopped
	if err != nil {
		fmt.Fprintln(os.Stderr, "borgios-desktop: window:", err)
		return 1
	}
	return exitCode(conduitErr)
}

func exitCode(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "borgios-desktop:", err)
		return 1
	}
	return 0
}

// startPage is the only thing served from the window's own wails:// origin:
// an empty page that sends the window on to the conduit's address, secret
// included. The conduit answers that address with a page that sets the
// session cookie and moves on from its own origin, so the SameSite=Strict
// cookie is sent although this first navigation came from another origin.
//
// The window talks to the conduit directly, like a browser would, instead
// of the Wails AssetServer proxying to it: a proxy would send requests with
// Host "wails" and Origin "wails://wails", which the conduit rightly refuses
// (DNS-rebinding and cross-site checks), and making them pass would mean
// rewriting exactly the headers those checks rely on. Navigating keeps the
// Host, Origin and session-cookie checks as they are for every browser;
// the secret only ever travels inside this process and over loopback.
func startPage(target string) http.Handler {
	page := []byte(`<!doctype html><html><head><meta charset="utf-8">` +
		`<meta http-equiv="refresh" content="0;url=` + html.EscapeString(target) + `">` +
		`<title>BorgIOS</title></head><body></body></html>`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(page)
	})
}

// webviewDataDir is where WebView2 (Windows) keeps its profile.
func webviewDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "borgios-desktop")
}
