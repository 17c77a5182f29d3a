package object

import (
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfmatrix/bpfmatrix/internal/observe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

// ReportSchema versions LoadReport.
const ReportSchema = 1

// LoadReport is one kernel's verdict on a set of objects: what
// `bpfmatrix-agent load --json` writes, one compact JSON document.
type LoadReport struct {
	Schema int `json:"schema"`
	// Release is the guest's uname -r.
	Release string         `json:"release"`
	Objects []ObjectReport `json:"objects"`
}

// ObjectReport is the outcome of loading one object.
type ObjectReport struct {
	// Path is the object's path as the loader saw it.
	Path string `json:"path"`
	// Error is set when the object could not be parsed at all, or its
	// loading crashed outside any one program (then Stack says where).
	Error string `json:"error,omitempty"`
	// Stack is the loader's stack trace when Error is a crash.
	Stack string `json:"stack,omitempty"`
	// Programs holds one outcome per program, sorted by name.
	Programs []ProgramOutcome `json:"programs,omitempty"`
	// Maps holds one outcome per map, sorted by name.
	Maps []MapOutcome `json:"maps,omitempty"`
	// Notes say what was changed to load the object (pins stripped,
	// values set, the loader chosen).
	Notes []string `json:"notes,omitempty"`
	// Loader is the loader that produced the verdicts: "cilium" or "libbpf".
	Loader string `json:"loader,omitempty"`
	// Run is set by `load --run` (check --run): each program attached by
	// its section name, triggered, its run count and its maps' contents.
	Run *observe.ObjectRun `json:"run,omitempty"`
}

// Loader names a BPF loader.
type Loader string

const (
	// LoaderCilium is cilium/ebpf, in the agent: every program on its own.
	LoaderCilium Loader = "cilium"
	// LoaderLibbpf is libbpf, through bpftool in the guest ("bpftool -d
	// prog loadall"): for objects built for libbpf that cilium/ebpf cannot
	// read.
	LoaderLibbpf Loader = "libbpf"
)

// ParseLoader checks a --loader value.
func ParseLoader(s string) (Loader, error) {
	switch Loader(s) {
	case LoaderCilium, LoaderLibbpf:
		return Loader(s), nil
	}
	return "", fmt.Errorf("--loader %q: want cilium (the default: libbpf only for objects cilium/ebpf cannot read) or libbpf", s)
}

// ProgramOutcome is the verdict on one program, or why there is none.
type ProgramOutcome struct {
	result.VerifierOutcome
	// Error is set when the program could not be judged: a program no loader
	// can load (its section names no program type), or a crash of the loader
	// (a bpfmatrix or cilium/ebpf bug), whose whole panic and stack are then
	// in Log. It is neither accepted nor rejected.
	Error string `json:"error,omitempty"`
	// NeedsValue says what user space must set before this program can be
	// loaded as it runs (a map's max_entries, an attach target): the
	// program was not loaded, and that is no verdict of the kernel's.
	NeedsValue string `json:"needs_value,omitempty"`
	// Loader is "cilium" or "libbpf".
	Loader string `json:"loader,omitempty"`
}

// MapOutcome says whether the kernel created one map.
type MapOutcome struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Created bool   `json:"created"`
	Error   string `json:"error,omitempty"`
	// NeedsValue: not created because user space sets its max_entries.
	NeedsValue string `json:"needs_value,omitempty"`
	// Stack is the loader's stack trace when Error is a crash.
	Stack string `json:"stack,omitempty"`
}

// LoadOptions control Load.
type LoadOptions struct {
	// Programs restricts the programs loaded (nil: all). Maps are always
	// all created.
	Programs []string
	// FullLog keeps the level-2 log of accepted programs too (repro).
	FullLog bool
	// Cache shares decoded kernel BTF between objects.
	Cache *btf.Cache
	// KernelTypes replaces the running kernel's BTF (tests on the host).
	KernelTypes *btf.Spec
	// Loader forces a loader; "" is cilium/ebpf, with libbpf for an object
	// cilium/ebpf cannot read (when Bpftool is set).
	Loader Loader
	// Bpftool is the path of bpftool, for the libbpf loader.
	Bpftool string
	// Values are set in the object before it is loaded.
	Values ObjectValues
}

// Load loads the object at path into the running kernel. The caller must
// have raised RLIMIT_MEMLOCK (kernels before 5.11).
//
// Load does not panic: a panic while loading one program (or creating one
// map) becomes that program's (map's) outcome, and one anywhere else the
// object's Error, with the stack; the other programs and maps keep their
// verdicts.
func Load(path string, opts LoadOptions) (rep ObjectReport) {
	rep = ObjectReport{Path: path}
	defer func() {
		if v := recover(); v != nil {
			msg, stack := crash(v)
			rep = ObjectReport{Path: path, Error: fmt.Sprintf("load %s: %s", path, msg), Stack: stack, Programs: rep.Programs, Maps: rep.Maps, Notes: rep.Notes}
		}
	}()
	if opts.Loader == LoaderLibbpf {
		return loadLibbpf(path, opts, nil)
	}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		if LibbpfOnly(err) && opts.Bpftool != "" {
			why := strings.TrimPrefix(oneLine(err.Error()), "file "+path+": ")
			return loadLibbpf(path, opts, []string{"loaded with libbpf: cilium/ebpf cannot read it: " + why})
		}
		rep.Error = fmt.Sprintf("parse %s: %v", path, err)
		return rep
	}
	if why := CiliumCannotLoad(spec); why != "" && opts.Bpftool != "" {
		return loadLibbpf(path, opts, []string{"loaded with libbpf: " + why})
	}
	rep.Loader = string(LoaderCilium)
	if opts.Cache == nil {
		opts.Cache = btf.NewCache()
	}
	if err := opts.Values.Apply(spec); err != nil {
		rep.Error = fmt.Sprintf("load %s: %v", path, err)
		return rep
	}
	rep.Notes = append(rep.Notes, opts.Values.notes()...)
	rep.Notes = append(rep.Notes, stripPinning(spec)...)
	vopts := verifier.Options{Cache: opts.Cache, KernelTypes: opts.KernelTypes, FullLog: opts.FullLog}

	names := make([]string, 0, len(spec.Maps))
	for name := range spec.Maps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rep.Maps = append(rep.Maps, createMap(spec, name, vopts))
	}

	progs := opts.Programs
	if len(progs) == 0 {
		for name := range spec.Programs {
			progs = append(progs, name)
		}
	}
	slices.Sort(progs)
	for _, name := range progs {
		rep.Programs = append(rep.Programs, loadProgram(spec, path, name, vopts))
	}
	return rep
}

// loadProgram loads one program under recover.
func loadProgram(spec *ebpf.CollectionSpec, path, name string, opts verifier.Options) (out ProgramOutcome) {
	defer func() {
		if v := recover(); v != nil {
			msg, stack := crash(v)
			out = ProgramOutcome{Error: fmt.Sprintf("load program %s of %s: %s", name, path, msg), Loader: string(LoaderCilium)}
			out.Object, out.Program = path, name
			out.Log = out.Error + "\n\n" + stack
		}
	}()
	out.Loader = string(LoaderCilium)
	if ps := spec.Programs[name]; ps != nil && ps.Type == ebpf.UnspecifiedProgram {
		out.Object, out.Program = path, name
		out.Error = verifier.UnspecifiedTypeError(ps).Error()
		return out
	}
	if why := needsValue(spec, name, opts); why != "" {
		out.Object, out.Program = path, name
		out.NeedsValue = why
		return out
	}
	out.VerifierOutcome = verifier.LoadProgram(spec, name, opts)
	out.Object = path
	return out
}

// crash describes a recovered panic: one line, and the stack of the
// goroutine that panicked.
func crash(v any) (msg, stack string) {
	return fmt.Sprintf("loader crashed (a bug in bpfmatrix or cilium/ebpf; the stack is in the log): panic: %v", v), string(debug.Stack())
}

// stripPinning turns LIBBPF_PIN_BY_NAME maps into plain ones (see the
// package documentation) and says which.
func stripPinning(spec *ebpf.CollectionSpec) []string {
	var notes []string
	for name, ms := range spec.Maps {
		if ms.Pinning == ebpf.PinNone {
			continue
		}
		ms = ms.Copy()
		ms.Pinning = ebpf.PinNone
		spec.Maps[name] = ms
		notes = append(notes, fmt.Sprintf("map %s: pinning by name ignored (loaded unpinned; the verifier's verdict does not depend on it)", name))
	}
	slices.Sort(notes)
	return notes
}

// createMap creates one map on its own, as a collection of that map, so that
// .kconfig and data sections are handled as in a full load.
func createMap(spec *ebpf.CollectionSpec, name string, opts verifier.Options) (out MapOutcome) {
	ms := spec.Maps[name]
	out = MapOutcome{Name: name, Type: ms.Type.String()}
	defer func() {
		if v := recover(); v != nil {
			msg, stack := crash(v)
			out.Created, out.Error, out.Stack = false, fmt.Sprintf("create map %s: %s", name, msg), stack
		}
	}()
	if needsMaxEntries(ms) {
		out.NeedsValue = maxEntriesMissing(name)
		return out
	}
	sub := &ebpf.CollectionSpec{
		Maps:      map[string]*ebpf.MapSpec{name: ms},
		Programs:  map[string]*ebpf.ProgramSpec{},
		Variables: map[string]*ebpf.VariableSpec{},
		Types:     spec.Types,
		ByteOrder: spec.ByteOrder,
	}
	if len(ms.Contents) > 0 && (ms.Type == ebpf.ProgramArray || ms.Type == ebpf.ArrayOfMaps || ms.Type == ebpf.HashOfMaps) {
		// Its contents name programs or maps, which are loaded separately.
		ms = ms.Copy()
		ms.Contents = nil
		sub.Maps[name] = ms
	}
	coll, err := ebpf.NewCollectionWithOptions(sub, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{KernelTypes: opts.KernelTypes},
		Cache:    opts.Cache,
	})
	if err != nil {
		out.Error = err.Error()
		return out
	}
	coll.Close()
	out.Created = true
	return out
}

// maxEntriesMissing is the needs-value reason of a map whose max_entries
// user space sets: the kernel refuses max_entries 0 ("map create: invalid
// argument (MaxEntries may be incorrectly set to zero)").
func maxEntriesMissing(m string) string {
	return fmt.Sprintf("needs a value from user space: map %s has max_entries 0, which user space sets before load (give it: --set map.%s.max_entries=N)", m, m)
}

// needsValue says what user space must set before program name can be
// loaded ("" when nothing is missing): a map it uses without max_entries,
// or an fentry/fexit/fmod_ret or tp_btf target that is neither in the
// object nor in the kernel's BTF (attachTargetMissing).
func needsValue(spec *ebpf.CollectionSpec, name string, opts verifier.Options) string {
	ps := spec.Programs[name]
	if ps == nil {
		return ""
	}
	var missing []string
	for _, ins := range ps.Instructions {
		if ms := spec.Maps[ins.Reference()]; ms != nil && needsMaxEntries(ms) && !slices.Contains(missing, ins.Reference()) {
			missing = append(missing, ins.Reference())
		}
	}
	if len(missing) > 0 {
		return maxEntriesMissing(missing[0])
	}
	if ps.Type != ebpf.Tracing || ps.AttachTarget != nil || ps.AttachTo == "" {
		return ""
	}
	// The BTF type the kernel resolves the target to: a function, or for
	// tp_btf the tracepoint's btf_trace_ typedef (cilium/ebpf's and
	// libbpf's lookups).
	var want btf.Type
	typeName := ps.AttachTo
	switch ps.AttachType {
	case ebpf.AttachTraceFEntry, ebpf.AttachTraceFExit, ebpf.AttachModifyReturn:
		want = (*btf.Func)(nil)
	case ebpf.AttachTraceRawTp:
		want, typeName = (*btf.Typedef)(nil), "btf_trace_"+ps.AttachTo
	default:
		return ""
	}
	if verifier.TargetInObject(spec, name) != "" {
		return ""
	}
	kernel := opts.KernelTypes
	if kernel == nil {
		k, err := opts.Cache.Kernel()
		if err != nil {
			return "" // no kernel BTF: the load says what the kernel says
		}
		kernel = k
	}
	if !hasKind(kernel, typeName, want) {
		return attachTargetMissing(ps.AttachTo, name)
	}
	return ""
}

// hasKind says whether kernel has a type of name of want's kind.
func hasKind(kernel *btf.Spec, name string, want btf.Type) bool {
	types, err := kernel.AnyTypesByName(name)
	if err != nil {
		return false
	}
	for _, t := range types {
		switch want.(type) {
		case *btf.Func:
			if _, ok := t.(*btf.Func); ok {
				return true
			}
		case *btf.Typedef:
			if _, ok := t.(*btf.Typedef); ok {
				return true
			}
		}
	}
	return false
}

// attachTargetMissing is the needs-value reason of a tracing program whose
// attach target the kernel's BTF lacks: a placeholder (libbpf-tools'
// SEC("fentry/dummy_file_open"), replaced with
// bpf_program__set_attach_target), or a function or tracepoint this kernel
// does not have, for which the tool's user space picks another program or
// target (biostacks: fentry/blk_account_io_start, tp_btf/block_io_start).
// Either way user space decides before load; the kernel gave no verdict.
func attachTargetMissing(target, prog string) string {
	return fmt.Sprintf("needs a value from user space: attach target %s is not in this kernel's BTF (a placeholder user space replaces before load, or one this kernel does not have: give the one to use with --attach-target %s=NAME)", target, prog)
}

// notes say which values were set, for the report.
func (ov ObjectValues) notes() []string {
	var notes []string
	for _, n := range slices.Sorted(maps.Keys(ov.Variables)) {
		notes = append(notes, fmt.Sprintf("variable %s set from user space", n))
	}
	for _, n := range slices.Sorted(maps.Keys(ov.MaxEntries)) {
		notes = append(notes, fmt.Sprintf("map %s: max_entries set to %d", n, ov.MaxEntries[n]))
	}
	for _, n := range slices.Sorted(maps.Keys(ov.AttachTargets)) {
		notes = append(notes, fmt.Sprintf("program %s: attach target set to %s", n, ov.AttachTargets[n]))
	}
	return notes
}
