package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

type runFlags struct {
	kernels    []string
	arch       string
	out        string
	parallel   int
	noCache    bool
	noBpftool  bool
	noVerifier bool
	vm         vmFlags
}

func newRunCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [--kernels a,b,...] [--out DIR]",
		Short: "Boot each kernel, run the probes and the verifier corpus, and write the matrix",
		Long: `Boot each kernel under QEMU, run the capability probes and the verifier corpus
inside it, and write DIR/matrix.json, DIR/matrix.md, DIR/index.html,
DIR/junit.xml and DIR/kernels/NAME.json. Without --kernels, the catalog's
default set is used (both architectures; --arch picks one). Results are cached by (kernel digest, agent build): a
repeat run with nothing changed boots nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runRun(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.kernels, "kernels", nil, "kernels to run (default: the catalog's default set)")
	fl.StringVar(&f.arch, "arch", "all", "architecture of the default set: x86_64, arm64 or all")
	fl.StringVar(&f.out, "out", "report", "output directory")
	fl.IntVar(&f.parallel, "parallel", 2, "kernels booted at once")
	fl.BoolVar(&f.noCache, "no-cache", false, "ignore cached results")
	fl.BoolVar(&f.noBpftool, "no-bpftool", false, "skip the bpftool feature probe cross-check (host's bpftool for the host's arch, Debian's, fetched, for the other)")
	fl.BoolVar(&f.noVerifier, "no-verifier", false, "skip the verifier corpus")
	f.vm.register(fl, 1, 5*time.Minute, "time the probes and the corpus may take per VM")
	return cmd
}

func runRun(cmd *cobra.Command, g *globals, f runFlags) error {
	ctx := cmd.Context()
	specs, err := selectKernels(f.kernels, f.arch)
	if err != nil {
		return err
	}
	if f.parallel <= 0 {
		return usageError("--parallel must be positive")
	}
	if err := f.vm.validate(); err != nil {
		return err
	}
	// An unusable --out fails now, not after every kernel has booted.
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("run: output directory: %w", err)
	}
	fetcher, err := g.fetcher(nil)
	if err != nil {
		return err
	}
	if err := requireConfigured(fetcher, specs); err != nil {
		return err
	}
	bpftool := ""
	if !f.noBpftool {
		if _, err := os.Stat("/usr/sbin/bpftool"); err == nil {
			bpftool = "/usr/sbin/bpftool"
		}
	}
	start := time.Now()
	opts := run.Options{
		Fetcher: fetcher, CacheDir: g.cacheDir, NoCache: f.noCache,
		Parallel: f.parallel, CPUs: f.vm.cpus, Memory: f.vm.memory,
		BootTimeout: f.vm.bootTimeout, RunTimeout: f.vm.timeout,
		Bpftool: bpftool, ForeignBpftool: !f.noBpftool, Verifier: !f.noVerifier,
		Logger: g.logger(), Console: g.consoleWriter(),
	}
	// Nothing changed since the report in --out was written from exactly
	// these cached results: say so instead of decoding and rewriting it.
	var stamp string
	if keys, ok := run.CachedKeys(ctx, specs, opts); ok {
		stamp = reportStamp(keys)
		if lines, ok := readStamp(f.out, stamp); ok {
			for _, l := range lines {
				fmt.Fprintln(g.stdout, l)
			}
			fmt.Fprintf(g.stdout, "%s is up to date: all %d results cached (%.2fs)\n", f.out, len(specs), time.Since(start).Seconds())
			return nil
		}
	}
	removeStamp(f.out)
	m, err := run.Run(ctx, specs, opts)
	if err != nil {
		return err
	}
	// Verifier logs go next to the results, one file per case, never
	// truncated; matrix.json keeps their paths (relative to --out).
	for i := range m.Kernels {
		kr := &m.Kernels[i]
		rel := filepath.Join("logs", kr.Kernel.Name)
		if err := verifier.WriteLogs(filepath.Join(f.out, rel), kr.Verifier); err != nil {
			return err
		}
		for j := range kr.Verifier {
			if kr.Verifier[j].LogFile != "" {
				kr.Verifier[j].LogFile = filepath.Join(rel, kr.Verifier[j].LogFile)
			}
		}
	}
	if err := matrix.Write(f.out, m); err != nil {
		return err
	}
	failed := 0
	var lines []string
	for _, kr := range m.Kernels {
		line := summaryLine(kr)
		fmt.Fprintln(g.stdout, line)
		if kr.Error != "" {
			failed++
		}
		if !kr.Cached {
			line = summaryLine(cachedView(kr))
		}
		lines = append(lines, line)
	}
	if stamp == "" {
		// Results computed now are cached now: the next identical run
		// finds them all.
		stored := opts
		stored.NoCache = false
		if keys, ok := run.CachedKeys(ctx, specs, stored); ok {
			stamp = reportStamp(keys)
		}
	}
	if stamp != "" && failed == 0 {
		writeStamp(f.out, stamp, lines)
	}
	fmt.Fprintf(g.stdout, "wrote %s/{matrix.json,matrix.md,index.html,junit.xml} (%d kernels, %.1fs)\n", f.out, len(m.Kernels), time.Since(start).Seconds())
	if failed == len(m.Kernels) {
		return fmt.Errorf("run: every kernel failed (see %s/matrix.md)", f.out)
	}
	return nil
}

func summaryLine(kr result.KernelResult) string {
	var sup, unsup, inc, findings int
	for _, ft := range kr.Features {
		switch ft.Status {
		case result.Supported:
			sup++
		case result.Unsupported:
			unsup++
		default:
			inc++
		}
		if ft.Finding != "" {
			findings++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s ", kr.Kernel.Name)
	if kr.Error != "" {
		fmt.Fprintf(&b, "FAILED: %s", oneLine(kr.Error))
		return b.String()
	}
	fmt.Fprintf(&b, "%-28s %5d supported %5d unsupported %3d inconclusive %3d findings", kr.Kernel.Release, sup, unsup, inc, findings)
	accepted, mismatches := 0, 0
	for _, v := range kr.Verifier {
		if v.Accepted {
			accepted++
		}
		if v.Finding != "" {
			mismatches++
		}
	}
	if len(kr.Verifier) > 0 {
		fmt.Fprintf(&b, "  verifier %d/%d accepted, %d unexpected", accepted, len(kr.Verifier), mismatches)
	}
	if kr.Cached {
		b.WriteString("  (cached)")
	} else {
		fmt.Fprintf(&b, "  boot %.1fs probe %.1fs", kr.BootTime.Std().Seconds(), kr.ProbeTime.Std().Seconds())
	}
	return b.String()
}

func cachedView(kr result.KernelResult) result.KernelResult {
	kr.Cached = true
	return kr
}
