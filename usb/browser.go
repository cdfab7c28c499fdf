package usb

import (
	"os"
	"path/filepath"
)

// BrowserCommand is how to open url in a browser whose profile (history,
// cache, cookies) lives in profile, on the stick. It knows the Chromium
// family and Firefox, which take a profile folder on the command line; ok
// is false when none is found, and the caller should fall back to the
// system's default browser (whose profile stays on the host).
//
// find reports whether a program exists: exec.LookPath for names, and for
// absolute paths (macOS application bundles) a stat.
func BrowserCommand(goos, url, profile string, find func(string) (string, error)) (name string, args []string, ok bool) {
	chromium := func(bin string) (string, []string, bool) {
		return bin, []string{"--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check", "--new-window", url}, true
	}
	firefox := func(bin string) (string, []string, bool) {
		// -no-remote keeps a running Firefox (with the host's profile)
		// from taking the URL over.
		return bin, []string{"-profile", profile, "-no-remote", "-new-instance", url}, true
	}
	switch goos {
	case "darwin":
		for _, app := range []string{"Google Chrome", "Chromium", "Brave Browser", "Microsoft Edge"} {
			bin := filepath.Join("/Applications", app+".app", "Contents", "MacOS", app)
			if p, err := find(bin); err == nil {
				return chromium(p)
			}
		}
		if p, err := find("/Applications/Firefox.app/Contents/MacOS/firefox"); err == nil {
			return firefox(p)
		}
	case "windows":
		for _, bin := range []string{
			`C:\Program Files\Google\Chrome\Application\chrome.exe`,
			`C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`,
		} {
			if p, err := find(bin); err == nil {
				return chromium(p)
			}
		}
		if p, err := find(`C:\Program Files\Mozilla Firefox\firefox.exe`); err == nil {
			return firefox(p)
		}
	default:
		for _, bin := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "brave-browser", "microsoft-edge"} {
			if p, err := find(bin); err == nil {
				return chromium(p)
			}
		}
		if p, err := find("firefox"); err == nil {
			return firefox(p)
		}
	}
	return "", nil, false
}

// StatFind is a find for BrowserCommand that accepts absolute paths that
// exist; combine it with exec.LookPath for names.
func StatFind(p string) (string, error) {
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}
