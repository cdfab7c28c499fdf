//go:build !race

package main

const filesTestBytes = 50 << 20
