// Command rebootprog is a job that ends the machine under its agent: it
// calls reboot(2) with LINUX_REBOOT_CMD_POWER_OFF ("power-off"),
// LINUX_REBOOT_CMD_HALT ("halt") or LINUX_REBOOT_CMD_RESTART ("restart"), as
// a job that shuts its VM down would.
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	cmds := map[string]int{"power-off": unix.LINUX_REBOOT_CMD_POWER_OFF, "halt": unix.LINUX_REBOOT_CMD_HALT, "restart": unix.LINUX_REBOOT_CMD_RESTART}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rebootprog power-off|halt|restart")
		os.Exit(2)
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: rebootprog power-off|halt|restart")
		os.Exit(2)
	}
	fmt.Println("calling reboot:", os.Args[1])
	// reboot(2) stops the machine without waiting for PID 1 to forward what
	// is still in the job's stdout pipe to the data port (seen: the line
	// lost in 1 of 4 runs on debian-6.1). A job that wants its last words
	// kept gives PID 1 a moment, as this one does.
	time.Sleep(300 * time.Millisecond)
	unix.Sync()
	if err := unix.Reboot(cmd); err != nil {
		fmt.Fprintln(os.Stderr, "reboot:", err)
		os.Exit(1)
	}
	fmt.Println("reboot returned")
}
