#!/bin/sh
# Signs a release: checks that dist/SHA256SUMS matches the binaries beside
# it, then signs it with the Ed25519 release key into dist/SHA256SUMS.sig
# (the raw 64-byte signature openssl's pkeyutl makes and checks) and writes
# the signing key's fingerprint to dist/SHA256SUMS.key (only so that an
# installer trusting another key can say so; it is never trusted).
#
#   BORGIOS_RELEASE_KEY=/media/offline/borgios-release.pem scripts/release-sign.sh [--dist DIR] [--pub FILE]
#
# BORGIOS_RELEASE_KEY  the private key (made by scripts/release-keygen.sh);
#                      if it is encrypted, openssl asks for its passphrase,
#                      or reads it from BORGIOS_RELEASE_PASS when set.
# --dist DIR           the release folder (default: dist/ of this checkout,
#                      made by `go tool task build-all`).
# --pub FILE           the public key installers will trust (default:
#                      installer/release-key.pub). The private key must be
#                      its other half: a release signed by any other key
#                      would be refused by every installer.
set -eu

HERE=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
DIST="$HERE/../dist"
PUB="$HERE/../installer/release-key.pub"

die() { echo "release-sign: $*" >&2; exit 1; }
say() { echo "release-sign: $*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--dist) DIST=${2:?--dist needs a folder}; shift 2 ;;
	--pub) PUB=${2:?--pub needs a public key file}; shift 2 ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

KEY=${BORGIOS_RELEASE_KEY:-}
[ -n "$KEY" ] || die "set BORGIOS_RELEASE_KEY to the release's private key file (kept offline)"
[ -f "$KEY" ] || die "no such private key $KEY"
[ -f "$PUB" ] || die "no such public key $PUB"
command -v openssl >/dev/null 2>&1 || die "openssl missing (apt install openssl)"
[ -f "$DIST/SHA256SUMS" ] || die "$DIST/SHA256SUMS missing (run go tool task build-all)"

set --
if [ -n "${BORGIOS_RELEASE_PASS:-}" ]; then set -- -passin env:BORGIOS_RELEASE_PASS; fi

# Sign only sums that are true now, and only with the key installers trust.
(cd "$DIST" && sha256sum -c --quiet SHA256SUMS) || die "$DIST/SHA256SUMS does not match the binaries; rebuild with go tool task build-all"
HAVE=$(openssl pkey -in "$KEY" "$@" -pubout -outform DER | sha256sum | cut -d' ' -f1) ||
	die "cannot read the private key $KEY"
WANT=$(openssl pkey -pubin -in "$PUB" -outform DER | sha256sum | cut -d' ' -f1) ||
	die "cannot read the public key $PUB"
[ "$HAVE" = "$WANT" ] || die "$KEY is not the private half of $PUB (fingerprint $HAVE, want $WANT); installers would refuse this release"

TMP="$DIST/SHA256SUMS.sig.tmp"
rm -f "$TMP"
openssl pkeyutl -sign -inkey "$KEY" "$@" -rawin -in "$DIST/SHA256SUMS" -out "$TMP" || {
	rm -f "$TMP"
	die "signing failed"
}
openssl pkeyutl -verify -pubin -inkey "$PUB" -rawin -in "$DIST/SHA256SUMS" -sigfile "$TMP" >/dev/null ||
	die "the new signature does not verify against $PUB"
mv "$TMP" "$DIST/SHA256SUMS.sig"
echo "$WANT" >"$DIST/SHA256SUMS.key"
say "signed $DIST/SHA256SUMS with release key $WANT"
