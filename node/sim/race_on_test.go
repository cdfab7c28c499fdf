//go:build race

package sim

// raceEnabled shrinks scenario sizes under the race detector (about 10×
// slower); the full sizes run in the normal test pass.
const raceEnabled = true
