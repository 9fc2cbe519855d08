package mongodb

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// machineID identifies this boot of this machine and this process's PID
// namespace: two processes with the same machineID see the same process
// ids (a container restarted gets a namespace of its own).
func machineID() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
}

// processGone reports that no process has the id.
func processGone(pid int) bool {
	return pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
