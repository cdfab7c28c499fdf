//go:build race

package celltest

// Race reports whether the race detector is on; tests use it to shrink
// sizes and slow their timers (everything runs ~10x slower under it).
const Race = true
