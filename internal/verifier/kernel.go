package verifier

import (
	"fmt"
	"os"
	"runtime"
	"strings"

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
	k.JITOff = jitOff(jitEnablePath)
	return k, release, nil
}

// jitEnablePath is the sysctl that turns the JIT on (1), off (0) or on with
// debug output (2); CONFIG_BPF_JIT_ALWAYS_ON pins it at 1.
const jitEnablePath = "/proc/sys/net/core/bpf_jit_enable"

// jitOff returns why the JIT is off according to the sysctl at p, or ""
// when it is on or unreadable (no CONFIG_BPF_JIT: the config says so).
func jitOff(p string) string {
	raw, err := os.ReadFile(p)
	if err != nil || strings.TrimSpace(string(raw)) != "0" {
		return ""
	}
	return "net.core.bpf_jit_enable is 0"
}
