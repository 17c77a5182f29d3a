package object

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

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
	// Error is set when the object could not be parsed at all.
	Error string `json:"error,omitempty"`
	// Programs holds one outcome per program, sorted by name.
	Programs []result.VerifierOutcome `json:"programs,omitempty"`
	// Maps holds one outcome per map, sorted by name.
	Maps []MapOutcome `json:"maps,omitempty"`
	// Notes say what was changed to load the object (pins stripped).
	Notes []string `json:"notes,omitempty"`
}

// MapOutcome says whether the kernel created one map.
type MapOutcome struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Created bool   `json:"created"`
	Error   string `json:"error,omitempty"`
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
}

// Load loads the object at path into the running kernel. The caller must
// have raised RLIMIT_MEMLOCK (kernels before 5.11).
func Load(path string, opts LoadOptions) ObjectReport {
	rep := ObjectReport{Path: path}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		rep.Error = fmt.Sprintf("parse %s: %v", path, err)
		return rep
	}
	if opts.Cache == nil {
		opts.Cache = btf.NewCache()
	}
	rep.Notes = stripPinning(spec)
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
		out := verifier.LoadProgram(spec, name, vopts)
		out.Object = path
		rep.Programs = append(rep.Programs, out)
	}
	return rep
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
func createMap(spec *ebpf.CollectionSpec, name string, opts verifier.Options) MapOutcome {
	ms := spec.Maps[name]
	out := MapOutcome{Name: name, Type: ms.Type.String()}
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
