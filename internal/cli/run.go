package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/reportdir"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
)

type runFlags struct {
	kernels    []string
	arch       string
	out        string
	parallel   int
	noCache    bool
	noBpftool  bool
	noVerifier bool
	shard      string
	vm         vmFlags
}

func newRunCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [--kernels a,b,...] [--out DIR]",
		Short: "Boot each kernel, run the probes and the verifier corpus, and write the matrix",
		Long: `Boot each kernel under QEMU, run the capability probes and the verifier corpus
inside it, and write DIR/matrix.json, DIR/matrix.md, DIR/index.html,
DIR/junit.xml, DIR/kernels/NAME.json and DIR/logs/NAME/. Without --kernels,
the catalog's default set is used (both architectures; --arch picks one).

Results are cached by everything that decides them (kernel image and config,
agent, bpftool, job, feature tables, corpus): a repeat run with nothing
changed boots nothing, and says DIR is up to date only when every file the
last run wrote there still holds what it wrote (DIR/.bpfmatrix-stamp).
Files of a previous report that this one lacks are removed; other files in
DIR are left alone. A run in which every kernel fails leaves DIR's report as
it was, writes its own to DIR/failed-run/ and exits 1. Two runs into one DIR
take turns (DIR/.bpfmatrix.lock).

--shard I/N runs only the I-th of N shards of the selected kernels, split the
same way on every machine and balanced by each kernel's expected cost on a CI
runner (arm64 under TCG costs more than x86_64 under KVM): N CI jobs each run
one shard into their own DIR, and merge combines them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runRun(cmd, g, f) },
	}
	fl := cmd.Flags()
	kernelsFlag(fl, &f.kernels, "kernels to run (default: the catalog's default set)")
	fl.StringVar(&f.arch, "arch", "all", "architecture of the default set: x86_64, arm64 or all")
	fl.StringVar(&f.out, "out", "report", "output directory")
	fl.IntVar(&f.parallel, "parallel", 2, "kernels booted at once")
	fl.BoolVar(&f.noCache, "no-cache", false, "ignore cached results")
	fl.BoolVar(&f.noBpftool, "no-bpftool", false, "skip the bpftool feature probe cross-check (host's bpftool for the host's arch, Debian's, fetched, for the other)")
	fl.BoolVar(&f.noVerifier, "no-verifier", false, "skip the verifier corpus")
	fl.StringVar(&f.shard, "shard", "", "run only shard I of N (I/N, 1-based) of the selected kernels, balanced by cost")
	f.vm.register(fl, 1, 5*time.Minute, "time the probes and the corpus may take per VM")
	return cmd
}

func runRun(cmd *cobra.Command, g *globals, f runFlags) error {
	ctx := cmd.Context()
	specs, err := g.selectKernels(f.kernels, f.arch)
	if err != nil {
		return err
	}
	if specs, err = selectShard(specs, f.shard); err != nil {
		return err
	}
	if f.parallel <= 0 {
		return usageError("--parallel must be positive")
	}
	if err := f.vm.validate(); err != nil {
		return err
	}
	// An unusable --out fails now, not after every kernel has booted; the
	// lock it takes makes a second run into the same --out wait.
	out, err := openReportDir(ctx, g, f.out)
	if err != nil {
		return err
	}
	defer out.Close()
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
	names := specNames(specs)
	build := buildID()
	// Every result is cached and the report in --out was written from
	// exactly these results by this build and still holds, file by file,
	// what was written: say so instead of decoding and rewriting it.
	if keys, ok := run.CachedKeys(ctx, specs, opts); ok {
		if lines, ok := out.UpToDate(build, stampKernels(names, keys), reportFiles...); ok {
			out.DiscardFailedRun()
			for _, l := range lines {
				fmt.Fprintln(g.stdout, l)
			}
			fmt.Fprintf(g.stdout, "%s is up to date: all %d results cached (%.2fs)\n", f.out, len(specs), time.Since(start).Seconds())
			return nil
		}
	}
	m, err := run.Run(ctx, specs, opts)
	if err != nil {
		// Interrupted: the report in --out stays as it was.
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
	// Results computed now are cached now: the next identical run finds
	// them all. A report with a failed kernel has no key for it and is
	// never up to date.
	var kernels []reportdir.Kernel
	if failed == 0 {
		stored := opts
		stored.NoCache = false
		if keys, ok := run.CachedKeys(ctx, specs, stored); ok {
			kernels = stampKernels(names, keys)
		}
	}
	if err := publishReport(out, m, reportdir.Stamp{Build: build, Kernels: kernels, Lines: lines}); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "wrote %s/{matrix.json,matrix.md,index.html,junit.xml} (%d kernels, %.1fs)\n", f.out, len(m.Kernels), time.Since(start).Seconds())
	return nil
}

// errEveryKernelFailed: publishReport kept the report and wrote the run's to
// failed-run.
var errEveryKernelFailed = errors.New("every kernel failed")

// publishReport writes m into out as a staged report, then puts it in place
// with st as its stamp. When every kernel failed, nothing in m is worth more
// than the report already there: that one is kept, m goes to
// out/failed-run, and the error says where.
func publishReport(out *reportdir.Dir, m *result.Matrix, st reportdir.Stamp) error {
	stage, err := out.Stage()
	if err != nil {
		return err
	}
	if err := writeReport(stage.Path(), m); err != nil {
		stage.Abort()
		return err
	}
	failed := 0
	for _, kr := range m.Kernels {
		if kr.Error != "" {
			failed++
		}
	}
	if failed == len(m.Kernels) {
		failedDir := filepath.Join(out.Path(), reportdir.FailedRun)
		st.Build, st.Kernels = "", nil
		if err := stage.Commit(reportdir.FailedRun, st); err != nil {
			return err
		}
		return fmt.Errorf("run: %w; %s is left as it was, this run's report is in %s (see %s)",
			errEveryKernelFailed, out.Path(), failedDir, filepath.Join(failedDir, matrix.FileMarkdown))
	}
	return stage.Commit("", st)
}

func summaryLine(kr result.KernelResult) string {
	var sup, unsup, inc, present, findings int
	for _, ft := range kr.Features {
		switch ft.Status {
		case result.Supported:
			sup++
		case result.Unsupported:
			unsup++
		case result.Present:
			present++
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
	if present > 0 {
		fmt.Fprintf(&b, " %3d present (not probed)", present)
	}
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
