//go:build race

package crono

// raceEnabled trims the simulation's seed list: the race detector makes it
// ten times slower and finds nothing a second seed would add.
const raceEnabled = true
