package verifier

import (
	"fmt"
	"runtime"

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
	// The agent runs natively: its arch is the kernel's.
	k := Kernel{Version: v.Mainline(), Arch: catalog.ArchOf(runtime.GOARCH)}
	if k.Config, err = kconfig.Find(configPath, release); err != nil {
		return k, release, err
	}
	return k, release, nil
}
