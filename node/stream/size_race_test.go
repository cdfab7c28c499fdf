//go:build race

package stream

// The race detector slows everything ~10x: smaller files, same paths.
const testFileBytes = 3 << 20
