package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

func init() { subcommands["matrix"] = runMatrix }

// runMatrix is the job `bpfmatrix run` starts in every guest: the probes and
// (with --verifier) the verifier corpus in one boot, written as one compact
// result.KernelResult on stdout.
//
//	bpfmatrix-agent matrix [--config PATH] [--bpftool PATH] [--verifier] [--observe]
func runMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	config := fs.String("config", "", "kernel config `PATH`")
	bpftool := fs.String("bpftool", "", "bpftool `PATH` for the cross-check")
	withVerifier := fs.Bool("verifier", false, "also run the verifier corpus")
	withObserve := fs.Bool("observe", false, "also run the attach-and-observe section (internal/observe)")
	if !parseNoArgs(fs, args, stderr) {
		return 2
	}
	kr, ok := probeKernel(ctx, probe.Options{ConfigPath: *config, BpftoolPath: *bpftool}, stderr)
	if !ok {
		return 1
	}
	if *withObserve && !observeKernel(ctx, kr, *config, 0, stderr) {
		return 1
	}
	if *withVerifier {
		k, _, err := verifier.RunningKernel(*config)
		if err != nil {
			fmt.Fprintf(stderr, "Error: verifier: %v\n", err)
			return 1
		}
		outs, took, err := verifier.RunCorpus(ctx, k, verifier.CorpusOptions{})
		if err != nil {
			fmt.Fprintf(stderr, "Error: verifier: %v\n", err)
			return 1
		}
		kr.Verifier = outs
		kr.VerifierTime = result.Duration(took)
	}
	return writeJSON(stdout, stderr, kr)
}
