// Package installer holds what puts BorgIOS onto machines: the hardened
// systemd unit for a headless node (Unit renders it; borgios-node.service
// is the default rendering that scripts/install-pi.sh installs), and the
// account and sysctl snippets that go with it. The stick's own assets live
// in package usb.
package installer
