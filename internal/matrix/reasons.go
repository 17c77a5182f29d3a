package matrix

import (
	"sort"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// ExplainAcrossKernels completes the reasons of unsupported helper cells
// with what the other kernels of the same architecture in m show, which no
// single kernel can know:
//
//   - A helper the kernel lacks is "introduced in X" by its own probe. When
//     no later kernel of the run offers it to the program type and the
//     newest kernel that has the helper says it is not offered to that
//     type, the gate is the program type, not the version.
//   - A helper the kernel has but does not offer to a program type gets the
//     version of the first later kernel of the run that offers it, as an
//     upper bound ("offered to this program type by 6.12"), unless the
//     probe already named the release that opened it.
//
// Kernels that failed, and cells that are not unsupported, are left alone.
// It is idempotent, and it depends only on the kernels' own probe results:
// a reason it replaced keeps the probe's own in Reason.Probe, and every pass
// starts from those, so that the pass over merged shards (each passed over
// fewer kernels) gives the reasons of one run over all their kernels.
func ExplainAcrossKernels(m *result.Matrix) {
	for i := range m.Kernels {
		for j := range m.Kernels[i].Features {
			restoreProbeReason(&m.Kernels[i].Features[j])
		}
	}
	type col struct {
		kr *result.KernelResult
		v  catalog.Version
	}
	byArch := map[string][]col{}
	for i := range m.Kernels {
		kr := &m.Kernels[i]
		v, err := catalog.ParseVersion(kr.Kernel.Version)
		if kr.Error != "" || err != nil {
			continue
		}
		byArch[kr.Kernel.Arch] = append(byArch[kr.Kernel.Arch], col{kr, v})
	}
	type cell struct {
		kind           result.Kind
		progType, name string
	}
	for _, cols := range byArch {
		sort.SliceStable(cols, func(a, b int) bool { return cols[a].v.Less(cols[b].v) })
		// byKey holds each cell's feature per column (nil where a kernel
		// has no such cell): one map lookup per cell, not one per pair
		// of kernels (a merge of 20 kernels has 20 x 12,000 cells).
		byKey := map[cell][]*result.Feature{}
		for i, c := range cols {
			for j := range c.kr.Features {
				f := &c.kr.Features[j]
				if !acrossKernels(f) {
					continue
				}
				key := cell{f.Kind, f.ProgramType, f.Name}
				row := byKey[key]
				if row == nil {
					row = make([]*result.Feature, len(cols))
					byKey[key] = row
				}
				row[i] = f
			}
		}
		for key, row := range byKey {
			for i, f := range row {
				if f == nil || f.Status != result.Unsupported || f.Reason == nil {
					continue
				}
				c := cols[i]
				// The first later kernel that offers the helper, and the
				// newest one that has it without offering it.
				var firstOK, newestNotOffered *col
				for j := i + 1; j < len(cols); j++ {
					g := row[j]
					if g == nil {
						continue
					}
					if g.Status == result.Supported && firstOK == nil {
						firstOK = &cols[j]
					}
					if g.Status == result.Unsupported && g.Reason != nil && g.Reason.Kind == result.ReasonProgramType && g.Reason.Version == "" {
						newestNotOffered = &cols[j]
					}
				}
				r := f.Reason
				switch {
				case r.Kind == result.ReasonVersion && firstOK == nil && newestNotOffered != nil:
					f.Reason = replaced(&result.Reason{Kind: result.ReasonProgramType,
						Detail: "not offered to " + offeredTo(key.kind, key.progType) + " on any kernel of this run up to " +
							newestNotOffered.kr.Kernel.Name + "; the " + string(key.kind) + " itself came in " + r.Version}, r)
				case r.Kind == result.ReasonProgramType && firstOK != nil:
					if r.Version != "" {
						if rv, err := catalog.ParseVersion(r.Version); err == nil && c.v.Less(rv) && !firstOK.v.Less(rv) {
							continue // the probe named the release, and it fits
						}
					}
					f.Reason = replaced(&result.Reason{Kind: result.ReasonProgramType, Version: firstOK.kr.Kernel.Version,
						Detail: "offered to " + offeredTo(key.kind, key.progType) + " by " + firstOK.kr.Kernel.Version +
							" (" + firstOK.kr.Kernel.Name + ", the first kernel of this run that offers it)"}, r)
				}
			}
		}
	}
}

// acrossKernels: the cells whose program_type reason is completed across
// kernels: helpers and kfuncs per program type, and struct_ops members'
// sleepable rows (a program type's offer that a later kernel makes).
func acrossKernels(f *result.Feature) bool {
	switch f.Kind {
	case result.KindHelper:
		return true
	case result.KindKfunc:
		return f.ProgramType != ""
	case result.KindStructOps:
		return strings.HasSuffix(f.Name, ":sleepable")
	}
	return false
}

// offeredTo names what a later kernel offers the cell to.
func offeredTo(kind result.Kind, progType string) string {
	if kind == result.KindStructOps {
		return "sleepable struct_ops programs"
	}
	return progType + " programs"
}

// restoreProbeReason puts back the reason a kernel's own probe gave a cell
// whose reason ExplainAcrossKernels replaced.
func restoreProbeReason(f *result.Feature) {
	if f.Reason != nil && f.Reason.Probe != nil {
		f.Reason = f.Reason.Probe
	}
}

// replaced is the new reason r with the probe's own one kept in it.
func replaced(r, probe *result.Reason) *result.Reason {
	if probe.Probe != nil {
		probe = probe.Probe
	}
	r.Probe = probe
	return r
}

// ReasonViolations checks every unsupported cell's reason against the later
// kernels of the same architecture in m: a version reason must name a
// version above the kernel's own, and a program_type reason on a cell a
// later kernel supports must carry a version above the kernel's and no
// later than that kernel's. It returns one line per violation.
func ReasonViolations(m *result.Matrix) []string {
	type at struct {
		kr *result.KernelResult
		v  catalog.Version
	}
	type cell struct {
		kind           result.Kind
		progType, name string
		arch           string
	}
	supported := map[cell][]at{}
	var all []at
	for i := range m.Kernels {
		kr := &m.Kernels[i]
		v, err := catalog.ParseVersion(kr.Kernel.Version)
		if kr.Error != "" || err != nil {
			continue
		}
		all = append(all, at{kr, v})
		for _, f := range kr.Features {
			if f.Status == result.Supported {
				k := cell{f.Kind, f.ProgramType, f.Name, kr.Kernel.Arch}
				supported[k] = append(supported[k], at{kr, v})
			}
		}
	}
	var out []string
	for _, a := range all {
		for _, f := range a.kr.Features {
			if f.Status != result.Unsupported || f.Reason == nil {
				continue
			}
			label := a.kr.Kernel.Name + " " + string(f.Kind) + " " + f.ProgramType + "/" + f.Name
			rv, rerr := catalog.ParseVersion(f.Reason.Version)
			var firstLater *at
			for _, s := range supported[cell{f.Kind, f.ProgramType, f.Name, a.kr.Kernel.Arch}] {
				if a.v.Less(s.v) && (firstLater == nil || s.v.Less(firstLater.v)) {
					s := s
					firstLater = &s
				}
			}
			switch f.Reason.Kind {
			case result.ReasonVersion:
				if rerr != nil || !a.v.Less(rv) {
					out = append(out, label+": version reason "+f.Reason.Version+" is not above "+a.v.String())
				}
			case result.ReasonProgramType:
				if firstLater == nil {
					continue
				}
				if rerr != nil || !a.v.Less(rv) || firstLater.v.Less(rv) {
					out = append(out, label+": program_type reason without a version in ("+a.v.String()+", "+firstLater.v.String()+"], though "+firstLater.kr.Kernel.Name+" supports it")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
