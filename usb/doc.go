// Package usb decides where state lives when BorgIOS runs from a stick: the
// portable layout (binaries per system, launchers, the .portable marker, the
// person's README and the data folder), the Paths and environment that keep
// state, caches, temp files and logs on the stick, removable-media detection,
// a crash-safe append-only RecordLog for FAT/exFAT, pull-out detection (Watch)
// and the "prepare to unplug" Flush.
//
// It minimises the traces BorgIOS leaves on a host; it cannot erase them (see
// Paths for what can and cannot be redirected).
package usb
