//go:build !race

package stream

const testFileBytes = 12 << 20
