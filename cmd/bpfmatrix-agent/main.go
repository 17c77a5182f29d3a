// Command bpfmatrix-agent is the guest side of bpfmatrix. As PID 1 it is the
// VM's /init (internal/guest): it mounts the pseudo file systems, raises
// RLIMIT_MEMLOCK, runs the job and powers the VM off. Run as a normal process
// it dispatches to a subcommand (probe, verify, ...), which is how the host
// runs probes inside the guest: as an ordinary job whose stdout is the result.
//
// The PID 1 path must not touch cilium/ebpf: the library caches its BPF token
// lookup on the first BPF syscall, which must happen after /proc is mounted.
// Subcommands run in a child process started after the mounts.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
)

// subcommands maps a name to its entry point; files in this package add to it.
var subcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{}

func main() {
	if os.Getpid() == 1 {
		runInit() // never returns
	}
	// A subcommand lives for seconds and its heap stays at tens of MB (the
	// kernel's decoded BTF is most of it), while each GC cycle under QEMU
	// TCG costs milliseconds of emulated marking and preemption signals:
	// collect less often (the guest has 512 MiB). Measured under qemu
	// -icount on debian-6.12, matrix --verifier: corpus 0.29 s -> 0.23 s,
	// probes unchanged.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 || subcommands[os.Args[1]] == nil {
		var names []string
		for n := range subcommands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "Error: usage: bpfmatrix-agent {%v} [args...] (or run as PID 1)\n", names)
		os.Exit(2)
	}
	code := subcommands[os.Args[1]](ctx, os.Args[2:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
