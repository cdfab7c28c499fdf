#!/bin/sh
# Starts BorgIOS from this stick on macOS: double-click this file in Finder
# (the first time, right-click and choose Open). Everything BorgIOS keeps is
# written to the stick's data folder.
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
case "$(uname -m)" in
	arm64) ARCH=arm64 ;;
	*) ARCH=amd64 ;;
esac
BIN="$ROOT/bin/darwin-$ARCH/borgios"
# Files copied from a download carry a quarantine flag that stops them.
xattr -d com.apple.quarantine "$BIN" 2>/dev/null || true
chmod +x "$BIN" 2>/dev/null || true
BORGIOS_PORTABLE=$ROOT
export BORGIOS_PORTABLE
exec "$BIN" "$@"
