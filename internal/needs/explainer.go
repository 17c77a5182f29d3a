package needs

import (
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Explainer answers for one object, read once, why a kernel rejected one
// of its programs or maps: what check and repro print next to the kernel's
// own message (which stays).
type Explainer struct {
	progs []Program
	maps  []Map
}

// NewExplainer extracts the requirements of every program and map of spec.
func NewExplainer(spec *ebpf.CollectionSpec) (*Explainer, error) {
	progs, err := Extract(spec)
	if err != nil {
		return nil, err
	}
	maps, err := ExtractMaps(spec)
	if err != nil {
		return nil, err
	}
	return &Explainer{progs: progs, maps: maps}, nil
}

// Program explains a rejection of program name by kernel, known by its
// name and version (result.Kernel as check reports it): one line, or false
// when the program lacks nothing there that the table knows.
func (e *Explainer) Program(name string, kernel result.Kernel) (string, bool) {
	return e.ProgramWithConfig(name, kernel, nil)
}

// ProgramWithConfig is Program for a kernel whose config is known (a
// built or file kernel's .config): an option it lacks is named too, with
// what it stands for ("needs the JIT: CONFIG_BPF_JIT is not set").
func (e *Explainer) ProgramWithConfig(name string, kernel result.Kernel, config map[string]string) (string, bool) {
	p, ok := Lookup(e.progs, name)
	if !ok {
		return "", false
	}
	k, err := KernelFromInfo(kernel)
	if err != nil {
		return "", false
	}
	k.Config = config
	m, ok := Explain(p, k)
	if !ok {
		return "", false
	}
	return m.String(), true
}

// Map is Program for a map the kernel refused to create.
func (e *Explainer) Map(name string, kernel result.Kernel) (string, bool) {
	return e.MapWithConfig(name, kernel, nil)
}

// MapWithConfig is Map for a kernel whose config is known.
func (e *Explainer) MapWithConfig(name string, kernel result.Kernel, config map[string]string) (string, bool) {
	i, ok := slices.BinarySearchFunc(e.maps, name, func(m Map, n string) int { return strings.Compare(m.Name, n) })
	if !ok {
		return "", false
	}
	k, err := KernelFromInfo(kernel)
	if err != nil {
		return "", false
	}
	k.Config = config
	m, ok := ExplainMap(e.maps[i], k)
	if !ok {
		return "", false
	}
	return m.String(), true
}

// ProgramModule says which module of mods program name needs (a kfunc
// the module defines, a struct_ops type it registers); false when none.
func (e *Explainer) ProgramModule(name string, mods Modules) (ModuleNeed, bool) {
	p, ok := Lookup(e.progs, name)
	if !ok {
		return ModuleNeed{}, false
	}
	return ModuleNeeded(p.Requirements, mods)
}

// MapModule is ProgramModule for a map (a struct_ops map of a type a
// module registers).
func (e *Explainer) MapModule(name string, mods Modules) (ModuleNeed, bool) {
	i, ok := slices.BinarySearchFunc(e.maps, name, func(m Map, n string) int { return strings.Compare(m.Name, n) })
	if !ok {
		return ModuleNeed{}, false
	}
	return ModuleNeeded(e.maps[i].Requirements, mods)
}

// UsesModules says whether anything in the object could come from a kernel
// module (it calls kfuncs or implements struct_ops types): only then is a
// kernel's module index worth reading.
func (e *Explainer) UsesModules() bool {
	for _, p := range e.progs {
		for _, r := range p.Requirements {
			if r.Kind == KindKfunc || r.Kind == KindStructOps {
				return true
			}
		}
	}
	for _, m := range e.maps {
		for _, r := range m.Requirements {
			if r.Kind == KindStructOps {
				return true
			}
		}
	}
	return false
}
