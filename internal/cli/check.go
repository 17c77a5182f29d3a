package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

type checkFlags struct {
	kernels  []string
	arch     string
	asJSON   bool
	logs     string
	parallel int
	vm       vmFlags
}

func newCheckCmd(g *globals) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check [--kernels a,b,...] [--json] OBJECT.o...",
		Short: "Load every program and map of BPF objects in each kernel and tabulate the verdicts",
		Long: `Boot each kernel once under QEMU (kernels in parallel) and load every map and
every program of the objects in it, each program on its own so that one
rejection hides nothing. Prints programs as rows and kernels as columns:
accepted (instructions processed) or rejected (the verifier's summary line).

CO-RE relocations are resolved against each kernel's BTF. Maps pinned by name
are loaded unpinned. fentry/fexit targets come from the kernel's BTF and an
freplace program is loaded against the program of the same object that holds
the function it replaces; a program that cannot be loaded on its own is shown
as "not loaded" with the reason, and is not counted as rejected.

Objects are read on the host first: a file that is not a little-endian BPF
ELF object gets one row with its error and is not sent to any kernel; the
others are checked as usual ("bpfmatrix check dir/*" checks a directory). An
object with maps and no programs gets a row per map: created, or the
kernel's reason for refusing it. A program that cannot be judged at all (its
section names no program type, or the loader crashed on it) is an "error"
cell with the reason; the other programs keep their verdicts.

Exit status: 0 when everything loads everywhere; 1 when any program or map
is rejected, any cell is an error (an unreadable object, a program that
could not be judged) or a kernel could not be booted; 2 on bad usage, or
when no object could be read at all (then nothing is booted).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runCheck(cmd.Context(), g, f, args) },
	}
	fl := cmd.Flags()
	kernelsFlag(fl, &f.kernels, "kernels to check against (default: the catalog's default set for --arch)")
	fl.StringVar(&f.arch, "arch", "all", "architecture of the default set: x86_64, arm64 or all")
	fl.BoolVar(&f.asJSON, "json", false, "write the table as JSON")
	fl.StringVar(&f.logs, "logs", "", "write every rejected program's whole verifier log under `DIR`/KERNEL/")
	fl.IntVar(&f.parallel, "parallel", 2, "kernels booted at once")
	f.vm.register(fl, 1, 5*time.Minute, "time the loads may take per VM")
	return cmd
}

// CheckReport is the JSON form of the check table.
type CheckReport struct {
	Schema  int           `json:"schema"`
	Kernels []CheckKernel `json:"kernels"`
	Rows    []CheckRow    `json:"rows"`
	// Notes are per-object remarks (map pins ignored).
	Notes []string `json:"notes,omitempty"`
	// Rejected counts rejected cells.
	Rejected int `json:"rejected"`
	// Errors counts error cells of readable kernels: unreadable objects,
	// programs that could not be judged (a kernel that failed is in Kernels).
	Errors int `json:"errors,omitempty"`
}

// CheckKernel is one column.
type CheckKernel struct {
	result.Kernel
	// Error is set when the kernel could not be fetched or booted, or the
	// agent failed: its cells are then "error".
	Error string `json:"error,omitempty"`
}

// CheckRow is one program or map of one object, or an object that has
// neither because it could not be read.
type CheckRow struct {
	Object string `json:"object"`
	// Kind is "program", "map" or "object" (an object that could not be
	// read or loaded at all: Name is empty and every cell is an error).
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Cells are keyed by kernel name.
	Cells map[string]CheckCell `json:"cells"`
}

// Cell statuses.
const (
	CellAccepted  = "accepted"
	CellRejected  = "rejected"
	CellNotLoaded = "not_loaded" // could not be asked (no attach target): never a rejection
	CellError     = "error"      // no verdict: the kernel failed, the object is unreadable, the program can't be judged
)

// CheckCell is one verdict.
type CheckCell struct {
	Status string `json:"status"`
	Insns  int    `json:"insns_processed,omitempty"`
	Errno  string `json:"errno,omitempty"`
	// Summary is the verifier's summary line (rejected), its statistics
	// line (accepted), the reason (not_loaded) or the error.
	Summary string `json:"summary,omitempty"`
	// LogFile is the whole log's path, with --logs.
	LogFile string `json:"log_file,omitempty"`
}

func runCheck(ctx context.Context, g *globals, f checkFlags, args []string) error {
	if len(args) == 0 {
		return usageError("check: no objects given (usage: bpfmatrix check [--kernels a,b] OBJECT.o...)")
	}
	if f.parallel <= 0 {
		return usageError("--parallel must be positive")
	}
	if err := f.vm.validate(); err != nil {
		return err
	}
	if err := checkOutputDir("--logs", f.logs); err != nil {
		return err
	}
	inputs, objs, err := openCheckObjects(args)
	if err != nil {
		return err
	}
	specs, err := selectKernels(f.kernels, f.arch)
	if err != nil {
		return err
	}
	fetcher, err := g.fetcher(nil)
	if err != nil {
		return err
	}
	if err := requireConfigured(fetcher, specs); err != nil {
		return err
	}
	loads := loadInKernels(ctx, g, fetcher, specs, objs, loadOptions{
		parallel: f.parallel, vm: f.vm,
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	rep := buildCheckReport(inputs, loads)
	if f.logs != "" {
		if err := writeCheckLogs(f.logs, loads, &rep); err != nil {
			return err
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		printCheckTable(g.stdout, rep)
	}
	var failed []string
	for _, kl := range loads {
		if kl.err != nil {
			failed = append(failed, kl.spec.Name)
			// The whole error: console tail and the QEMU command to rerun.
			fmt.Fprintln(g.stderr, "Error:", kl.err)
			continue
		}
		// A loader crash is a bug report: its stack goes with it.
		for _, crash := range loaderCrashes(kl) {
			fmt.Fprintln(g.stderr, "Error:", crash)
		}
	}
	switch {
	case len(failed) > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("check: no verdict from %s (see the errors above)", strings.Join(failed, ", "))}
	case rep.Rejected > 0 || rep.Errors > 0:
		return &ExitError{Code: 1}
	}
	return nil
}

// loaderCrashes are one kernel's recovered loader panics, each with its stack.
func loaderCrashes(kl kernelLoad) []string {
	var out []string
	for _, o := range kl.report.Objects {
		if o.Stack != "" {
			out = append(out, fmt.Sprintf("%s: %s\n%s", kl.spec.Name, o.Error, o.Stack))
		}
		for _, m := range o.Maps {
			if m.Stack != "" {
				out = append(out, fmt.Sprintf("%s: %s: %s\n%s", kl.spec.Name, o.Path, m.Error, m.Stack))
			}
		}
		for _, p := range o.Programs {
			if p.Error != "" && p.Log != "" {
				out = append(out, fmt.Sprintf("%s: %s", kl.spec.Name, p.Log))
			}
		}
	}
	return out
}

// checkInput is one object argument of check: read, or why not.
type checkInput struct {
	path string
	obj  *object.Object // nil when err is set
	err  error
}

// openCheckObjects reads every object on the host. An unreadable object is
// its own row, not the end of the command; only when none can be read is it
// bad input (exit 2, nothing booted), in one line.
func openCheckObjects(paths []string) ([]checkInput, []*object.Object, error) {
	inputs := make([]checkInput, 0, len(paths))
	var objs []*object.Object
	var errs []string
	for _, p := range paths {
		o, err := object.Open(p)
		inputs = append(inputs, checkInput{path: p, obj: o, err: err})
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, nil, usageError("%s", strings.Join(errs, "; "))
	}
	return inputs, objs, nil
}

// openObjects validates the objects on the host: bad input is exit 2
// before any kernel is fetched or booted.
func openObjects(paths []string) ([]*object.Object, error) {
	objs := make([]*object.Object, 0, len(paths))
	for _, p := range paths {
		o, err := object.Open(p)
		if err != nil {
			return nil, usageError("%v", err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

type loadOptions struct {
	parallel int
	vm       vmFlags
	// agentArgs go after "load --json" and before the objects.
	agentArgs []string
	// tempDir and keep are passed to vm.Options (repro keeps the initramfs).
	tempDir string
	keep    bool
}

// kernelLoad is one kernel's answer.
type kernelLoad struct {
	spec   catalog.KernelSpec
	kernel *fetch.Kernel
	res    *vm.Result
	report object.LoadReport
	err    error
}

// guestObjectPath is where object i is put in the guest: its own directory,
// so that two objects with the same base name do not collide.
func guestObjectPath(i int, host string) string {
	return path.Join("/bpfmatrix/objects", strconv.Itoa(i), filepath.Base(host))
}

// loadInKernels boots every kernel once (up to o.parallel at a time) and
// loads all objects in it with `bpfmatrix-agent load --json`. Report paths
// are the host paths.
func loadInKernels(ctx context.Context, g *globals, fetcher *fetch.Fetcher, specs []catalog.KernelSpec, objs []*object.Object, o loadOptions) []kernelLoad {
	loads := make([]kernelLoad, len(specs))
	log := g.logger()
	skipped := run.Each(ctx, len(specs), o.parallel, func(i int) {
		kl := &loads[i]
		kl.spec = specs[i]
		kl.kernel, kl.err = fetcher.Fetch(ctx, specs[i])
		if kl.err != nil {
			return
		}
		agent, err := vm.AgentBinary(ctx, specs[i].Arch)
		if err != nil {
			kl.err = err
			return
		}
		job := vm.Job{Program: agent, Args: append([]string{"load", "--json"}, o.agentArgs...), Files: map[string]string{}}
		for j, obj := range objs {
			gp := guestObjectPath(j, obj.Path)
			job.Files[gp] = obj.Path
			job.Args = append(job.Args, gp)
		}
		log.Info("booting", "kernel", specs[i].Name, "image", kl.kernel.Image)
		kl.res, kl.err = run.AgentJSON(ctx, vm.Options{
			Arch: specs[i].Arch, Kernel: kl.kernel.Image, Agent: agent,
			Memory: o.vm.memory, CPUs: o.vm.cpus,
			BootTimeout: o.vm.bootTimeout, RunTimeout: o.vm.timeout,
			Console: g.consoleWriter(), Logger: log.With("kernel", specs[i].Name),
			TempDir: o.tempDir, KeepFiles: o.keep,
		}, job, &kl.report)
		if kl.err != nil {
			return
		}
		log.Info("loaded", "kernel", specs[i].Name, "release", kl.res.Release, "boot", kl.res.BootTime.Round(time.Millisecond), "load", kl.res.RunTime.Round(time.Millisecond))
		switch {
		case kl.report.Schema != object.ReportSchema:
			kl.err = fmt.Errorf("decode agent result: schema %d, want %d", kl.report.Schema, object.ReportSchema)
		case len(kl.report.Objects) != len(objs):
			kl.err = fmt.Errorf("decode agent result: %d objects, want %d", len(kl.report.Objects), len(objs))
		default:
			for j := range kl.report.Objects {
				kl.report.Objects[j].Path = objs[j].Path
				for p := range kl.report.Objects[j].Programs {
					kl.report.Objects[j].Programs[p].Object = objs[j].Path
				}
			}
		}
	})
	for _, i := range skipped {
		loads[i] = kernelLoad{spec: specs[i], err: ctx.Err()}
	}
	for i := range loads {
		if loads[i].err != nil {
			loads[i].err = fmt.Errorf("%s: %w", specs[i].Name, loads[i].err)
		}
	}
	return loads
}

func kernelColumn(kl kernelLoad) CheckKernel {
	ck := CheckKernel{Kernel: result.Kernel{Name: kl.spec.Name, Version: kl.spec.Version.String(), Arch: string(kl.spec.Arch)}}
	if kl.kernel != nil {
		ck.Source, ck.PackageVersion, ck.Digest = kl.kernel.Source, kl.kernel.PackageVersion, kl.kernel.Digest
		ck.Release = kl.kernel.Release
	}
	if kl.res != nil && kl.res.Release != "" {
		ck.Release = kl.res.Release
	}
	if kl.err != nil {
		ck.Error = oneLine(kl.err.Error())
	}
	return ck
}

func buildCheckReport(inputs []checkInput, loads []kernelLoad) CheckReport {
	rep := CheckReport{Schema: 1}
	for _, kl := range loads {
		rep.Kernels = append(rep.Kernels, kernelColumn(kl))
	}
	errorCell := func(r *CheckRow, kernel, msg string) {
		r.Cells[kernel] = CheckCell{Status: CellError, Summary: msg}
		rep.Errors++
	}
	notes := map[string]bool{}
	j := -1 // index of the object among the readable ones (the agent's order)
	for _, in := range inputs {
		if in.obj == nil {
			r := CheckRow{Object: in.path, Kind: "object", Cells: map[string]CheckCell{}}
			for _, kl := range loads {
				errorCell(&r, kl.spec.Name, in.err.Error())
			}
			rep.Rows = append(rep.Rows, r)
			continue
		}
		j++
		obj := in.obj
		// Programs in the object's (sorted) order, then its maps.
		progRows := map[string]*CheckRow{}
		var order []*CheckRow
		for _, name := range obj.Programs {
			r := &CheckRow{Object: obj.Path, Kind: "program", Name: name, Cells: map[string]CheckCell{}}
			progRows[name] = r
			order = append(order, r)
		}
		mapRows := map[string]*CheckRow{}
		var objectRow *CheckRow // the object failed in some kernel before any program
		for _, kl := range loads {
			if kl.err != nil {
				continue
			}
			or := kl.report.Objects[j]
			for _, n := range or.Notes {
				if !notes[obj.Path+n] {
					notes[obj.Path+n] = true
					rep.Notes = append(rep.Notes, obj.Path+": "+n)
				}
			}
			for _, m := range or.Maps {
				r := mapRows[m.Name]
				if r == nil {
					r = &CheckRow{Object: obj.Path, Kind: "map", Name: m.Name, Cells: map[string]CheckCell{}}
					mapRows[m.Name] = r
				}
				switch {
				case m.Created:
					r.Cells[kl.spec.Name] = CheckCell{Status: CellAccepted, Summary: "created"}
				case m.Stack != "":
					errorCell(r, kl.spec.Name, m.Error)
				default:
					r.Cells[kl.spec.Name] = CheckCell{Status: CellRejected, Summary: m.Error}
					rep.Rejected++
				}
			}
			for _, p := range or.Programs {
				r := progRows[p.Program]
				if r == nil {
					continue
				}
				if p.Error != "" {
					errorCell(r, kl.spec.Name, p.Error)
					continue
				}
				c := programCell(p.VerifierOutcome)
				if c.Status == CellRejected {
					rep.Rejected++
				}
				r.Cells[kl.spec.Name] = c
			}
			if or.Error != "" {
				// Every program without a verdict from this kernel shares
				// the object's error; an object without programs gets a row.
				for _, r := range order {
					if _, ok := r.Cells[kl.spec.Name]; !ok {
						errorCell(r, kl.spec.Name, or.Error)
					}
				}
				if len(order) == 0 {
					if objectRow == nil {
						objectRow = &CheckRow{Object: obj.Path, Kind: "object", Cells: map[string]CheckCell{}}
					}
					errorCell(objectRow, kl.spec.Name, or.Error)
				}
			}
		}
		if objectRow != nil {
			order = append([]*CheckRow{objectRow}, order...)
		}
		for _, name := range sortedKeys(mapRows) {
			order = append(order, mapRows[name])
		}
		for _, kl := range loads {
			if kl.err == nil {
				continue
			}
			for _, r := range order {
				r.Cells[kl.spec.Name] = CheckCell{Status: CellError, Summary: oneLine(kl.err.Error())}
			}
		}
		for _, r := range order {
			rep.Rows = append(rep.Rows, *r)
		}
	}
	return rep
}

func programCell(p result.VerifierOutcome) CheckCell {
	switch {
	case p.Inconclusive != "":
		return CheckCell{Status: CellNotLoaded, Summary: p.Inconclusive}
	case p.Accepted:
		return CheckCell{Status: CellAccepted, Insns: p.Insns, Summary: p.Summary}
	}
	return CheckCell{Status: CellRejected, Insns: p.Insns, Errno: p.Errno, Summary: p.Summary}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeCheckLogs writes each rejected program's log under dir/KERNEL/ and
// records the paths in the report.
func writeCheckLogs(dir string, loads []kernelLoad, rep *CheckReport) error {
	for _, kl := range loads {
		if kl.err != nil {
			continue
		}
		for j := range kl.report.Objects {
			or := &kl.report.Objects[j]
			outs := make([]result.VerifierOutcome, len(or.Programs))
			for p := range or.Programs {
				outs[p] = or.Programs[p].VerifierOutcome
			}
			if or.Stack != "" {
				// A crash outside any program: its stack is the object's log.
				outs = append(outs, result.VerifierOutcome{Object: or.Path, Program: "loader-crash", Log: or.Error + "\n\n" + or.Stack})
			}
			if err := verifier.WriteLogs(filepath.Join(dir, kl.spec.Name), outs); err != nil {
				return err
			}
			for _, o := range outs {
				if o.LogFile == "" {
					continue
				}
				for r := range rep.Rows {
					row := &rep.Rows[r]
					if (row.Kind == "program" && row.Name == o.Program || row.Kind == "object" && o.Program == "loader-crash") && row.Object == o.Object {
						c := row.Cells[kl.spec.Name]
						c.LogFile = filepath.Join(dir, kl.spec.Name, o.LogFile)
						row.Cells[kl.spec.Name] = c
					}
				}
			}
		}
	}
	return nil
}

// cellText is a cell of the text table. An error cell of a kernel that
// failed says only "error" (the kernel's error is printed below the table).
func cellText(c CheckCell, kernelFailed bool, footnote func(string) int) string {
	switch c.Status {
	case CellAccepted:
		if c.Insns > 0 {
			return fmt.Sprintf("accepted (%d insns)", c.Insns)
		}
		return c.Summary
	case CellRejected:
		return "REJECTED: " + c.Summary
	case CellNotLoaded:
		return fmt.Sprintf("not loaded [%d]", footnote(c.Summary))
	case CellError:
		if kernelFailed {
			return "error"
		}
		return fmt.Sprintf("error [%d]", footnote(c.Summary))
	}
	return "-"
}

func printCheckTable(w io.Writer, rep CheckReport) {
	var notes []string
	index := map[string]int{}
	footnote := func(s string) int {
		if n, ok := index[s]; ok {
			return n
		}
		notes = append(notes, s)
		index[s] = len(notes)
		return len(notes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "OBJECT\tPROGRAM")
	for _, k := range rep.Kernels {
		fmt.Fprintf(tw, "\t%s", k.Name)
	}
	fmt.Fprintln(tw)
	for _, r := range rep.Rows {
		name := r.Name
		switch r.Kind {
		case "map":
			name = "map " + name
		case "object":
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s", r.Object, name)
		for _, k := range rep.Kernels {
			fmt.Fprintf(tw, "\t%s", cellText(r.Cells[k.Name], k.Error != "", footnote))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for i, n := range notes {
		fmt.Fprintf(w, "[%d] %s\n", i+1, n)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, k := range rep.Kernels {
		if k.Error != "" {
			fmt.Fprintf(w, "error: %s\n", k.Error)
		} else {
			fmt.Fprintf(w, "kernel %s: %s (%s)\n", k.Name, k.Release, k.Digest)
		}
	}
	cells := 0
	for _, r := range rep.Rows {
		cells += len(r.Cells)
	}
	if rep.Rejected > 0 {
		fmt.Fprintf(w, "%d of %d loads rejected; see the whole log with: bpfmatrix repro --kernel KERNEL --program PROGRAM OBJECT\n", rep.Rejected, cells)
	}
	if rep.Errors > 0 {
		fmt.Fprintf(w, "%d of %d cells without a verdict (error)\n", rep.Errors, cells)
	}
}
