// Package elfdeps finds what a dynamically linked ELF program needs to run in
// a bare guest: its interpreter and the transitive closure of its DT_NEEDED
// libraries. It reads ELF headers, never runs ldd (which would execute the
// program), and works on any root: the host's own file system (package vm,
// for a host binary) or an unpacked package tree (package fetch, for another
// architecture's bpftool).
package elfdeps

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
)

// Resolve maps an absolute path as the guest's loader sees it to the host
// file that holds it, symlinks followed; an error wrapping os.ErrNotExist
// when there is none.
type Resolve func(guestPath string) (string, error)

// Info reads an ELF file's interpreter ("" for a static program) and its
// DT_NEEDED entries. A machine other than 0 must match the file's.
func Info(p string, machine elf.Machine) (interp string, needed []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	if machine != 0 && f.Machine != machine {
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

// Closure returns bin's interpreter and libraries, and theirs, as guest path
// -> host path (bin itself is not included). Each DT_NEEDED name is looked up
// in dirs, in order, through resolve; machine is checked as in Info.
func Closure(bin string, machine elf.Machine, dirs []string, resolve Resolve) (map[string]string, error) {
	files := map[string]string{}
	var visit func(host string) error
	visit = func(host string) error {
		interp, needed, err := Info(host, machine)
		if err != nil {
			return err
		}
		var next []string
		if interp != "" {
			if _, done := files[interp]; !done {
				h, err := resolve(interp)
				if err != nil {
					return fmt.Errorf("interpreter %s: %w", interp, err)
				}
				files[interp] = h
				next = append(next, h)
			}
		}
		for _, lib := range needed {
			g, h, err := find(lib, dirs, resolve, files)
			if err != nil {
				return fmt.Errorf("library %s needed by %s: %w", lib, host, err)
			}
			if h != "" {
				files[g] = h
				next = append(next, h)
			}
		}
		for _, h := range next {
			if err := visit(h); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(bin); err != nil {
		return nil, err
	}
	return files, nil
}

// find looks lib up in dirs. It returns the guest path and the host file,
// or an empty host file when an earlier lookup already has it.
func find(lib string, dirs []string, resolve Resolve, files map[string]string) (string, string, error) {
	for _, d := range dirs {
		g := path.Join(d, lib)
		if _, done := files[g]; done {
			return g, "", nil
		}
		h, err := resolve(g)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		return g, h, nil
	}
	return "", "", fmt.Errorf("not found in %v: %w", dirs, os.ErrNotExist)
}
