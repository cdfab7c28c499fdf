//go:build race

package usb

// Fewer kill -9 rounds under the race detector keep the package fast.
const kill9Rounds = 3
