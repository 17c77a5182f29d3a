package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/needs"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

type needsFlags struct {
	asJSON   bool
	matrix   string
	advisory bool
}

func newNeedsCmd(g *globals) *cobra.Command {
	var f needsFlags
	cmd := &cobra.Command{
		Use:   "needs [--json] [--matrix report/matrix.json] OBJECT.o...",
		Short: "List what each program of BPF objects needs from a kernel, without booting one",
		Long: `Read BPF objects on the host and list, per program, what it needs from a
kernel: program and attach type, helpers, kfuncs, map types and flags,
instruction-set features (ISA v2-v4, atomics, may_goto, loops), BPF-to-BPF
calls and callbacks, global data, BTF and CO-RE relocations, each with the
mainline version and commit that introduced it (the probes' own table) and
the source line of its first use, from the object's BTF line info. A
program's minimum is the newest of those versions.

With --matrix, says for every kernel of a published matrix (bpfmatrix run's
matrix.json) the first requirement that kernel lacks: its probe results
decide where they answer, the kernel's version and config otherwise.
Nothing is booted. A program that calls a kfunc (or implements a
struct_ops type) that a kernel provides only in a module is "needs module
M" there, as in check, from the kernel cache's module index of the same
kernel image (built once from the kernel's package when missing). A program can still be rejected for reasons no feature
table knows (a missing NULL check); "nothing missing" is not "accepted".

Advisory entries (BTF kinds cilium/ebpf rewrites for older kernels, kfunc
and CO-RE relocation names, attach types a load ignores) are shown with
--all and always in --json; they never decide a prediction.

Exit status: 0; 2 on bad usage, an unreadable --matrix, or any object that
cannot be read (each gets its own Error: line; the others are listed).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runNeeds(cmd.Context(), g, f, args) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.asJSON, "json", false, "write the requirements as JSON")
	fl.StringVar(&f.matrix, "matrix", "", "predict the verdict of every kernel of `FILE` (a matrix.json)")
	fl.BoolVar(&f.advisory, "all", false, "list advisory requirements too")
	return cmd
}

// NeedsReport is the JSON form of `bpfmatrix needs`.
type NeedsReport struct {
	Schema  int           `json:"schema"`
	Kernels []string      `json:"kernels,omitempty"`
	Objects []NeedsObject `json:"objects"`
	// Notes say which kernels' module indexes could not be read.
	Notes []string `json:"notes,omitempty"`
}

// NeedsObject is one object argument.
type NeedsObject struct {
	Path     string         `json:"path"`
	Error    string         `json:"error,omitempty"`
	Programs []NeedsProgram `json:"programs,omitempty"`
	// Maps are every map of the object, used by a program or not: check
	// creates them all.
	Maps []NeedsMap `json:"maps,omitempty"`
}

// NeedsMap is one map with its predictions (with --matrix).
type NeedsMap struct {
	needs.Map
	Predictions []needs.Prediction `json:"predictions,omitempty"`
}

// NeedsProgram is one program with its predictions (with --matrix).
type NeedsProgram struct {
	needs.Program
	Predictions []needs.Prediction `json:"predictions,omitempty"`
}

func runNeeds(ctx context.Context, g *globals, f needsFlags, args []string) error {
	if len(args) == 0 {
		return usageError("needs: no objects given (usage: bpfmatrix needs [--matrix report/matrix.json] OBJECT.o...)")
	}
	var kernels []needs.Kernel
	rep := NeedsReport{Schema: 1, Objects: []NeedsObject{}}
	if f.matrix != "" {
		// Any matrix that cannot be read is bad input: nothing to predict.
		m, err := matrix.Read(f.matrix)
		if err != nil {
			return usageError("--matrix: %s", oneLine(err.Error()))
		}
		if kernels, err = needs.MatrixKernels(m); err != nil {
			return usageError("--matrix %s: %v", f.matrix, err)
		}
		for _, k := range kernels {
			rep.Kernels = append(rep.Kernels, k.Name)
		}
	}
	if kernels != nil {
		rep.Notes = g.moduleIndexes(ctx, kernels, args)
	}
	var bad []error
	for _, path := range args {
		no := NeedsObject{Path: path}
		progs, maps, err := readNeeds(path)
		if err != nil {
			no.Error = err.Error()
			bad = append(bad, err)
			rep.Objects = append(rep.Objects, no)
			continue
		}
		for _, p := range progs {
			np := NeedsProgram{Program: p}
			if kernels != nil {
				np.Predictions = needs.Predict(p, kernels)
			}
			no.Programs = append(no.Programs, np)
		}
		for _, m := range maps {
			nm := NeedsMap{Map: m}
			if kernels != nil {
				nm.Predictions = needs.PredictMap(m, kernels)
			}
			no.Maps = append(no.Maps, nm)
		}
		rep.Objects = append(rep.Objects, no)
	}
	if len(bad) < len(args) {
		if f.asJSON {
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		} else {
			printNeeds(g.stdout, rep, f.advisory)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	// One Error: line per unreadable object; the last goes through
	// ExitCode like every other error.
	for _, err := range bad[:len(bad)-1] {
		fmt.Fprintln(g.stderr, "Error:", err)
	}
	return &ExitError{Code: 2, Err: bad[len(bad)-1]}
}

// moduleIndexes gives each kernel of a matrix what its modules provide,
// when an object calls kfuncs or implements struct_ops (otherwise nothing
// depends on it): from the kernel cache's module index of the same kernel
// image (the matrix's digest), built once from the kernel's package when
// the kernel is cached and the index is not (fetch.ModuleIndex). A kernel
// that is not in the cache is predicted without (a note says so).
func (g *globals) moduleIndexes(ctx context.Context, kernels []needs.Kernel, paths []string) []string {
	uses := false
	for _, p := range paths {
		if o, err := object.Open(p); err == nil && o.AnalysisSpec() != nil {
			if ex, err := needs.NewExplainer(o.AnalysisSpec()); err == nil && ex.UsesModules() {
				uses = true
			}
		}
	}
	if !uses {
		return nil
	}
	f, err := g.fetcher(nil)
	if err != nil {
		return []string{"module indexes not read: " + oneLine(err.Error())}
	}
	var notes []string
	for i := range kernels {
		k := &kernels[i]
		spec, err := catalog.Default().Lookup(k.Name)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: no module index (not a catalog kernel)", k.Name))
			continue
		}
		cached, ok := f.Cached(spec)
		if !ok || (k.Digest != "" && cached.Digest != k.Digest) {
			notes = append(notes, fmt.Sprintf("%s: no module index: the matrix's kernel image is not in the cache (bpfmatrix kernels fetch %s)", k.Name, k.Name))
			continue
		}
		idx, err := f.ModuleIndex(ctx, spec)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: no module index: %s", k.Name, oneLine(err.Error())))
			continue
		}
		k.Modules = &needs.Modules{Kfuncs: idx.Kfuncs, StructOps: idx.StructOps}
	}
	return notes
}

// readNeeds reads one object on the host and extracts its requirements.
func readNeeds(path string) ([]needs.Program, []needs.Map, error) {
	o, err := object.Open(path)
	if err != nil {
		return nil, nil, err
	}
	spec := o.AnalysisSpec()
	if spec == nil {
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, needs.ErrNoSpec, o.CiliumUnreadable)
	}
	progs, err := needs.Extract(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	maps, err := needs.ExtractMaps(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return progs, maps, nil
}

func printNeeds(w io.Writer, rep NeedsReport, advisory bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for oi, o := range rep.Objects {
		if o.Error != "" {
			continue
		}
		if oi > 0 {
			fmt.Fprintln(tw)
		}
		for pi, p := range o.Programs {
			if pi > 0 {
				fmt.Fprintln(tw)
			}
			min := p.Minimum
			if min == "" {
				min = "-"
			}
			fmt.Fprintf(tw, "%s %s (%s, section %s): needs %s\n", o.Path, p.Name, p.Type, p.Section, min)
			printRequirements(tw, p.Requirements, advisory)
			for _, pr := range p.Predictions {
				fmt.Fprintf(tw, "  %s:\t%s\n", pr.Kernel, pr.Text)
			}
		}
		if len(o.Programs) > 0 && len(o.Maps) > 0 {
			fmt.Fprintln(tw)
		}
		for mi, m := range o.Maps {
			if mi > 0 {
				fmt.Fprintln(tw)
			}
			fmt.Fprintf(tw, "%s map %s (%s): needs %s\n", o.Path, m.Name, m.Type, dash(m.Minimum))
			printRequirements(tw, m.Requirements, advisory)
			for _, pr := range m.Predictions {
				fmt.Fprintf(tw, "  %s:\t%s\n", pr.Kernel, pr.Text)
			}
		}
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func printRequirements(w io.Writer, reqs []needs.Requirement, advisory bool) {
	fmt.Fprintln(w, "  KIND\tNAME\tVERSION\tCOMMIT\tFIRST USE\tWHY")
	for _, r := range reqs {
		if r.Advisory && !advisory {
			continue
		}
		src := "-"
		if r.Source != nil {
			src = r.Source.String()
		}
		name := r.Name
		if r.Advisory {
			name += " (advisory)"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, name, dash(r.Version), dash(r.Commit), src, r.Why)
	}
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
