package vm

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// ErrBadProgram: the job's program cannot run in the guest (a script, a
// text file, a directory, an ELF file for another CPU, a dynamic program
// whose libraries the host lacks). CheckProgram and Run return it, wrapped
// with the reason, before anything boots.
var ErrBadProgram = errors.New("cannot run in the guest")

// elfMachines is the ELF machine of each guest arch.
var elfMachines = map[catalog.Arch]elf.Machine{catalog.AMD64: elf.EM_X86_64, catalog.ARM64: elf.EM_AARCH64}

// CheckProgram says whether the host file prog can be a job's Program in an
// arch guest, reading it (never running it): the guest has nothing but its
// initramfs, so the program must be an ELF executable for arch, static or
// with its interpreter and libraries on the host (DynamicClosure). The
// error wraps ErrBadProgram and names the reason in one line.
func CheckProgram(prog string, arch catalog.Arch) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s %w: %s", prog, ErrBadProgram, fmt.Sprintf(format, args...))
	}
	fi, err := os.Stat(prog)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return bad("it is a directory")
	case !fi.Mode().IsRegular():
		return bad("it is not a regular file (%s)", fi.Mode().Type())
	case fi.Mode().Perm()&0o111 == 0:
		return bad("it is not executable (no x permission)")
	}
	f, err := os.Open(prog)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("#!")) {
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		return bad("it is a script (#!%s) and the guest has no interpreters; run a compiled program", bytes.TrimSpace(line))
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return bad("it is not an ELF executable")
	}
	want := elfMachines[arch]
	switch {
	case ef.Machine != want:
		return bad("it is built for %s (%s) and the kernel is %s (%s)", machineArch(ef.Machine), ef.Machine, arch, want)
	case ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN:
		return bad("it is an ELF %s, not an executable", ef.Type)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			if _, err := DynamicClosure(prog); err != nil {
				if u := errors.Unwrap(err); u != nil {
					err = u // without DynamicClosure's "collect PROG" prefix
				}
				return bad("it is dynamically linked and the host lacks a file it needs: %v (build it static: CGO_ENABLED=0 for Go)", err)
			}
			break
		}
	}
	return nil
}

// machineArch names an ELF machine the way people call the CPU.
func machineArch(m elf.Machine) string {
	for a, em := range elfMachines {
		if em == m {
			return string(a)
		}
	}
	switch m {
	case elf.EM_386:
		return "i386"
	case elf.EM_ARM:
		return "32-bit arm"
	case elf.EM_RISCV:
		return "riscv"
	}
	return "another CPU"
}
