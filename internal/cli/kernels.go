package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"
)

// fetcher builds the kernel fetcher from the global flags. Other commands use
// it too (run, exec, probe): it does no network I/O until Fetch.
func (g *globals) fetcher(progress func(kernel string, done, total int64)) (*fetch.Fetcher, error) {
	return fetch.New(fetch.Options{
		CacheDir:             g.cacheDir,
		DebianMirror:         g.mirror,
		DebianSecurityMirror: g.securityMirror,
		OCIRegistry:          g.ociRegistry,
		Progress:             progress,
	})
}

// fetchKernel fetches one catalog kernel with the global flags' fetcher
// (cache first, no network on a hit).
func (g *globals) fetchKernel(ctx context.Context, spec catalog.KernelSpec) (*fetch.Kernel, error) {
	f, err := g.fetcher(nil)
	if err != nil {
		return nil, err
	}
	return badImage(f.Fetch(ctx, spec))
}

// badImage makes an image that is not a kernel bad input (exit status 2):
// it is refused before anything boots.
func badImage(k *fetch.Kernel, err error) (*fetch.Kernel, error) {
	if errors.Is(err, fetch.ErrNotKernelImage) {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return k, err
}

// selectKernels returns the named kernels (resolveKernels: catalog names,
// image paths, OCI references), or the catalog's default set for arch
// ("x86_64", "arm64" or "all") when none are given.
func (g *globals) selectKernels(ctx context.Context, names []string, arch, kernelConfig string, offline bool) ([]catalog.KernelSpec, error) {
	if len(names) > 0 {
		return g.resolveKernels(ctx, names, kernelConfig, offline)
	}
	if kernelConfig != "" {
		return nil, usageError("--kernel-config %s: applies to a kernel given by path, and none is", kernelConfig)
	}
	cat, err := g.catalog()
	if err != nil {
		return nil, err
	}
	switch arch {
	case "all":
		return cat.Defaults(""), nil
	case string(catalog.AMD64), string(catalog.ARM64):
		return cat.Defaults(catalog.Arch(arch)), nil
	}
	return nil, usageError("--arch %q: want x86_64, arm64 or all", arch)
}

func newKernelsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kernels",
		Short: "List, fetch and build the catalog's kernels",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKernelsListCmd(g), newKernelsFetchCmd(g), newKernelsBuildCmd(g))
	return cmd
}

func newKernelsListCmd(g *globals) *cobra.Command {
	var (
		check    bool
		jsonOut  bool
		kernelsF []string
		arch     string
		shards   int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List catalog kernels: version, arch, sources, cached or not, obtainable or why not",
		Long: `List the kernels in the embedded catalog.

OBTAINABLE is decided offline (a Debian mirror or OCI registry is configured, a
file exists) unless --check is given, which resolves each source over the
network (verified Debian index and a HEAD of the package, or the OCI manifest)
without downloading kernels.

--json prints, for scripts and CI job matrices, one JSON object with the
selected kernels (--kernels, else the default set for --arch; the whole catalog
with --arch catalog): each one's name, version, arch, expected cost in seconds
on a CI runner, and with --shards N the shard (1..N) that run --shard I/N gives
it. It does no network I/O and reads no cache.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if jsonOut {
				return listKernelsJSON(cmd.Context(), g, kernelsF, arch, shards)
			}
			f, err := g.fetcher(nil)
			if err != nil {
				return err
			}
			cat, err := g.catalog()
			if err != nil {
				return err
			}
			kernels := cat.Kernels
			obtainable := make([]string, len(kernels))
			if check {
				var eg errgroup.Group
				eg.SetLimit(4)
				for i, k := range kernels {
					eg.Go(func() error {
						_, obtainable[i] = f.Check(cmd.Context(), k)
						return nil
					})
				}
				eg.Wait()
			} else {
				for i, k := range kernels {
					_, obtainable[i] = f.Obtainable(k)
				}
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tARCH\tSOURCES\tCACHED\tOBTAINABLE")
			for i, k := range kernels {
				cached := "no"
				if c, ok := f.Cached(k); ok {
					cached = "yes"
					if c.Release != "" {
						cached += " (" + c.Release + ")"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Version, k.Arch, sourcesSummary(k.Sources), cached, obtainable[i])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "resolve sources over the network (no kernel download)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the selected kernels with cost and shard as JSON")
	kernelsFlag(cmd.Flags(), &kernelsF, "with --json: kernels to list (default: the default set for --arch)")
	cmd.Flags().StringVar(&arch, "arch", "all", "with --json: x86_64, arm64, all (default set) or catalog (every kernel)")
	cmd.Flags().IntVar(&shards, "shards", 0, "with --json: assign each kernel to one of N shards as run --shard does")
	return cmd
}

// kernelsJSON is `kernels list --json`.
type kernelsJSON struct {
	Shards  int          `json:"shards,omitempty"`
	Kernels []kernelJSON `json:"kernels"`
}

type kernelJSON struct {
	Name    string  `json:"name"`
	Version string  `json:"version"`
	Arch    string  `json:"arch"`
	Cost    float64 `json:"cost_seconds"`
	Shard   int     `json:"shard,omitempty"`
}

func listKernelsJSON(ctx context.Context, g *globals, names []string, arch string, shards int) error {
	if shards < 0 {
		return usageError("--shards must not be negative")
	}
	var specs []catalog.KernelSpec
	if arch == "catalog" && len(names) == 0 {
		cat, err := g.catalog()
		if err != nil {
			return err
		}
		specs = cat.Kernels
	} else {
		var err error
		// Offline: an OCI reference's version stays unknown ("0.0").
		if specs, err = g.selectKernels(ctx, names, arch, "", true); err != nil {
			return err
		}
	}
	shardOf := map[string]int{}
	if shards > 0 {
		for s, ks := range shardKernels(specs, shards) {
			for _, k := range ks {
				shardOf[k.Name] = s + 1
			}
		}
	}
	out := kernelsJSON{Shards: shards, Kernels: []kernelJSON{}}
	for _, k := range specs {
		out.Kernels = append(out.Kernels, kernelJSON{
			Name: k.Name, Version: k.Version.String(), Arch: string(k.Arch),
			Cost: math.Round(kernelCost(k)*100) / 100, Shard: shardOf[k.Name],
		})
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// sourcesSummary prints sources compactly: debian:bookworm-security,bookworm oci:cilium/ci-kernels:6.1
func sourcesSummary(srcs []catalog.Source) string {
	var parts []string
	var suites []string
	flush := func() {
		if len(suites) > 0 {
			parts = append(parts, "debian:"+strings.Join(suites, ","))
			suites = nil
		}
	}
	for _, s := range srcs {
		if s.Debian != nil {
			suites = append(suites, s.Debian.Suite)
			continue
		}
		flush()
		parts = append(parts, s.String())
	}
	flush()
	return strings.Join(parts, " ")
}

func newKernelsFetchCmd(g *globals) *cobra.Command {
	var (
		jobs         int
		kernelConfig string
	)
	cmd := &cobra.Command{
		Use:   "fetch KERNEL...",
		Short: "Download and verify kernels into the cache (parallel)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if jobs < 1 {
				return usageError("--jobs must be at least 1")
			}
			specs, err := g.resolveKernels(cmd.Context(), args, kernelConfig, false)
			if err != nil {
				return err
			}
			return fetchKernels(cmd.Context(), g, specs, jobs)
		},
	}
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 4, "parallel downloads")
	kernelConfigFlag(cmd.Flags(), &kernelConfig)
	return cmd
}

// fetchKernels fetches specs in parallel and prints one line per kernel.
// Every kernel is attempted; the error names the ones that failed.
func fetchKernels(ctx context.Context, g *globals, specs []catalog.KernelSpec, jobs int) error {
	prog := newFetchProgress(g.stderr)
	f, err := g.fetcher(prog.update)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		errs   []error
		failed []string
		eg     errgroup.Group
	)
	eg.SetLimit(jobs)
	for _, spec := range specs {
		eg.Go(func() error {
			_, hit := f.Cached(spec)
			k, err := f.Fetch(ctx, spec)
			mu.Lock()
			defer mu.Unlock()
			prog.done(spec.Name)
			if err != nil {
				errs = append(errs, err)
				failed = append(failed, spec.Name)
				if len(specs) > 1 {
					prog.println(g.stdout, fmt.Sprintf("%s  FAILED  %v", spec.Name, err))
				}
				return nil
			}
			state := "fetched"
			if hit {
				state = "cached"
			}
			if len(k.Repaired) > 0 {
				state = "repaired (" + strings.Join(k.Repaired, "; ") + ")"
			}
			prog.println(g.stdout, fmt.Sprintf("%s  %s  %s  %s  %s", spec.Name, state, k.Release, k.Digest, k.Source))
			return nil
		})
	}
	eg.Wait()
	prog.finish()
	switch {
	case len(errs) == 0:
		return nil
	case len(specs) == 1:
		_, err := badImage(nil, errs[0])
		return err
	}
	return fmt.Errorf("fetch: %d of %d kernels not fetched: %s", len(errs), len(specs), strings.Join(failed, ", "))
}

// fetchProgress draws one progress bar summing all downloads when stderr is
// a terminal, and nothing otherwise (the per-kernel result lines suffice).
type fetchProgress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	done_ map[string][2]int64
}

func newFetchProgress(w io.Writer) *fetchProgress {
	p := &fetchProgress{done_: map[string][2]int64{}}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("fetching kernels"),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100_000_000),
		)
	}
	return p
}

func (p *fetchProgress) update(kernel string, done, total int64) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done_[kernel] = [2]int64{done, total}
	var sumDone, sumTotal int64
	known := true
	for _, v := range p.done_ {
		sumDone += v[0]
		if v[1] < 0 {
			known = false
		}
		sumTotal += max(v[1], v[0])
	}
	if known && p.bar.GetMax64() != sumTotal {
		p.bar.ChangeMax64(sumTotal)
	}
	p.bar.Set64(sumDone)
}

func (p *fetchProgress) done(kernel string) {}

// println prints a result line above the bar.
func (p *fetchProgress) println(w io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(w, line)
}

func (p *fetchProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
