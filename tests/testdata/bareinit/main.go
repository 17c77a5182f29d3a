// Command bareinit is an /init that restarts the machine at once: the
// benchmark's bare-boot baseline.
package main

import "syscall"

func main() {
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
}
