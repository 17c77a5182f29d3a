package vm

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
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
	files := map[string]string{}
	var visit func(guestPath, hostPath string) error
	visit = func(guestPath, hostPath string) error {
		if _, ok := files[guestPath]; ok {
			return nil
		}
		real, err := filepath.EvalSymlinks(hostPath)
		if err != nil {
			return err
		}
		files[guestPath] = real
		f, err := elf.Open(real)
		if err != nil {
			return fmt.Errorf("read %s: %w", real, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err != nil {
					return fmt.Errorf("read interpreter of %s: %w", real, err)
				}
				interp := string(b[:len(b)-1]) // NUL-terminated
				if err := visit(interp, interp); err != nil {
					return err
				}
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("read libraries of %s: %w", real, err)
		}
		for _, lib := range libs {
			found := ""
			for _, d := range libDirs {
				p := filepath.Join(d, lib)
				if _, err := os.Stat(p); err == nil {
					found = p
					break
				}
			}
			if found == "" {
				return fmt.Errorf("find library %s needed by %s", lib, bin)
			}
			if err := visit(found, found); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(bin, bin); err != nil {
		return nil, fmt.Errorf("collect %s and its libraries: %w", bin, err)
	}
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
