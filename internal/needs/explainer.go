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
