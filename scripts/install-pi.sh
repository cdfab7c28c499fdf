#!/bin/sh
# Installs (or removes) a BorgIOS node as a hardened systemd service on
# Debian or Raspberry Pi OS.
#
#   sudo scripts/install-pi.sh [--dist DIR | --binary FILE] [--arch ARCH] [--root DIR] [--no-start]
#                              [--release-key FILE]
#   sudo scripts/install-pi.sh --uninstall [--keep-data] [--root DIR]
#
# --dist DIR    a release folder with borgios-linux-<arch> binaries, SHA256SUMS
#               and its signature SHA256SUMS.sig (default: dist/ of this
#               checkout, made by `go tool task build-all release-sign`).
#               Nothing is installed unless the signature verifies against
#               the release key and the binary matches its checksum.
# --release-key FILE  trust this Ed25519 public key (PEM) instead of the
#               pinned installer/release-key.pub (forks, tests).
# --binary FILE install this binary instead, unverified: for one you built.
# --arch ARCH   amd64, arm64 or armv7 (default: from uname -m).
# --root DIR    install into DIR instead of / (a scratch root for tests or
#               image builds); nothing is started.
# --no-start    install but do not enable or start the service.
# --uninstall   stop and remove everything this script installed, the
#               node's user and (unless --keep-data) its state in
#               /var/lib/borgios, which holds the node's key.
set -eu

HERE=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
ASSETS="$HERE/../installer"
ROOT=/
DIST="$HERE/../dist"
BINARY=
RELEASE_KEY="$ASSETS/release-key.pub"
ARCH=
START=1
UNINSTALL=0
KEEP_DATA=0

die() { echo "install-pi: $*" >&2; exit 1; }
say() { echo "install-pi: $*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--root) ROOT=${2:?--root needs a folder}; shift 2 ;;
	--dist) DIST=${2:?--dist needs a folder}; shift 2 ;;
	--binary) BINARY=${2:?--binary needs a file}; shift 2 ;;
	--release-key) RELEASE_KEY=${2:?--release-key needs a public key file}; shift 2 ;;
	--arch) ARCH=${2:?--arch needs amd64, arm64 or armv7}; shift 2 ;;
	--no-start) START=0; shift ;;
	--uninstall) UNINSTALL=1; shift ;;
	--keep-data) KEEP_DATA=1; shift ;;
	-h | --help) sed -n '2,25p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

[ -d "$ROOT" ] || die "no such root folder $ROOT"
ROOT=$(CDPATH= cd -- "$ROOT" && pwd)
if [ "$ROOT" = / ]; then
	P=
	[ "$(id -u)" = 0 ] || die "run as root (sudo)"
else
	P=$ROOT
	START=0
fi

BIN_DST=$P/usr/local/bin/borgios
UNIT_DST=$P/etc/systemd/system/borgios-node.service
ENV_DST=$P/etc/default/borgios-node
USERS_DST=$P/usr/lib/sysusers.d/borgios.conf
SYSCTL_DST=$P/etc/sysctl.d/60-borgios.conf
STATE=$P/var/lib/borgios

live_systemd() { [ -z "$P" ] && [ -d /run/systemd/system ]; }

remove_user() {
	if [ -z "$P" ]; then
		if id borgios >/dev/null 2>&1; then userdel borgios; fi
		if getent group borgios >/dev/null 2>&1; then groupdel borgios; fi
	elif [ -f "$P/etc/passwd" ]; then
		if grep -q '^borgios:' "$P/etc/passwd"; then userdel --prefix "$P" borgios; fi
		if grep -q '^borgios:' "$P/etc/group" 2>/dev/null; then groupdel --prefix "$P" borgios; fi
	fi
}

if [ "$UNINSTALL" = 1 ]; then
	if live_systemd; then
		systemctl disable --now borgios-node.service 2>/dev/null || true
	fi
	rm -f "$BIN_DST" "$UNIT_DST" "$ENV_DST" "$USERS_DST" "$SYSCTL_DST"
	if [ "$KEEP_DATA" = 0 ]; then
		rm -rf "$STATE" "$P/var/lib/private/borgios"
	else
		say "kept $STATE (the node's key and data)"
	fi
	remove_user
	if live_systemd; then systemctl daemon-reload; fi
	# Remove the folders this script may have created, if now empty.
	for d in usr/local/bin usr/local usr/lib/sysusers.d usr/lib usr etc/systemd/system etc/systemd etc/default etc/sysctl.d etc var/lib var; do
		[ -n "$P" ] && rmdir "$P/$d" 2>/dev/null || true
	done
	say "BorgIOS node removed"
	exit 0
fi

# fingerprint prints the SHA-256 of a public key's DER form: what
# release-sign.sh writes to SHA256SUMS.key and what people compare.
fingerprint() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }

# verify_release checks the release in $DIST and leaves the verified binary
# $1 in $WORK. It works on private copies so that what was checked is what
# gets installed, and checks the signature before reading anything the
# signature vouches for.
verify_release() {
	name=$1
	command -v openssl >/dev/null 2>&1 || die "openssl missing: it checks the release signature (apt install openssl)"
	[ -f "$RELEASE_KEY" ] || die "release key $RELEASE_KEY missing"
	openssl pkey -pubin -in "$RELEASE_KEY" -noout 2>/dev/null || die "release key $RELEASE_KEY is not a PEM public key"
	want=$(fingerprint "$RELEASE_KEY")
	[ -f "$DIST/SHA256SUMS" ] || die "$DIST/SHA256SUMS missing: not a release folder (go tool task build-all release-sign makes one)"
	[ -f "$DIST/SHA256SUMS.sig" ] ||
		die "$DIST/SHA256SUMS.sig missing: the release is not signed; refusing to install it (sign it with go tool task release-sign, or give --binary to install a binary you built yourself)"
	[ -f "$DIST/$name" ] || die "$DIST/$name missing (run go tool task build-all, or give --binary)"
	WORK=$(mktemp -d)
	trap 'rm -rf "$WORK"' EXIT
	cp "$DIST/SHA256SUMS" "$DIST/SHA256SUMS.sig" "$WORK/"
	if ! openssl pkeyutl -verify -pubin -inkey "$RELEASE_KEY" -rawin -in "$WORK/SHA256SUMS" -sigfile "$WORK/SHA256SUMS.sig" >/dev/null 2>&1; then
		signer=$(cat "$DIST/SHA256SUMS.key" 2>/dev/null || true)
		if [ -n "$signer" ] && [ "$signer" != "$want" ]; then
			die "SHA256SUMS is signed by another key ($signer), not the release key this installer trusts ($want, $RELEASE_KEY); refusing to install"
		fi
		die "the signature of SHA256SUMS does not verify against the release key ($want, $RELEASE_KEY): SHA256SUMS or its signature was altered; refusing to install"
	fi
	say "signature of SHA256SUMS verified (release key $want)"
	line=$(grep " \*\{0,1\}$name\$" "$WORK/SHA256SUMS" || true)
	[ -n "$line" ] || die "the signed SHA256SUMS lists no $name"
	cp "$DIST/$name" "$WORK/$name"
	(cd "$WORK" && echo "$line" | sha256sum -c --quiet - >/dev/null 2>&1) ||
		die "checksum of $DIST/$name does not match the signed SHA256SUMS; refusing to install"
	say "checksum of $name verified"
}

if [ -z "$BINARY" ]; then
	if [ -z "$ARCH" ]; then
		case "$(uname -m)" in
		x86_64 | amd64) ARCH=amd64 ;;
		aarch64 | arm64) ARCH=arm64 ;;
		armv7* | armv8l | armhf) ARCH=armv7 ;;
		*) die "no BorgIOS binary for $(uname -m)" ;;
		esac
	fi
	verify_release "borgios-linux-$ARCH"
	BINARY="$WORK/borgios-linux-$ARCH"
else
	say "installing $BINARY as given, without a signature check (--binary)"
fi
[ -f "$BINARY" ] || die "no such binary $BINARY"
for f in borgios-node.service sysusers.conf sysctl.conf; do
	[ -f "$ASSETS/$f" ] || die "$ASSETS/$f missing"
done

say "installing into ${P:-/}"
install -d -m 0755 "$P/usr/local/bin" "$P/etc/systemd/system" "$P/etc/default" "$P/usr/lib/sysusers.d" "$P/etc/sysctl.d" "$P/etc"
install -m 0755 "$BINARY" "$BIN_DST"
install -m 0644 "$ASSETS/borgios-node.service" "$UNIT_DST"
install -m 0644 "$ASSETS/sysusers.conf" "$USERS_DST"
install -m 0644 "$ASSETS/sysctl.conf" "$SYSCTL_DST"
if [ ! -f "$ENV_DST" ]; then
	cat >"$ENV_DST" <<'ENV'
# Extra arguments for `borgios node`, e.g.
# BORGIOS_NODE_ARGS="--peers NODEKEY@HOST:PORT --listen 0.0.0.0:7446"
BORGIOS_NODE_ARGS=""
ENV
	chmod 0644 "$ENV_DST"
fi

# The node's own system user, created the systemd way where possible.
if command -v systemd-sysusers >/dev/null 2>&1; then
	if [ -n "$P" ]; then
		systemd-sysusers --root "$P" "$USERS_DST"
	else
		systemd-sysusers "$USERS_DST"
	fi
elif [ -z "$P" ] && ! id borgios >/dev/null 2>&1; then
	useradd --system --home-dir /var/lib/borgios --no-create-home --shell /usr/sbin/nologin borgios
fi

if [ "$START" = 1 ] && live_systemd; then
	sysctl -q -p "$SYSCTL_DST" || say "could not raise UDP buffers (fine inside containers)"
	systemctl daemon-reload
	systemctl enable --now borgios-node.service
	say "started: journalctl -u borgios-node -f shows its log"
else
	say "installed; start it with: systemctl enable --now borgios-node"
fi
