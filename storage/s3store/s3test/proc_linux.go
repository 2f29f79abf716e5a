package s3test

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server exit when the test process dies without
// stopping it (a killed benchmark, a timeout).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
