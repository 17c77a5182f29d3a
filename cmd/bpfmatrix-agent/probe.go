package main

import (
	"context"
	"flag"
	"io"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
)

func init() { subcommands["probe"] = runProbe }

// runProbe writes the running kernel's result.KernelResult as one line of
// compact JSON on stdout.
//
//	bpfmatrix-agent probe [--json] [--config PATH] [--bpftool PATH] [--release R]
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	_ = fs.Bool("json", true, "write JSON (the only output format of the agent)")
	config := fs.String("config", "", "kernel config file (default: /boot/config-$(uname -r), /proc/config.gz)")
	bpftool := fs.String("bpftool", "", "bpftool binary for the cross-check (its directory may hold its shared libraries)")
	release := fs.String("release", "", "override uname -r (testing)")
	if !parseNoArgs(fs, args, stderr) {
		return 2
	}
	kr, ok := probeKernel(ctx, probe.Options{ConfigPath: *config, BpftoolPath: *bpftool, Release: *release}, stderr)
	if !ok {
		return 1
	}
	return writeJSON(stdout, stderr, kr)
}
