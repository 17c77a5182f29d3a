package verifier

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"golang.org/x/sys/unix"
)

// debianVersion finds the package version in Debian's /proc/version
// ("... #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-...)"), which names
// the stable release that Debian's release string leaves out.
var debianVersion = regexp.MustCompile(`\bDebian ([0-9]+\.[0-9]+\.[0-9]+)`)

// StableRelease returns the stable release a kernel was built from, given
// its `uname -r` and /proc/version: Debian's package version when it names
// one of the same series, else the release string's own patch level (an
// upstream 6.18.44 says it; Debian's 6.1.0-57 does not, its ".0" is the
// ABI). Zero when neither says.
func StableRelease(release, procVersion string) catalog.Version {
	rel, err := catalog.ParseVersion(release)
	if err != nil {
		return catalog.Version{}
	}
	// The compiler is named first ("gcc-12 (Debian 12.2.0-14+deb12u1)"):
	// only a version of the kernel's own series is its stable release.
	for _, m := range debianVersion.FindAllStringSubmatch(procVersion, -1) {
		if v, err := catalog.ParseVersion(m[1]); err == nil && v.Mainline() == rel.Mainline() {
			return v
		}
	}
	if rel.Patch != 0 {
		return rel
	}
	return catalog.Version{}
}

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
	if raw, err := os.ReadFile("/proc/version"); err == nil {
		k.Stable = StableRelease(release, string(raw))
	}
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
