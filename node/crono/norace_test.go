//go:build !race

package crono

const raceEnabled = false
