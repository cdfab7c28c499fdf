#!/bin/sh
# Makes a new BorgIOS release signing key (Ed25519) with openssl. Run it on
# the offline machine that will keep the key, never in a checkout:
#
#   scripts/release-keygen.sh [--no-passphrase] PRIVATE.pem
#
# writes PRIVATE.pem (mode 0600; encrypted with a passphrase openssl asks
# for, or takes from BORGIOS_RELEASE_PASS, unless --no-passphrase) and
# PRIVATE.pub, the public half. Commit the
# public half as installer/release-key.pub: every install-pi.sh from then on
# trusts only releases signed by this key. The private key never goes into
# the repository, CI, or a machine that is online.
set -eu

die() { echo "release-keygen: $*" >&2; exit 1; }

ENCRYPT=-aes-256-cbc
case "${1:-}" in
--no-passphrase) ENCRYPT=; shift ;;
-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
esac
[ $# = 1 ] || die "usage: release-keygen.sh [--no-passphrase] PRIVATE.pem"
KEY=$1
[ ! -e "$KEY" ] || die "$KEY exists; refusing to overwrite a key"
command -v openssl >/dev/null 2>&1 || die "openssl missing (apt install openssl)"

set --
if [ -n "$ENCRYPT" ] && [ -n "${BORGIOS_RELEASE_PASS:-}" ]; then set -- -pass env:BORGIOS_RELEASE_PASS; fi
umask 077
# $ENCRYPT is empty or one word: unquoted on purpose.
# shellcheck disable=SC2086
openssl genpkey -algorithm ed25519 $ENCRYPT "$@" -out "$KEY"
if [ $# -gt 0 ]; then set -- -passin env:BORGIOS_RELEASE_PASS; fi
PUB=${KEY%.pem}.pub
openssl pkey -in "$KEY" "$@" -pubout -out "$PUB"
chmod 0644 "$PUB"
FP=$(openssl pkey -pubin -in "$PUB" -outform DER | sha256sum | cut -d' ' -f1)
echo "release-keygen: private key $KEY (keep it offline), public key $PUB"
echo "release-keygen: fingerprint $FP; commit $PUB as installer/release-key.pub"
