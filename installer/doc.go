// Package installer holds what puts BorgIOS onto machines: the hardened
// systemd unit for a headless node (Unit renders it; borgios-node.service
// is the default rendering that scripts/install-pi.sh installs), and the
// account and sysctl snippets that go with it. The stick's own assets live
// in package usb.
//
// # Signed releases
//
// release-key.pub is the pinned Ed25519 public key of BorgIOS releases,
// fingerprint (SHA-256 of its DER form)
//
//	8554263866ed0dc0a8a605ea72fe6c4773792f11701bd93080b8b25dd0056acb
//
// A release folder holds the binaries, SHA256SUMS and SHA256SUMS.sig, a raw
// Ed25519 signature of SHA256SUMS made by scripts/release-sign.sh
// (`go tool task release-sign`). install-pi.sh checks that signature with
// openssl against this key (or one given with --release-key) before it
// reads the sums, then the binary against the sums, and installs nothing
// when either fails. openssl does the checking because it is on every
// Raspberry Pi OS and Debian system, and a binary cannot vouch for itself.
//
// The private half is kept offline: made by scripts/release-keygen.sh on a
// machine that stays disconnected, encrypted with a passphrase, with a
// backup copy on separate offline media. It is never in this repository, in
// CI, or on a networked machine; releases are signed by carrying dist/ to
// the offline machine. Rotating the key means committing the new public
// half here and its fingerprint above (a test checks they agree). Tests
// sign with throwaway keys they make themselves.
package installer
