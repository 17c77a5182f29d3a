package rlimit

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrMemlockLimited says RaiseMemlock could only raise the soft
// RLIMIT_MEMLOCK to the hard limit (no CAP_SYS_RESOURCE): enough for kernels
// since 5.11, which no longer charge BPF memory to it; before 5.11 a load or
// map creation beyond that limit fails with EPERM.
var ErrMemlockLimited = errors.New("RLIMIT_MEMLOCK stays limited (kernels before 5.11 may answer EPERM)")

// RaiseMemlock lifts RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF
// maps and programs to, to infinity. Without CAP_SYS_RESOURCE it raises the
// soft limit to the hard one and returns an error wrapping
// ErrMemlockLimited; any other error means the limit is unchanged. This is
// what cilium/ebpf/rlimit does, without its package-init BPF syscall (which
// must not run before the guest's mounts).
func RaiseMemlock() error {
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf); err == nil {
		return nil
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &cur); err != nil {
		return fmt.Errorf("get RLIMIT_MEMLOCK: %w", err)
	}
	cur.Cur = cur.Max
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &cur); err != nil {
		return fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	return fmt.Errorf("raise RLIMIT_MEMLOCK to %d bytes: %w", cur.Max, ErrMemlockLimited)
}
