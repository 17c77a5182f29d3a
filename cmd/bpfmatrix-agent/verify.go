package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

func init() { subcommands["verify"] = runVerify }

// runVerify loads the verifier corpus into the running kernel.
//
//	bpfmatrix-agent verify [--json] [--logs DIR] [--config PATH] [--case NAME,...]
//
// --json writes one compact result.KernelResult (Kernel, VerifierTime,
// Verifier) with each rejected program's whole log in its Log field: in the
// guest the file system vanishes at power-off, so the host writes the files
// (verifier.WriteLogs). --logs DIR writes them here instead and leaves Log empty.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("verify", flag.ContinueOnError)
	asJSON := fl.Bool("json", false, "write a compact JSON KernelResult to stdout")
	logs := fl.String("logs", "", "write each log to `DIR` instead of into the output")
	config := fl.String("config", "", "kernel config `PATH` (default /proc/config.gz, then /boot/config-RELEASE)")
	cases := fl.String("case", "", "comma-separated case `NAMES` (default all)")
	if !parseNoArgs(fl, args, stderr) {
		return 2
	}
	if err := rlimit.RaiseMemlock(); err != nil && !errors.Is(err, rlimit.ErrMemlockLimited) {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	k, release, err := verifier.RunningKernel(*config)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	var names []string
	if *cases != "" {
		names = strings.Split(*cases, ",")
	}
	outs, took, err := verifier.RunCorpus(ctx, k, verifier.CorpusOptions{Cases: names})
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	if *logs != "" {
		if err := verifier.WriteLogs(*logs, outs); err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 1
		}
	}
	if *asJSON {
		res := result.KernelResult{
			Schema:       result.SchemaVersion,
			Kernel:       result.Kernel{Release: release, Version: k.Version.String(), Arch: string(catalog.ArchOf(runtime.GOARCH))},
			VerifierTime: result.Duration(took),
			Verifier:     outs,
		}
		return writeJSON(stdout, stderr, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tRESULT\tEXPECTED\tINSNS\tTIME\tSUMMARY")
	for _, o := range outs {
		res := "rejected"
		switch {
		case o.Inconclusive != "":
			res = "inconclusive"
		case o.Accepted:
			res = "accepted"
		}
		exp := "-"
		if o.Expected != nil {
			exp = map[bool]string{true: "accept", false: "reject"}[*o.Expected]
		}
		sum := o.Summary
		if o.Inconclusive != "" {
			sum = o.Inconclusive
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", o.Case, res, exp, o.Insns, o.VerifyTime, sum)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d cases in %s on %s\n", len(outs), took.Round(100_000), release)
	for _, f := range verifier.Findings(outs) {
		fmt.Fprintln(stdout, "FINDING", f)
	}
	return 0
}
