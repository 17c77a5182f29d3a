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
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

func init() { subcommands["matrix"] = runMatrix }

// runMatrix is the job `bpfmatrix run` starts in every guest: the probes and
// (with --verifier) the verifier corpus in one boot, written as one compact
// result.KernelResult on stdout.
func runMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "kernel config `PATH`")
	bpftool := fs.String("bpftool", "", "bpftool `PATH` for the cross-check")
	withVerifier := fs.Bool("verifier", false, "also run the verifier corpus")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "Error: matrix: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := rlimit.RaiseMemlock(); err != nil {
		fmt.Fprintln(stderr, "warning:", err)
	}
	kr, err := probe.Probe(ctx, probe.Options{ConfigPath: *config, BpftoolPath: *bpftool})
	if err != nil {
		fmt.Fprintf(stderr, "Error: probe: %v\n", err)
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
	if err := json.NewEncoder(stdout).Encode(kr); err != nil {
		fmt.Fprintf(stderr, "Error: write result: %v\n", err)
		return 1
	}
	return 0
}
