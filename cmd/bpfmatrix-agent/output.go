package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
)

// parseNoArgs parses a subcommand's flags and refuses positional arguments.
// false means bad usage (exit status 2); the error is already printed.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) bool {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "Error: %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return false
	}
	return true
}

// writeJSON writes v as one line of compact JSON: results cross a serial
// line, and the wire protocol compresses them.
func writeJSON(stdout, stderr io.Writer, v any) int {
	if err := json.NewEncoder(stdout).Encode(v); err != nil {
		fmt.Fprintf(stderr, "Error: write result: %v\n", err)
		return 1
	}
	return 0
}

// probeKernel raises RLIMIT_MEMLOCK and probes the running kernel: the
// shared first half of the probe and matrix subcommands.
//
// RLIMIT_MEMLOCK is raised with rlimit.RaiseMemlock, not cilium/ebpf/rlimit,
// whose package init issues a BPF syscall: kernels before 5.11 charge BPF
// memory to it (ring buffers fail with EPERM otherwise), and no BPF syscall
// may happen before the guest's mounts. A limited raise is only a warning:
// the probes then report EPERM as a privilege reason.
func probeKernel(ctx context.Context, opts probe.Options, stderr io.Writer) (*result.KernelResult, bool) {
	if err := rlimit.RaiseMemlock(); err != nil {
		fmt.Fprintln(stderr, "warning:", err)
	}
	kr, err := probe.Probe(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "Error: probe: %v\n", err)
		return nil, false
	}
	return kr, true
}
