//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts cmd in a process group of its own, so that the
// helper processes it starts can be found and killed with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(pgid int) { syscall.Kill(-pgid, syscall.SIGKILL) }

// terminate asks pid to stop, as a session ending or `kill` does.
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
