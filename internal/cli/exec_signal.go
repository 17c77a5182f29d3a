package cli

import "golang.org/x/sys/unix"

// signalNumber maps a signal name from the guest (e.g. SIGKILL) to its number.
func signalNumber(name string) int {
	if s := unix.SignalNum(name); s != 0 {
		return int(s)
	}
	return 0
}
