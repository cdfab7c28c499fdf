// Package installer holds what puts BorgIOS onto machines: the Raspberry Pi
// and systemd install, the assets copied onto a prepared stick, and release
// signing.
package installer
