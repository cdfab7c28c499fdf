#!/bin/sh
# Starts BorgIOS from this stick on Linux. Run it from a terminal with
#     sh /path/to/stick/start-linux.sh
# (FAT32 sticks cannot mark files executable, so "sh" is the sure way.)
# Everything BorgIOS keeps is written to the stick's data folder.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
case "$(uname -m)" in
	x86_64 | amd64) ARCH=amd64 ;;
	aarch64 | arm64) ARCH=arm64 ;;
	armv7* | armv8l | armhf) ARCH=armv7 ;;
	*)
		echo "BorgIOS: this stick has no binary for $(uname -m)." >&2
		exit 1
		;;
esac
BIN="$ROOT/bin/linux-$ARCH/borgios"
if [ ! -f "$BIN" ]; then
	echo "BorgIOS: $BIN is missing; prepare the stick again." >&2
	exit 1
fi
BORGIOS_PORTABLE=$ROOT
export BORGIOS_PORTABLE

# Straight from the stick where it may execute (exFAT, ext4, or FAT
# mounted without showexec/noexec).
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
	exec "$BIN" "$@"
fi

# The stick is mounted noexec, or FAT32 with showexec: run a copy from
# memory (the per-user tmpfs first), removed again when BorgIOS exits.
for DIR in "${XDG_RUNTIME_DIR:-}" /dev/shm "${TMPDIR:-/tmp}"; do
	[ -n "$DIR" ] && [ -d "$DIR" ] && [ -w "$DIR" ] || continue
	RUN=$(mktemp -d "$DIR/borgios.XXXXXX" 2>/dev/null) || continue
	if cp "$BIN" "$RUN/borgios" && chmod 700 "$RUN/borgios" && "$RUN/borgios" --version >/dev/null 2>&1; then
		trap 'rm -rf "$RUN"' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		STATUS=0
		"$RUN/borgios" "$@" || STATUS=$?
		exit "$STATUS"
	fi
	rm -rf "$RUN"
done
echo "BorgIOS: cannot run $BIN here (no folder that allows running programs)." >&2
exit 1
