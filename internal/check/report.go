package check

import (
	"encoding/json"
	"fmt"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"github.com/bpfmatrix/bpfmatrix/internal/needs"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/observe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

// ReportSchema versions Report. 2: cells carry the loader, and the
// needs_value status. 3: the needs_module status and Cell.Module.
const ReportSchema = 3

// Report is the check table: programs and maps as rows, kernels as
// columns. It is what `bpfmatrix check --json` writes.
type Report struct {
	Schema  int      `json:"schema"`
	Kernels []Kernel `json:"kernels"`
	Rows    []Row    `json:"rows"`
	// Notes are per-object remarks (map pins ignored, loader fallbacks).
	Notes []string `json:"notes,omitempty"`
	// Rejected counts rejected cells.
	Rejected int `json:"rejected"`
	// Errors counts error cells of readable kernels: unreadable objects,
	// programs that could not be judged (a kernel that failed is in Kernels).
	Errors int `json:"errors,omitempty"`
	// NeedsValue counts needs_value cells.
	NeedsValue int `json:"needs_value,omitempty"`
	// NeedsModule counts needs_module cells.
	NeedsModule int `json:"needs_module,omitempty"`
}

// Kernel is one column.
type Kernel struct {
	result.Kernel
	// Error is set when the kernel could not be fetched or booted, or the
	// agent failed: its cells are then "error".
	Error string `json:"error,omitempty"`
	// config is the kernel's config where its source has one (nil
	// otherwise): explanations name a missing option with it.
	config map[string]string
}

// Row kinds.
const (
	KindProgram = "program"
	KindMap     = "map"
	KindObject  = "object" // an object that could not be read or loaded at all
)

// Row is one program or map of one object, or an object that has neither
// because it could not be read.
type Row struct {
	Object string `json:"object"`
	// Kind is KindProgram, KindMap or KindObject (Name is then empty and
	// every cell is an error).
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Cells are keyed by kernel name.
	Cells map[string]Cell `json:"cells"`
}

// Cell statuses. Only rejected and error cells make the exit status 1.
const (
	CellAccepted = "accepted"
	CellRejected = "rejected"
	// CellNotLoaded: the question could not be asked (an freplace program
	// without a target program in its object); never a rejection.
	CellNotLoaded = "not_loaded"
	// CellNeedsValue: the program or map cannot be loaded as the object
	// stands because user space sets something first (a map's max_entries
	// of 0, a placeholder attach target the kernel does not have); give it
	// with Values. Never a rejection.
	CellNeedsValue = "needs_value"
	// CellNeedsModule: the kernel refused it for want of a kernel module
	// the guest does not load (a kfunc the module defines, a struct_ops
	// type it registers): Cell.Module names it. Never a rejection.
	CellNeedsModule = "needs_module"
	// CellError: no verdict (the kernel failed, the object is unreadable,
	// the program cannot be judged).
	CellError = "error"
)

// Cell is one verdict.
type Cell struct {
	Status string `json:"status"`
	Insns  int    `json:"insns_processed,omitempty"`
	Errno  string `json:"errno,omitempty"`
	// Summary is the verifier's summary line (rejected), its statistics
	// line (accepted), or the reason (not_loaded, needs_value, error).
	Summary string `json:"summary,omitempty"`
	// Loader is what produced the verdict: "cilium" (cilium/ebpf in the
	// agent) or "libbpf" (bpftool's libbpf in the guest).
	Loader string `json:"loader,omitempty"`
	// LogFile is the whole log's path, with a logs directory (WriteLogs).
	LogFile string `json:"log_file,omitempty"`
	// Module is the kernel module a needs_module cell needs.
	Module string `json:"module,omitempty"`
	// Explanation is what the kernel lacks that the object needs, when the
	// object alone can tell (internal/needs), e.g. "calls bpf_loop (5.17,
	// e6f2dd0f8067) at loop.c:30; debian-5.10 lacks it". Summary keeps the
	// kernel's own message.
	Explanation string `json:"explanation,omitempty"`
	// Ran is set with Options.Run for a program: "ran 3 times (kprobe
	// do_unlinkat)", "attached (...), did not run", or "not attached: why".
	Ran string `json:"ran,omitempty"`
	// MapsFile is the JSON dump of the program's maps after the run
	// (WriteLogs, with Options.Run).
	MapsFile string `json:"maps_file,omitempty"`
}

// Column is kl's column header.
func Column(kl KernelLoad) Kernel {
	ck := Kernel{Kernel: result.Kernel{Name: kl.Spec.Name, Version: kl.Spec.Version.String(), Arch: string(kl.Spec.Arch)}}
	if kl.Kernel != nil {
		ck.Source, ck.PackageVersion, ck.Digest = kl.Kernel.Source, kl.Kernel.PackageVersion, kl.Kernel.Digest
		ck.Release = kl.Kernel.Release
		// A kernel given by OCI reference leaves its version to the
		// image; the fetched kernel has it.
		ck.Version = kl.Kernel.Version.String()
		if kl.Kernel.Config != "" {
			// Unreadable: explanations fall back to the version alone.
			ck.config, _ = kconfig.Read(kl.Kernel.Config)
		}
	}
	if kl.VM != nil && kl.VM.Release != "" {
		ck.Release = kl.VM.Release
	}
	if kl.Err != nil {
		ck.Error = oneLine(kl.Err.Error())
	}
	return ck
}

// oneLine keeps an error one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Crashes are one kernel's recovered loader panics, each with its stack:
// bug reports, for stderr.
func Crashes(kl KernelLoad) []string {
	var out []string
	for _, o := range kl.Report.Objects {
		if o.Stack != "" {
			out = append(out, fmt.Sprintf("%s: %s\n%s", kl.Spec.Name, o.Error, o.Stack))
		}
		for _, m := range o.Maps {
			if m.Stack != "" {
				out = append(out, fmt.Sprintf("%s: %s: %s\n%s", kl.Spec.Name, o.Path, m.Error, m.Stack))
			}
		}
		for _, p := range o.Programs {
			if p.Error != "" && p.Log != "" {
				out = append(out, fmt.Sprintf("%s: %s", kl.Spec.Name, p.Log))
			}
		}
	}
	return out
}

// BuildReport tabulates the loads of the inputs' objects (Load's answer for
// Objects(inputs)).
func BuildReport(inputs []Input, loads []KernelLoad) Report {
	rep := Report{Schema: ReportSchema}
	for _, kl := range loads {
		rep.Kernels = append(rep.Kernels, Column(kl))
	}
	set := func(r *Row, kernel string, c Cell) {
		switch c.Status {
		case CellRejected:
			rep.Rejected++
		case CellError:
			rep.Errors++
		case CellNeedsValue:
			rep.NeedsValue++
		case CellNeedsModule:
			rep.NeedsModule++
		}
		r.Cells[kernel] = c
	}
	notes := map[string]bool{}
	note := func(s string) {
		if !notes[s] {
			notes[s] = true
			rep.Notes = append(rep.Notes, s)
		}
	}
	j := -1 // index of the object among the readable ones (the agent's order)
	for _, in := range inputs {
		if in.Object == nil {
			r := Row{Object: in.Path, Kind: KindObject, Cells: map[string]Cell{}}
			for _, kl := range loads {
				set(&r, kl.Spec.Name, Cell{Status: CellError, Summary: in.Err.Error()})
			}
			rep.Rows = append(rep.Rows, r)
			continue
		}
		j++
		obj := in.Object
		var ex *needs.Explainer
		if spec := obj.AnalysisSpec(); spec != nil {
			ex, _ = needs.NewExplainer(spec) // nil: no explanations, no module states
		}
		// Programs in the object's (sorted) order, then its maps.
		progRows := map[string]*Row{}
		var order []*Row
		for _, name := range obj.Programs {
			r := &Row{Object: obj.Path, Kind: KindProgram, Name: name, Cells: map[string]Cell{}}
			progRows[name] = r
			order = append(order, r)
		}
		mapRows := map[string]*Row{}
		var objectRow *Row // the object failed in some kernel before any program
		for _, kl := range loads {
			if kl.Err != nil {
				continue
			}
			or := kl.Report.Objects[j]
			for _, n := range or.Notes {
				note(obj.Path + ": " + n)
			}
			for _, m := range or.Maps {
				r := mapRows[m.Name]
				if r == nil {
					r = &Row{Object: obj.Path, Kind: KindMap, Name: m.Name, Cells: map[string]Cell{}}
					mapRows[m.Name] = r
				}
				c := Cell{Loader: or.Loader}
				switch {
				case m.Created:
					c.Status, c.Summary = CellAccepted, "created"
				case m.Stack != "":
					c.Status, c.Summary = CellError, m.Error
				case m.NeedsValue != "":
					c.Status, c.Summary = CellNeedsValue, m.NeedsValue
				default:
					c.Status, c.Summary = CellRejected, m.Error
				}
				set(r, kl.Spec.Name, moduleCell(c, ex, KindMap, m.Name, kl.Modules))
			}
			for _, p := range or.Programs {
				r := progRows[p.Program]
				if r == nil {
					continue
				}
				c := programCell(p)
				if c.Loader == "" {
					c.Loader = or.Loader
				}
				if or.Run != nil {
					c.Ran = ranText(or.Run, p.Program)
				}
				set(r, kl.Spec.Name, moduleCell(c, ex, KindProgram, p.Program, kl.Modules))
			}
			if or.Error != "" {
				// Every program without a verdict from this kernel shares
				// the object's error; an object without programs gets a row.
				for _, r := range order {
					if _, ok := r.Cells[kl.Spec.Name]; !ok {
						set(r, kl.Spec.Name, Cell{Status: CellError, Summary: or.Error, Loader: or.Loader})
					}
				}
				if len(order) == 0 {
					if objectRow == nil {
						objectRow = &Row{Object: obj.Path, Kind: KindObject, Cells: map[string]Cell{}}
					}
					set(objectRow, kl.Spec.Name, Cell{Status: CellError, Summary: or.Error, Loader: or.Loader})
				}
			}
		}
		if objectRow != nil {
			order = append([]*Row{objectRow}, order...)
		}
		for _, name := range sortedKeys(mapRows) {
			order = append(order, mapRows[name])
		}
		for _, kl := range loads {
			if kl.Err == nil {
				continue
			}
			for _, r := range order {
				r.Cells[kl.Spec.Name] = Cell{Status: CellError, Summary: oneLine(kl.Err.Error())}
			}
		}
		explain(ex, order, rep.Kernels)
		for _, r := range order {
			rep.Rows = append(rep.Rows, *r)
		}
	}
	return rep
}

// explain sets the Explanation of each rejected cell whose cause the object
// alone can name (internal/needs: the newest requirement the kernel's version
// or config lacks, with its source line), next to the kernel's own summary.
func explain(ex *needs.Explainer, rows []*Row, kernels []Kernel) {
	if ex == nil {
		return // nothing to explain with; the kernel's message stands alone
	}
	byName := map[string]Kernel{}
	for _, k := range kernels {
		byName[k.Name] = k
	}
	for _, r := range rows {
		for name, c := range r.Cells {
			if c.Status != CellRejected {
				continue
			}
			var why string
			var ok bool
			switch r.Kind {
			case KindProgram:
				why, ok = ex.ProgramWithConfig(r.Name, byName[name].Kernel, byName[name].config)
			case KindMap:
				why, ok = ex.MapWithConfig(r.Name, byName[name].Kernel, byName[name].config)
			}
			if ok {
				c.Explanation = why
				r.Cells[name] = c
			}
		}
	}
}

// moduleCell turns a refusal into needs_module when the program or map
// uses a kfunc or struct_ops type that a module of the kernel provides
// (idx): the guest loads no modules, so the kernel could not judge it.
// The kernel's own message stays in the summary.
func moduleCell(c Cell, ex *needs.Explainer, kind, name string, idx *fetch.ModuleIndex) Cell {
	if ex == nil || idx == nil || (c.Status != CellRejected && c.Status != CellNotLoaded) {
		return c
	}
	mods := needs.Modules{Kfuncs: idx.Kfuncs, StructOps: idx.StructOps}
	var need needs.ModuleNeed
	var ok bool
	if kind == KindMap {
		need, ok = ex.MapModule(name, mods)
	} else {
		need, ok = ex.ProgramModule(name, mods)
	}
	if !ok {
		return c
	}
	said := c.Summary
	c.Status, c.Module, c.Insns, c.Errno = CellNeedsModule, need.Module, 0, ""
	c.Summary = need.String() + ", which the guest does not load"
	if said != "" {
		c.Summary += " (the kernel said: " + said + ")"
	}
	return c
}

func programCell(p object.ProgramOutcome) Cell {
	c := Cell{Loader: p.Loader}
	switch {
	case p.Error != "":
		c.Status, c.Summary = CellError, p.Error
	case p.NeedsValue != "":
		c.Status, c.Summary = CellNeedsValue, p.NeedsValue
	case p.Inconclusive != "":
		c.Status, c.Summary = CellNotLoaded, p.Inconclusive
	case p.Accepted:
		c.Status, c.Insns, c.Summary = CellAccepted, p.Insns, p.Summary
	default:
		c.Status, c.Insns, c.Errno, c.Summary = CellRejected, p.Insns, p.Errno, p.Summary
	}
	return c
}

// ranText says whether a program attached and ran under check --run.
func ranText(run *observe.ObjectRun, program string) string {
	if run.Error != "" {
		return "not run: " + run.Error
	}
	for _, pr := range run.Programs {
		if pr.Program != program {
			continue
		}
		switch {
		case pr.Attach == "":
			s := "not attached: " + pr.AttachError
			if pr.Errno != "" {
				s += " (" + pr.Errno + ")"
			}
			return s
		case pr.Ran:
			return fmt.Sprintf("ran %d times (%s)", pr.RunCount, pr.Attach)
		default:
			return "attached (" + pr.Attach + "), did not run"
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteLogs writes each rejected program's whole log under dir/KERNEL/ and
// records the paths in rep's cells.
func WriteLogs(dir string, loads []KernelLoad, rep *Report) error {
	for _, kl := range loads {
		if kl.Err != nil {
			continue
		}
		for j := range kl.Report.Objects {
			or := &kl.Report.Objects[j]
			outs := make([]result.VerifierOutcome, len(or.Programs))
			for p := range or.Programs {
				outs[p] = or.Programs[p].VerifierOutcome
			}
			if or.Stack != "" {
				// A crash outside any program: its stack is the object's log.
				outs = append(outs, result.VerifierOutcome{Object: or.Path, Program: "loader-crash", Log: or.Error + "\n\n" + or.Stack})
			}
			if err := verifier.WriteLogs(filepath.Join(dir, kl.Spec.Name), outs); err != nil {
				return err
			}
			if err := writeMapDumps(filepath.Join(dir, kl.Spec.Name), kl.Spec.Name, or, rep); err != nil {
				return err
			}
			for _, o := range outs {
				if o.LogFile == "" {
					continue
				}
				for r := range rep.Rows {
					row := &rep.Rows[r]
					if (row.Kind == KindProgram && row.Name == o.Program || row.Kind == KindObject && o.Program == "loader-crash") && row.Object == o.Object {
						c := row.Cells[kl.Spec.Name]
						c.LogFile = filepath.Join(dir, kl.Spec.Name, o.LogFile)
						row.Cells[kl.Spec.Name] = c
					}
				}
			}
		}
	}
	return nil
}

// writeMapDumps writes each run program's maps as
// dir/OBJECT.PROGRAM.maps.json (check --run's artifact) and records the
// paths in rep's cells.
func writeMapDumps(dir, kernel string, or *object.ObjectReport, rep *Report) error {
	if or.Run == nil {
		return nil
	}
	for _, pr := range or.Run.Programs {
		b, err := json.MarshalIndent(pr, "", "  ")
		if err != nil {
			return fmt.Errorf("encode map dump: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(or.Path), ".o") + "." + pr.Program + ".maps.json"
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write map dump: %w", err)
		}
		if err := atomicfile.Write(path, append(b, '\n'), false); err != nil {
			return fmt.Errorf("write map dump: %w", err)
		}
		for r := range rep.Rows {
			row := &rep.Rows[r]
			if row.Kind == KindProgram && row.Name == pr.Program && row.Object == or.Path {
				c := row.Cells[kernel]
				c.MapsFile = path
				row.Cells[kernel] = c
			}
		}
	}
	return nil
}

// cellText is a cell of the text table. An error cell of a kernel that
// failed says only "error" (the kernel's error is printed below the table).
// A verdict from libbpf says so; cilium/ebpf's is the default.
func cellText(c Cell, kernelFailed bool, footnote func(string) int) string {
	s := "-"
	switch c.Status {
	case CellAccepted:
		s = c.Summary
		if c.Insns > 0 {
			s = fmt.Sprintf("accepted (%d insns)", c.Insns)
		}
	case CellRejected:
		s = "REJECTED: " + c.Summary
		if c.Explanation != "" {
			s += fmt.Sprintf(" [%d]", footnote("why: "+c.Explanation))
		}
	case CellNotLoaded:
		s = fmt.Sprintf("not loaded [%d]", footnote(c.Summary))
	case CellNeedsValue:
		s = fmt.Sprintf("needs value [%d]", footnote(c.Summary))
	case CellNeedsModule:
		s = fmt.Sprintf("needs module %s [%d]", c.Module, footnote(c.Summary))
	case CellError:
		if kernelFailed {
			return "error"
		}
		s = fmt.Sprintf("error [%d]", footnote(c.Summary))
	}
	if c.Loader == string(object.LoaderLibbpf) {
		s += " (libbpf)"
	}
	if c.Ran != "" {
		s += fmt.Sprintf("; run [%d]", footnote(c.Ran))
	}
	return s
}

// WriteTable writes rep as a text table with footnotes, then the kernels
// and the counts.
func WriteTable(w io.Writer, rep Report) {
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
		case KindMap:
			name = "map " + name
		case KindObject:
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
	if rep.NeedsValue > 0 {
		fmt.Fprintf(w, "%d of %d cells need a value from user space (give it with --set, --attach-target or --values)\n", rep.NeedsValue, cells)
	}
	if rep.NeedsModule > 0 {
		fmt.Fprintf(w, "%d of %d cells need a kernel module the guest does not load\n", rep.NeedsModule, cells)
	}
	if rep.Errors > 0 {
		fmt.Fprintf(w, "%d of %d cells without a verdict (error)\n", rep.Errors, cells)
	}
}

// Failed says whether the report holds a rejection or an error: the
// check's exit status 1. needs_value, needs_module and not_loaded cells do
// not count.
func (r Report) Failed() bool {
	return r.Rejected > 0 || r.Errors > 0
}
