package e2e

import "syscall"

// procAttr puts a subprocess in its own process group and sends it SIGTERM
// if the test binary dies first (a -timeout panic runs no cleanup), so
// neither phoenix dev nor a load simulator outlives the suite.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
