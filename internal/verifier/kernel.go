package verifier

import (
	"fmt"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"golang.org/x/sys/unix"
)

// RunningKernel describes the running kernel: its version from uname, its
// config from configPath, or when empty from /boot/config-<release> or
// /proc/config.gz (kconfig.Find; nil config when none exists).
func RunningKernel(configPath string) (Kernel, string, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return Kernel{}, "", fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	v, err := catalog.ParseVersion(release)
	if err != nil {
		return Kernel{}, release, err
	}
	k := Kernel{Version: v.Mainline()}
	if k.Config, err = kconfig.Find(configPath, release); err != nil {
		return k, release, err
	}
	return k, release, nil
}

// RaiseMemlock lifts RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF
// maps and programs to. Without CAP_SYS_RESOURCE only the soft limit can be
// raised (to the hard one); that is not an error. This is what
// cilium/ebpf/rlimit does, without its package-init BPF syscall.
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
	return nil
}
