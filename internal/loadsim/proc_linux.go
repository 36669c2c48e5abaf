//go:build linux

package loadsim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// supported reports whether this system can run the simulator.
func supported() error { return nil }

// selfExecutable returns a path that runs this program: /proc/PID/exe,
// which still names the running binary after its file is replaced or
// removed (a rebuild while the simulator runs).
func selfExecutable() (string, error) {
	path := "/proc/" + strconv.Itoa(os.Getpid()) + "/exe"
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}

// startProcess starts path with argv and env in the process group pgid (a
// new group of its own when pgid is 0), with the three standard streams on
// null and / as working directory. The process is killed when the calling
// OS thread exits (Pdeathsig), so the caller runs on a thread locked for
// the life of its processes.
func startProcess(path string, argv, env []string, null uintptr, pgid int) (int, error) {
	return syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: []uintptr{null, null, null},
		Sys: &syscall.SysProcAttr{
			Setpgid:   true,
			Pgid:      pgid,
			Pdeathsig: syscall.SIGKILL,
		},
	})
}

// waitGroup waits for a child in the process group pgid to end and reaps
// it. It returns syscall.ECHILD when the group holds no child of this
// process.
func waitGroup(pgid int) (int, error) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-pgid, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return pid, err
	}
}

// noChild reports whether err from waitGroup means the group holds no child.
func noChild(err error) bool { return errors.Is(err, syscall.ECHILD) }

// killGroup kills every process of the process group pgid.
func killGroup(pgid int) error {
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	return nil
}

// terminate asks the process pid to stop (SIGTERM).
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

// procStat is what /proc/PID/stat tells of a process.
type procStat struct {
	state byte   // R, S, D, Z, ...
	ppid  int    //
	pgid  int    //
	start uint64 // start time, in clock ticks after boot
}

// readStat reads /proc/PID/stat; the error wraps fs.ErrNotExist when there
// is no such process.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("read /proc/%d/stat: malformed", pid)
	}
	f := bytes.Fields(b[i+2:])
	// f[0] is field 3 (state); start time is field 22.
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("read /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var st procStat
	st.state = f[0][0]
	st.ppid, _ = strconv.Atoi(string(f[1]))
	st.pgid, _ = strconv.Atoi(string(f[2]))
	st.start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("read /proc/%d/stat: start time: %w", pid, err)
	}
	return st, nil
}

// processAlive reports whether pid names a process that has not ended (a
// zombie has ended); start, when not zero, must be its start time, so that
// a reused pid does not count.
func processAlive(pid int, start uint64) bool {
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	return st.state != 'Z' && st.state != 'X' && (start == 0 || st.start == start)
}

// startTime returns the start time of the process pid.
func startTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.start, err
}
