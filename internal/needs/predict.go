package needs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Basis says what a verdict about one requirement on one kernel rests on.
type Basis string

const (
	// BasisProbed: the kernel's own probe result (a published matrix).
	BasisProbed Basis = "probed"
	// BasisVersion: the kernel's mainline version against the table's.
	BasisVersion Basis = "version"
	// BasisConfig: the kernel's config lacks an option the table names.
	BasisConfig Basis = "config"
	// BasisObject: no kernel loads it (a section with no program type).
	BasisObject Basis = "object"
)

// Missing is the first requirement of a program that a kernel lacks.
type Missing struct {
	Requirement Requirement `json:"requirement"`
	Kernel      string      `json:"kernel"`
	Basis       Basis       `json:"basis"`
	// Reason is the probe's reason or the config option, when Basis says so.
	Reason string `json:"reason,omitempty"`
}

// String reads as one line: "calls bpf_loop (5.17, e6f2dd0f8067) at
// loop.c:30; debian-5.10 lacks it".
func (m Missing) String() string {
	r := m.Requirement
	s := r.Why
	switch {
	case r.Version != "" && r.Commit != "":
		s += fmt.Sprintf(" (%s, %s)", r.Version, r.Commit)
	case r.Version != "":
		s += fmt.Sprintf(" (%s)", r.Version)
	}
	if r.Source != nil {
		s += " at " + r.Source.String()
	}
	switch m.Basis {
	case BasisObject:
		return s + "; no kernel loads it"
	case BasisConfig:
		if g := configGate(m.Reason); g != "" {
			return s + fmt.Sprintf("; %s lacks it (%s: %s is not set)", m.Kernel, g, m.Reason)
		}
		return s + fmt.Sprintf("; %s lacks it (%s is not set)", m.Kernel, m.Reason)
	}
	if m.Reason != "" {
		return s + fmt.Sprintf("; %s lacks it (%s)", m.Kernel, m.Reason)
	}
	return s + fmt.Sprintf("; %s lacks it", m.Kernel)
}

// Kernel is what a prediction knows about one kernel: its name and
// version, and where a matrix has them, its probed features and config.
type Kernel struct {
	Name    string
	Version catalog.Version
	// Features are keyed by result.Feature.Key(); nil when not probed.
	Features map[string]*result.Feature
	// Config is the kernel's config; nil when unknown.
	Config map[string]string
	// Digest is the sha256 of the kernel image, as the matrix has it.
	Digest string
	// Modules are what the kernel's modules provide; nil when unknown.
	Modules *Modules
}

// KernelFromInfo is a kernel known by its version alone (check and repro
// know the kernels they booted, not their probe results).
func KernelFromInfo(info result.Kernel) (Kernel, error) {
	v, err := catalog.ParseVersion(info.Version)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel %s: version %q: %w", info.Name, info.Version, err)
	}
	return Kernel{Name: info.Name, Version: v.Mainline()}, nil
}

// Lookup returns the program named name of progs (as Extract returns them).
func Lookup(progs []Program, name string) (Program, bool) {
	i, ok := slices.BinarySearchFunc(progs, name, func(p Program, n string) int { return strings.Compare(p.Name, n) })
	if !ok {
		return Program{}, false
	}
	return progs[i], true
}

// KernelFromResult indexes a kernel's probe results for Explain.
func KernelFromResult(kr *result.KernelResult) (Kernel, error) {
	v, err := catalog.ParseVersion(kr.Kernel.Version)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel %s: version %q: %w", kr.Kernel.Name, kr.Kernel.Version, err)
	}
	k := Kernel{Name: kr.Kernel.Name, Version: v.Mainline(), Config: kr.Config, Digest: kr.Kernel.Digest, Features: map[string]*result.Feature{}}
	for i := range kr.Features {
		f := &kr.Features[i]
		k.Features[f.Key()] = f
	}
	return k, nil
}

// Explain returns the first requirement of p that kernel k lacks: of all
// the missing ones, the one introduced last (the one an upgrade must
// reach), and of those the first used in the program. ok is false when k
// lacks nothing this package can see (the program may still be rejected for
// reasons a feature table cannot know, such as a missing NULL check).
//
// A probed feature decides over the version: a feature the kernel's probes
// found is there whatever the version says (backports), and one they found
// missing is missing. An inconclusive or unprobed feature falls back to the
// version and the config options of the table.
func Explain(p Program, k Kernel) (m Missing, ok bool) {
	return explain(p.Type, p.Requirements, k)
}

// ExplainMap is Explain for creating a map.
func ExplainMap(mp Map, k Kernel) (m Missing, ok bool) {
	return explain("", mp.Requirements, k)
}

func explain(progType string, reqs []Requirement, k Kernel) (m Missing, ok bool) {
	var best *Missing
	var bestV catalog.Version
	for _, r := range reqs {
		if r.Unloadable {
			return Missing{Requirement: r, Kernel: k.Name, Basis: BasisObject}, true
		}
		if r.Advisory && !liveOn(r, k) {
			continue
		}
		cand, lacks := lacks(progType, r, k)
		if !lacks {
			continue
		}
		v, _ := catalog.ParseVersion(r.Version)
		if best == nil || bestV.Less(v) {
			c := cand
			best, bestV = &c, v
		}
	}
	if best == nil {
		return Missing{}, false
	}
	return *best, true
}

// lacks decides one requirement on one kernel.
func lacks(progType string, r Requirement, k Kernel) (Missing, bool) {
	m := Missing{Requirement: r, Kernel: k.Name}
	if f := probed(progType, r, k); f != nil {
		switch f.Status {
		case result.Supported:
			return m, false
		case result.Unsupported:
			m.Basis = BasisProbed
			if f.Reason != nil && f.Reason.Kind != result.ReasonVersion {
				m.Reason = reasonText(f.Reason)
			}
			return m, true
		}
	}
	if r.Version != "" {
		if v, err := catalog.ParseVersion(r.Version); err == nil && k.Version.Less(v) {
			m.Basis = BasisVersion
			return m, true
		}
	}
	if k.Config != nil {
		for _, opt := range r.Config {
			if val := k.Config[opt]; val != "y" && val != "m" {
				m.Basis, m.Reason = BasisConfig, opt
				return m, true
			}
		}
	}
	if slices.Contains(r.Config, "CONFIG_BPF_JIT") {
		// Built in but off: the probed sysctl says the interpreter runs
		// every program.
		if f := k.Features[(&result.Feature{Kind: result.KindSystem, Name: "bpf_jit_enable"}).Key()]; f != nil && f.Status == result.Supported && f.Value == "0" {
			m.Basis, m.Reason = BasisProbed, "needs the JIT: net.core.bpf_jit_enable is 0"
			return m, true
		}
	}
	return m, false
}

// configGate says what an option stands for where that says more than its
// name (a no-BTF or interpreter-only kernel: many 4.x and embedded ones).
func configGate(opt string) string {
	switch opt {
	case "CONFIG_DEBUG_INFO_BTF":
		return "needs kernel BTF"
	case "CONFIG_BPF_JIT":
		return "needs the JIT"
	}
	return ""
}

// probed finds the kernel's probe result for a requirement; helpers were
// probed per program type.
func probed(progType string, r Requirement, k Kernel) *result.Feature {
	if k.Features == nil {
		return nil
	}
	f := result.Feature{Kind: r.Kind, Name: r.Name}
	if r.Kind == result.KindHelper {
		f.ProgramType = progType
	}
	return k.Features[f.Key()]
}

func reasonText(r *result.Reason) string {
	switch r.Kind {
	case result.ReasonConfig:
		if strings.Contains(r.Detail, "bpf_jit_enable") {
			// The JIT is built but switched off: the option is set.
			return r.Detail
		}
		if g := configGate(r.Config); g != "" {
			return g + ": " + r.Config + " is not set"
		}
		return r.Config + " is not set"
	case result.ReasonProgramType:
		if r.Detail != "" {
			return r.Detail
		}
		return "not offered to this program type"
	}
	if r.Detail != "" {
		return r.Detail
	}
	return string(r.Kind)
}

// Prediction is one program's verdict on one kernel of a matrix.
type Prediction struct {
	Kernel string `json:"kernel"`
	// Lacks is the first missing requirement; nil when nothing is missing.
	Lacks *Missing `json:"lacks,omitempty"`
	// Module is set when the kernel provides a kfunc or struct_ops type the
	// program uses only in a module: a load without the module loaded is
	// refused whatever else holds ("needs module"; check's needs_module).
	Module *ModuleNeed `json:"module,omitempty"`
	// Text is Module or Lacks as one line, or "nothing missing".
	Text string `json:"text"`
}

// Predict says, for every kernel of m, what p lacks there.
func Predict(p Program, kernels []Kernel) []Prediction {
	return predict(p.Type, p.Requirements, kernels)
}

// PredictMap says, for every kernel, what creating mp lacks there.
func PredictMap(mp Map, kernels []Kernel) []Prediction {
	return predict("", mp.Requirements, kernels)
}

func predict(progType string, reqs []Requirement, kernels []Kernel) []Prediction {
	out := make([]Prediction, 0, len(kernels))
	for _, k := range kernels {
		pr := Prediction{Kernel: k.Name, Text: "nothing missing"}
		if m, ok := explain(progType, reqs, k); ok {
			pr.Lacks, pr.Text = &m, m.String()
		}
		if k.Modules != nil {
			// As check decides: a load that uses what only a module
			// provides is refused without it, whatever else holds (Lacks
			// is kept).
			if n, ok := ModuleNeeded(reqs, *k.Modules); ok {
				pr.Module, pr.Text = &n, n.String()
			}
		}
		out = append(out, pr)
	}
	return out
}

// MatrixKernels indexes every kernel of a published matrix.
func MatrixKernels(m *result.Matrix) ([]Kernel, error) {
	out := make([]Kernel, 0, len(m.Kernels))
	for i := range m.Kernels {
		k, err := KernelFromResult(&m.Kernels[i])
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// liveOn: r is an advisory use in a branch that k's verifier walks (the
// helper whose existence opens it is in k: Requirement.LiveFrom).
func liveOn(r Requirement, k Kernel) bool {
	v, err := catalog.ParseVersion(r.LiveFrom)
	return r.LiveFrom != "" && err == nil && !k.Version.Less(v)
}
