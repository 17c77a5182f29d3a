package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
)

func init() { subcommands["probe"] = runProbe }

// runProbe writes the running kernel's result.KernelResult as one line of
// compact JSON on stdout.
//
//	bpfmatrix-agent probe [--json] [--config PATH] [--bpftool PATH] [--release R] [--timing]
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	_ = fs.Bool("json", true, "write JSON (the only output format of the agent)")
	config := fs.String("config", "", "kernel config file (default: /boot/config-$(uname -r), /proc/config.gz)")
	bpftool := fs.String("bpftool", "", "bpftool binary for the cross-check (its directory may hold its shared libraries)")
	release := fs.String("release", "", "override uname -r (testing)")
	timing := fs.Bool("timing", false, "write each probe phase's wall time to stderr")
	if !parseNoArgs(fs, args, stderr) {
		return 2
	}
	opts := probe.Options{ConfigPath: *config, BpftoolPath: *bpftool, Release: *release}
	if *timing {
		opts.Phase = phaseWriter(stderr)
	}
	kr, ok := probeKernel(ctx, opts, stderr)
	if !ok {
		return 1
	}
	return writeJSON(stdout, stderr, kr)
}

// phaseWriter writes probe phase times to w, one "timing:" line each; the
// lock keeps lines whole when two phases end at once.
func phaseWriter(w io.Writer) func(string, time.Duration) {
	var mu sync.Mutex
	return func(name string, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "timing: %-40s %6.3f s\n", name, took.Seconds())
	}
}
