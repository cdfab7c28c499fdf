#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for a while each.
# Usage: scripts/fuzz-all.sh [DURATION]   (default 30s per target)
# The seed corpora already run as ordinary tests in `go tool task test`;
# this is the longer, coverage-guided search.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-30s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "== $pkg $target ($dur)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" "$pkg"
  done
done
