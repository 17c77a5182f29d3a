package vm

import (
	"debug/elf"
	"fmt"
	"path/filepath"

	"github.com/bpfmatrix/bpfmatrix/internal/elfdeps"
)

// libDirs are searched for a dynamic executable's DT_NEEDED entries, in the
// order Debian's ld.so.conf gives for multiarch systems.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/lib", "/usr/lib64", "/usr/lib",
}

// DynamicClosure returns the files a dynamically linked host binary needs to
// run inside a bare guest: the binary, its ELF interpreter and the transitive
// closure of its DT_NEEDED libraries, as guest path -> host path (the same
// paths, symlinks resolved). It reads the ELF headers instead of running ldd,
// which would execute the binary.
func DynamicClosure(bin string) (map[string]string, error) {
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return nil, fmt.Errorf("collect %s and its libraries: %w", bin, err)
	}
	files, err := elfdeps.Closure(real, 0, libDirs, filepath.EvalSymlinks)
	if err != nil {
		return nil, fmt.Errorf("collect %s and its libraries: %w", bin, err)
	}
	files[bin] = real
	return files, nil
}

// dynamicLibraries returns the interpreter and libraries a program needs
// (guest path -> host path), or nothing for a static program.
func dynamicLibraries(bin string) (map[string]string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		// Not an ELF file (a script, say): the guest will say what it thinks.
		return nil, nil
	}
	dynamic := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	f.Close()
	if !dynamic {
		return nil, nil
	}
	files, err := DynamicClosure(bin)
	if err != nil {
		return nil, err
	}
	for g, h := range files {
		if h == bin || g == bin {
			delete(files, g)
		}
	}
	return files, nil
}
