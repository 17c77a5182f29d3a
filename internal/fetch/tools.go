package fetch

import (
	"context"
	"debug/elf"
	"fmt"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/elfdeps"
)

// ToolPackages are the Debian packages Tools fetches: a static busybox for
// the shell and bpftool for the in-guest cross-check.
var ToolPackages = []string{"busybox-static", "bpftool"}

// Guest paths of the tools in their Debian packages (bookworm; merged-/usr
// releases ship the same names under /usr, see Packages.Lookup).
const (
	debianBusybox = "/bin/busybox"
	debianBpftool = "/usr/sbin/bpftool"
)

// Tools is Debian's userland for guests of one architecture: what
// `repro --shell` and the bpftool cross-check put into an initramfs when the
// host's own binaries would not run there.
type Tools struct {
	Arch catalog.Arch
	// Busybox is the host path of a static busybox for Arch.
	Busybox string
	// Bpftool is the host path of a dynamically linked bpftool for Arch.
	Bpftool string
	// BpftoolLibs maps guest paths to host paths for bpftool's ELF
	// interpreter and the transitive closure of its DT_NEEDED libraries, at
	// the paths Debian installs them (/lib/ld-linux-aarch64.so.1,
	// /lib/aarch64-linux-gnu/libelf.so.1, ...), where the guest's loader
	// looks without LD_LIBRARY_PATH. bpftool itself is not in it.
	BpftoolLibs map[string]string
	// Source names the packages and versions, e.g. "debian arm64: bpftool
	// 7.1.0+6.1.192-2 (bookworm-security), ...".
	Source string
	// Repaired is Packages.Repaired: the cached tree this call found
	// corrupt and fetched again.
	Repaired []string
}

// Tools returns busybox and bpftool for guests of arch, fetched and verified
// from the suites Options.ToolSuites names (by default the release the
// host's apt sources use) like a Debian kernel, and cached the same way
// (DebianPackages). A cached set is returned without network access.
func (f *Fetcher) Tools(ctx context.Context, arch catalog.Arch) (*Tools, error) {
	p, err := f.DebianPackages(ctx, f.toolSuites, arch.DebianArch(), ToolPackages)
	if err != nil {
		return nil, err
	}
	return toolsIn(p, arch)
}

// CachedTools returns Tools(arch) if the cache holds it, without network.
func (f *Fetcher) CachedTools(arch catalog.Arch) (*Tools, bool) {
	p, ok := f.CachedDebianPackages(f.toolSuites, arch.DebianArch(), ToolPackages)
	if !ok {
		return nil, false
	}
	t, err := toolsIn(p, arch)
	return t, err == nil
}

// elfMachines are the ELF machines and Debian multiarch tuples of the
// catalog's architectures.
var elfMachines = map[catalog.Arch]struct {
	machine elf.Machine
	tuple   string
}{
	catalog.AMD64: {elf.EM_X86_64, "x86_64-linux-gnu"},
	catalog.ARM64: {elf.EM_AARCH64, "aarch64-linux-gnu"},
}

// toolsIn finds the tools in an unpacked set and checks that they are ELF
// programs for arch: busybox static, bpftool with every library it needs.
func toolsIn(p *Packages, arch catalog.Arch) (*Tools, error) {
	m, ok := elfMachines[arch]
	if !ok {
		return nil, fmt.Errorf("tools for %s: unknown architecture", arch)
	}
	t := &Tools{Arch: arch, Source: p.Source(), BpftoolLibs: map[string]string{}, Repaired: p.Repaired}
	var err error
	if t.Busybox, err = p.Lookup(debianBusybox); err != nil {
		return nil, fmt.Errorf("tools for %s: busybox: %w", arch, err)
	}
	if interp, _, err := elfdeps.Info(t.Busybox, m.machine); err != nil {
		return nil, fmt.Errorf("tools for %s: %w", arch, err)
	} else if interp != "" {
		return nil, fmt.Errorf("tools for %s: %s is dynamically linked", arch, debianBusybox)
	}
	if t.Bpftool, err = p.Lookup(debianBpftool); err != nil {
		return nil, fmt.Errorf("tools for %s: bpftool: %w", arch, err)
	}
	// The directories Debian's loader searches for the tuple; exact paths,
	// no merged-/usr fallback: a library goes in where its package puts it.
	dirs := []string{"/lib/" + m.tuple, "/usr/lib/" + m.tuple, "/lib", "/usr/lib"}
	libs, err := elfdeps.Closure(t.Bpftool, m.machine, dirs, func(g string) (string, error) { return resolveInTree(p.Root, g) })
	if err != nil {
		return nil, fmt.Errorf("tools for %s: bpftool (%s): %w", arch, p.Source(), err)
	}
	t.BpftoolLibs = libs
	return t, nil
}
