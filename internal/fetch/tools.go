package fetch

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
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
	t := &Tools{Arch: arch, Source: p.Source(), BpftoolLibs: map[string]string{}}
	var err error
	if t.Busybox, err = p.Lookup(debianBusybox); err != nil {
		return nil, fmt.Errorf("tools for %s: busybox: %w", arch, err)
	}
	if interp, _, err := elfInfo(t.Busybox, m.machine); err != nil {
		return nil, fmt.Errorf("tools for %s: %w", arch, err)
	} else if interp != "" {
		return nil, fmt.Errorf("tools for %s: %s is dynamically linked", arch, debianBusybox)
	}
	if t.Bpftool, err = p.Lookup(debianBpftool); err != nil {
		return nil, fmt.Errorf("tools for %s: bpftool: %w", arch, err)
	}
	if err := libraryClosure(p, t.Bpftool, m.machine, m.tuple, t.BpftoolLibs); err != nil {
		return nil, fmt.Errorf("tools for %s: bpftool: %w", arch, err)
	}
	return t, nil
}

// libraryClosure adds bin's ELF interpreter and DT_NEEDED libraries, and
// theirs, to files (guest path -> host path), searching the directories
// Debian's loader searches for the tuple.
func libraryClosure(p *Packages, bin string, machine elf.Machine, tuple string, files map[string]string) error {
	dirs := []string{"/lib/" + tuple, "/usr/lib/" + tuple, "/lib", "/usr/lib"}
	var visit func(host string) error
	visit = func(host string) error {
		interp, needed, err := elfInfo(host, machine)
		if err != nil {
			return err
		}
		var next []string
		if interp != "" {
			if _, done := files[interp]; !done {
				h, err := p.Lookup(interp)
				if err != nil {
					return fmt.Errorf("interpreter %s: %w", interp, err)
				}
				files[interp] = h
				next = append(next, h)
			}
		}
		for _, lib := range needed {
			found := false
			for _, d := range dirs {
				g := path.Join(d, lib)
				if _, done := files[g]; done {
					found = true
					break
				}
				// Exact paths, no merged-/usr fallback: the library goes
				// in where its package installs it.
				h, err := resolveInTree(p.Root, g)
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				files[g] = h
				next = append(next, h)
				found = true
				break
			}
			if !found {
				return fmt.Errorf("library %s not in the packages (%s)", lib, p.Source())
			}
		}
		for _, h := range next {
			if err := visit(h); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(bin)
}

// elfInfo reads an ELF file's interpreter ("" when static) and DT_NEEDED
// entries, and checks its machine.
func elfInfo(p string, machine elf.Machine) (interp string, needed []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	if f.Machine != machine {
		return "", nil, fmt.Errorf("%s is %s, want %s", p, f.Machine, machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return "", nil, fmt.Errorf("read interpreter of %s: %w", p, err)
			}
			interp = string(b[:len(b)-1]) // NUL-terminated
		}
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("read libraries of %s: %w", p, err)
	}
	return interp, needed, nil
}
