package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
)

func init() { subcommands["probe"] = runProbe }

// runProbe writes the running kernel's result.KernelResult as one line of
// compact JSON on stdout (it crosses a serial line).
//
// RLIMIT_MEMLOCK is raised first (rlimit.RaiseMemlock, not
// cilium/ebpf/rlimit, whose package init issues a BPF syscall): kernels
// before 5.11 charge BPF memory to it (ring buffers fail with EPERM
// otherwise), and no BPF syscall may happen before the guest's mounts.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	_ = fs.Bool("json", true, "write JSON (the only output format of the agent)")
	config := fs.String("config", "", "kernel config file (default: /boot/config-$(uname -r), /proc/config.gz)")
	bpftool := fs.String("bpftool", "", "bpftool binary for the cross-check (its directory may hold its shared libraries)")
	release := fs.String("release", "", "override uname -r (testing)")
	gz := fs.Bool("gzip", false, "gzip the JSON (about 40 KB instead of 850 KB with the full helper matrix)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "Error: probe: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := rlimit.RaiseMemlock(); err != nil {
		fmt.Fprintln(stderr, "warning:", err)
	}
	kr, err := probe.Probe(ctx, probe.Options{ConfigPath: *config, BpftoolPath: *bpftool, Release: *release})
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	out := stdout
	var zw *gzip.Writer
	if *gz {
		zw = gzip.NewWriter(stdout)
		out = zw
	}
	if err := json.NewEncoder(out).Encode(kr); err != nil {
		fmt.Fprintf(stderr, "Error: write result: %v\n", err)
		return 1
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			fmt.Fprintf(stderr, "Error: write result: %v\n", err)
			return 1
		}
	}
	return 0
}
