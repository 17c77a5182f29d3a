package observe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Kernel is what the reasons are judged against.
type Kernel struct {
	// Version is the mainline version, "6.1".
	Version string
	// Arch is spelled as in the catalog: x86_64, arm64.
	Arch string
	// Config is the kernel's own config; nil when unknown (no config reason
	// is given then).
	Config kconfig.Config
}

// need is what a family needs from the kernel: the mainline release that
// introduced it, its commit, config options and later per-arch releases.
type need struct {
	version string
	commit  string
	config  []string
	arch    []features.ArchMin
}

// versionLess compares "major.minor" versions.
func versionLess(a, b string) bool {
	pa, pb := parseVersion(a), parseVersion(b)
	if pa[0] != pb[0] {
		return pa[0] < pb[0]
	}
	return pa[1] < pb[1]
}

func parseVersion(v string) [2]int {
	var out [2]int
	for i, p := range strings.SplitN(v, ".", 3) {
		if i > 1 {
			break
		}
		n, _ := strconv.Atoi(strings.TrimFunc(p, func(r rune) bool { return r < '0' || r > '9' }))
		out[i] = n
	}
	return out
}

// explain returns why k lacks n, or nil when version, arch and config all
// say it should be there.
func (k Kernel) explain(n need) *result.Reason {
	if n.version != "" && k.Version != "" && versionLess(k.Version, n.version) {
		return &result.Reason{Kind: result.ReasonVersion, Version: n.version, Commit: n.commit}
	}
	for _, a := range n.arch {
		if a.Arch == k.Arch && k.Version != "" && versionLess(k.Version, a.Version) {
			return &result.Reason{Kind: result.ReasonArch, Version: a.Version, Commit: a.Commit, Detail: a.Why}
		}
	}
	if k.Config != nil {
		for _, c := range n.config {
			if !k.Config.Enabled(c) {
				return &result.Reason{Kind: result.ReasonConfig, Config: c}
			}
		}
	}
	return nil
}

// errnoName names the errno err wraps: "ENOTSUPP", "EINVAL", or "".
func errnoName(err error) string {
	var e unix.Errno
	if !errors.As(err, &e) {
		return ""
	}
	// ENOTSUPP (524) is kernel-internal and has no name in libc.
	if e == 524 {
		return "ENOTSUPP"
	}
	// 95 is both ENOTSUP and EOPNOTSUPP on Linux; the kernel's sources
	// say EOPNOTSUPP, and x/sys/unix names it ENOTSUP.
	if e == unix.EOPNOTSUPP {
		return "EOPNOTSUPP"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}
