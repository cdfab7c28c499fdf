//go:build !race

package usb

const kill9Rounds = 6
