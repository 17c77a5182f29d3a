// Command archprobe is the guest job of the arm64 tests: it prints, as one
// JSON object, `uname -m` and whether an fentry program attaches to a
// kernel function (the BPF trampoline), with the errno when it does not.
package main

import (
	"encoding/json"
	"errors"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

type report struct {
	Machine string `json:"machine"`
	// Load and Attach are "" on success, the error otherwise.
	Load   string `json:"load"`
	Attach string `json:"attach"`
	// AttachNotSupported: the kernel answered ENOTSUPP (524), which
	// cilium/ebpf's link.AttachTracing turns into ErrNotSupported.
	AttachNotSupported bool `json:"attach_not_supported"`
}

func main() {
	var r report
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		fail(err)
	}
	r.Machine = unix.ByteSliceToString(uts.Machine[:])
	// bpf_fentry_test1 (net/bpf/test_run.c) is the kernel's own fentry
	// target for the BPF selftests, present since 5.5.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTo: "bpf_fentry_test1", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		r.Load = err.Error()
	} else {
		defer prog.Close()
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			r.Attach = err.Error()
			r.AttachNotSupported = errors.Is(err, link.ErrNotSupported)
		} else {
			l.Close()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fail(err)
	}
}

func fail(err error) {
	os.Stderr.WriteString(err.Error() + "\n")
	os.Exit(1)
}
