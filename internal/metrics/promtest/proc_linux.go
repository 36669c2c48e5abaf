package promtest

import "syscall"

// sysProcAttr has the kernel kill Prometheus when the test binary dies, so
// that a crashed or killed test leaves no orphan.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
