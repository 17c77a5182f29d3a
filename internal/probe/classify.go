package probe

import (
	"fmt"
	"slices"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Outcome is what a probe observed, before it is explained.
type Outcome int

const (
	// OutcomeSupported: the load (or map, link, file) succeeded, or the
	// verifier got past the point where it decides availability.
	OutcomeSupported Outcome = iota
	// OutcomeNotSupported: the kernel rejected the feature (EINVAL, E2BIG,
	// "invalid func").
	OutcomeNotSupported
	// OutcomeNotInEnum: the kernel's BTF enum does not declare the feature,
	// so it was not loaded at all.
	OutcomeNotInEnum
	// OutcomeNotOffered: the helper exists but this program type may not
	// call it ("program of this type cannot use helper", "unknown func").
	OutcomeNotOffered
	// OutcomeSleepableOnly: the helper is offered only to sleepable
	// programs and this program type cannot be sleepable on this kernel.
	OutcomeSleepableOnly
	// OutcomeProgramTypeMissing: the program type the feature belongs to is
	// itself unsupported; the reason is copied from it.
	OutcomeProgramTypeMissing
	// OutcomePrivilege: EPERM before the verifier ran (capabilities, lockdown).
	OutcomePrivilege
	// OutcomeError: no conclusive answer; Err says why.
	OutcomeError
	// OutcomePresent: the kernel's BTF enum declares the feature but no
	// probe could judge it (no generic probe for its kind, or the generic
	// one failed for reasons that need not mean "missing"); Value says what
	// was seen. It is not a "yes": nothing was loaded, created or attached.
	OutcomePresent
)

// Observation is one raw probe result: the input of Classify. VM tests can
// build these by hand or take them from a recorded run.
type Observation struct {
	Kind        result.Kind
	Name        string
	ProgramType string // helpers: the program type probed
	// Requires names the program type an attach or link type depends on
	// (OutcomeProgramTypeMissing); for helpers ProgramType is used.
	Requires string
	Outcome  Outcome
	Err      string
	Value    string
	Detail   string
}

// Env is what the explanation of an outcome depends on.
type Env struct {
	Version Version
	// Arch is the kernel's architecture in the catalog's spelling.
	Arch string
	// Config is the kernel's config; nil when unknown.
	Config KernelConfig
	// JITOff says why the JIT is off although it is built in
	// ("net.core.bpf_jit_enable is 0"); "" when it is on or unknown.
	// Classify sets it from the bpf_jit_enable observation.
	JITOff string
}

// configGates name what a config option stands for where that says more
// than its name: the reason a no-BTF or interpreter-only kernel (many 4.x
// and embedded kernels) lacks a feature.
var configGates = map[string]string{
	"CONFIG_DEBUG_INFO_BTF": "needs kernel BTF",
	"CONFIG_BPF_JIT":        "needs the JIT",
	"CONFIG_SECURITYFS":     "needs securityfs",
}

// ConfigDetail is the sentence for a missing option: "needs kernel BTF
// (CONFIG_DEBUG_INFO_BTF)", "needs CONFIG_NET".
func ConfigDetail(opt string) string {
	if g, ok := configGates[opt]; ok {
		return g + " (" + opt + ")"
	}
	return "needs " + opt
}

// jitOff reads the bpf_jit_enable observation: 0 means the interpreter
// runs every program (the default before CONFIG_BPF_JIT_DEFAULT_ON).
func jitOff(obs []Observation) string {
	for _, o := range obs {
		if o.Kind == result.KindSystem && o.Name == "bpf_jit_enable" && o.Outcome == OutcomeSupported && o.Value == "0" {
			return "net.core.bpf_jit_enable is 0"
		}
	}
	return ""
}

// LookupSpec returns the table entry for a feature (features.Lookup).
func LookupSpec(kind result.Kind, name string) (Spec, bool) {
	return features.Lookup(kind, name)
}

// Classify turns observations into result features: a pure function of the
// observations and the kernel's version and config. Every Unsupported
// feature gets a Reason; one that should exist by version and config gets
// ReasonUnexplained and a Finding.
func Classify(env Env, obs []Observation) []result.Feature {
	if env.JITOff == "" {
		env.JITOff = jitOff(obs)
	}
	// Program types first: helpers, attach and link types copy their reason.
	progReason := map[string]*result.Reason{}
	order := make([]int, 0, len(obs))
	for i, o := range obs {
		if o.Kind == result.KindProgramType {
			order = append(order, i)
		}
	}
	for i, o := range obs {
		if o.Kind != result.KindProgramType {
			order = append(order, i)
		}
	}
	feats := make([]result.Feature, len(obs))
	for _, i := range order {
		o := obs[i]
		f := result.Feature{Kind: o.Kind, Name: o.Name, ProgramType: o.ProgramType, Value: o.Value}
		spec, _ := LookupSpec(o.Kind, o.Name)
		switch o.Outcome {
		case OutcomeSupported:
			f.Status = result.Supported
		case OutcomePresent:
			f.Status = result.Present
		case OutcomeError:
			f.Status = result.Inconclusive
			f.Error = o.Err
		case OutcomePrivilege:
			f.Status = result.Unsupported
			f.Reason = &result.Reason{Kind: result.ReasonPrivilege, Detail: detail(o, "operation not permitted")}
		case OutcomeNotOffered:
			// The kind says it all; a per-cell sentence would triple the
			// size of a result that crosses a serial line.
			f.Status = result.Unsupported
			f.Reason = notOffered(env, o)
		case OutcomeSleepableOnly:
			f.Status = result.Unsupported
			f.Reason = &result.Reason{Kind: result.ReasonProgramType,
				Detail: detail(o, fmt.Sprintf("%s is offered only to sleepable programs and %s programs cannot be sleepable on this kernel", o.Name, o.ProgramType))}
		case OutcomeProgramTypeMissing:
			f.Status = result.Unsupported
			pt := o.ProgramType
			if o.Requires != "" {
				pt = o.Requires
			}
			pr := progReason[pt]
			r := result.Reason{Kind: result.ReasonProgramType, Detail: "program type " + pt + " unsupported"}
			if pr != nil {
				r = result.Reason{Kind: pr.Kind, Version: pr.Version, Config: pr.Config, Detail: r.Detail}
			}
			f.Reason = &r
		case OutcomeNotSupported, OutcomeNotInEnum:
			f.Status = result.Unsupported
			f.Reason, f.Finding = explain(env, spec, o)
			if g, ok := gateFor(o.Name, o.ProgramType); ok && o.Kind == result.KindHelper && f.Reason.Kind == result.ReasonVersion && g.Version != "" {
				// The helper is missing, and it reached this program type
				// only in a later release still: that release is the gate.
				if gv, err := catalog.ParseVersion(g.Version); err == nil && env.Version.Less(gv) {
					f.Reason = &result.Reason{Kind: result.ReasonProgramType, Version: g.Version, Commit: g.Commit,
						Detail: "offered to " + o.ProgramType + " programs from " + g.Version + "; the helper itself came in " + spec.Version}
				}
			}
		}
		if o.Kind == result.KindProgramType && f.Status == result.Unsupported {
			progReason[o.Name] = f.Reason
		}
		feats[i] = f
	}
	return feats
}

// notOffered explains a helper the verifier did not offer to a program
// type: a config option the helper's func_proto case needs, or the release
// that opened it to the program type, where helperGates knows them.
func notOffered(env Env, o Observation) *result.Reason {
	r := &result.Reason{Kind: result.ReasonProgramType, Detail: o.Detail}
	g, ok := gateFor(o.Name, o.ProgramType)
	if !ok {
		return r
	}
	if g.Config != "" && env.Config != nil && !env.Config.Enabled(g.Config) {
		return &result.Reason{Kind: result.ReasonConfig, Config: g.Config, Detail: ConfigDetail(g.Config)}
	}
	if v, err := catalog.ParseVersion(g.Version); err == nil && env.Version.Less(v) {
		r.Version, r.Commit = g.Version, g.Commit
	}
	return r
}

func detail(o Observation, fallback string) string {
	if o.Detail != "" {
		return o.Detail
	}
	if o.Err != "" {
		return o.Err
	}
	return fallback
}

// explain says why a feature the kernel rejected is missing.
func explain(env Env, spec Spec, o Observation) (*result.Reason, string) {
	if spec.Version != "" {
		if v, err := catalog.ParseVersion(spec.Version); err == nil && env.Version.Less(v) {
			return &result.Reason{Kind: result.ReasonVersion, Version: spec.Version, Commit: spec.Commit,
				Detail: "introduced in " + spec.Version}, ""
		}
	}
	for _, a := range spec.Arch {
		if v, err := catalog.ParseVersion(a.Version); err == nil && a.Arch == env.Arch && env.Version.Less(v) {
			return &result.Reason{Kind: result.ReasonArch, Version: a.Version, Commit: a.Commit,
				Detail: a.Why}, ""
		}
	}
	if env.Config != nil {
		for _, opt := range spec.Config {
			if !env.Config.Enabled(opt) {
				return &result.Reason{Kind: result.ReasonConfig, Config: opt, Version: spec.Version,
					Detail: ConfigDetail(opt)}, ""
			}
		}
	}
	if env.JITOff != "" && slices.Contains(spec.Config, "CONFIG_BPF_JIT") {
		// Built in but switched off: every program runs in the
		// interpreter, which refuses what needs the JIT.
		return &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_BPF_JIT", Version: spec.Version,
			Detail: "needs the JIT (" + env.JITOff + ")"}, ""
	}
	r := &result.Reason{Kind: result.ReasonUnexplained, Version: spec.Version, Commit: spec.Commit}
	how := "rejected by the kernel"
	if o.Outcome == OutcomeNotInEnum {
		how = "not declared in the kernel's " + spec.Enum + " enum"
	}
	if o.Err != "" {
		how += " (" + o.Err + ")"
	}
	switch {
	case env.Config == nil && len(spec.Config) > 0:
		r.Detail = fmt.Sprintf("%s; kernel config unknown, may need %v", how, spec.Config)
	default:
		r.Detail = how
	}
	finding := fmt.Sprintf("%s %s: %s on %s although introduced in %s", spec.Kind, spec.Name, how, env.Version, spec.Version)
	if env.Config != nil && len(spec.Config) > 0 {
		finding += fmt.Sprintf(" and %v is set", spec.Config)
	}
	return r, finding
}
