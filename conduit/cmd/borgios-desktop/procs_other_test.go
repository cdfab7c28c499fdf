//go:build !unix

package main

import (
	"errors"
	"os/exec"
)

// The window test runs on Linux only (it skips elsewhere); these keep the
// package compiling everywhere.

func ownProcessGroup(*exec.Cmd) {}

func killGroup(int) {}

func terminate(int) error { return errors.New("no SIGTERM on this system") }
