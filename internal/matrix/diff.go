package matrix

import (
	"fmt"
	"io"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// ChangeKind classifies one difference between two matrices.
type ChangeKind string

const (
	// Gained: unsupported (or rejected) before, supported (accepted) now.
	Gained ChangeKind = "gained"
	// Lost: supported (accepted) before, unsupported (rejected) now, or a
	// kernel that booted before and fails now. The only kind that makes
	// `bpfmatrix diff` exit 1.
	Lost ChangeKind = "lost"
	// Changed: everything that is not evidence of a gain or loss: a cell
	// that became or stopped being inconclusive, a feature or case probed
	// on one side only, a kernel added or removed, a new finding.
	Changed ChangeKind = "changed"
)

// Change is one difference for one kernel.
type Change struct {
	Kind ChangeKind
	// What is "kernel", a feature kind, or "verifier".
	What        string
	Name        string
	ProgramType string
	Old, New    string
	// Detail explains the new state: the reason, error or verifier summary.
	Detail string
}

func (c Change) label() string {
	if c.What == "kernel" {
		return "kernel"
	}
	return featureLabel(result.Kind(c.What), c.ProgramType, c.Name)
}

// KernelDiff holds the changes for one kernel, matched by name.
type KernelDiff struct {
	Kernel  string
	Changes []Change
}

// Diff is the comparison of two matrices.
type Diff struct {
	Kernels []KernelDiff
}

// Count returns how many changes of kind k there are.
func (d *Diff) Count(k ChangeKind) int {
	n := 0
	for _, kd := range d.Kernels {
		for _, c := range kd.Changes {
			if c.Kind == k {
				n++
			}
		}
	}
	return n
}

// Losses is Count(Lost): non-zero means a regression.
func (d *Diff) Losses() int { return d.Count(Lost) }

// Compare lists what changed from old to new, per kernel (matched by name,
// in new's order, then kernels only old has). Inconclusive is never a
// loss: a probe that could not answer is not evidence that a feature went
// away. Present (declared by the kernel's BTF, judged by no probe) is
// neither a yes nor a no either: supported -> present and present ->
// unsupported are Changed, never Lost, and unsupported -> present is
// Changed, never Gained. Only a yes against a no is a gain or a loss.
func Compare(old, new *result.Matrix) *Diff {
	oldBy := map[string]*result.KernelResult{}
	for i := range old.Kernels {
		oldBy[old.Kernels[i].Kernel.Name] = &old.Kernels[i]
	}
	d := &Diff{}
	seen := map[string]bool{}
	for i := range new.Kernels {
		nk := &new.Kernels[i]
		seen[nk.Kernel.Name] = true
		ok := oldBy[nk.Kernel.Name]
		var changes []Change
		if ok == nil {
			changes = []Change{{Kind: Changed, What: "kernel", Name: nk.Kernel.Name, Old: "absent", New: "added"}}
		} else {
			changes = compareKernel(ok, nk)
		}
		if len(changes) > 0 {
			d.Kernels = append(d.Kernels, KernelDiff{Kernel: nk.Kernel.Name, Changes: changes})
		}
	}
	for i := range old.Kernels {
		if name := old.Kernels[i].Kernel.Name; !seen[name] {
			d.Kernels = append(d.Kernels, KernelDiff{Kernel: name, Changes: []Change{{Kind: Changed, What: "kernel", Name: name, Old: "present", New: "removed"}}})
		}
	}
	return d
}

func compareKernel(ok, nk *result.KernelResult) []Change {
	switch {
	case ok.Error == "" && nk.Error != "":
		return []Change{{Kind: Lost, What: "kernel", Name: nk.Kernel.Name, Old: "ok", New: "failed", Detail: nk.Error}}
	case ok.Error != "" && nk.Error != "":
		return nil
	case ok.Error != "" && nk.Error == "":
		// Nothing to compare features against: the old run has none.
		return []Change{{Kind: Changed, What: "kernel", Name: nk.Kernel.Name, Old: "failed", New: "ok", Detail: ok.Error}}
	}
	var out []Change
	oldF := map[string]*result.Feature{}
	for i := range ok.Features {
		oldF[ok.Features[i].Key()] = &ok.Features[i]
	}
	newKeys := map[string]bool{}
	oldList, newList := hasKfuncList(ok), hasKfuncList(nk)
	for i := range nk.Features {
		nf := &nk.Features[i]
		newKeys[nf.Key()] = true
		of := oldF[nf.Key()]
		if of == nil && oldList && isKfuncListed(nf) {
			out = append(out, kfuncMembership(nil, nf))
			continue
		}
		if c, ok := compareFeature(of, nf); ok {
			out = append(out, c)
		}
	}
	for i := range ok.Features {
		if of := &ok.Features[i]; !newKeys[of.Key()] {
			if newList && isKfuncListed(of) {
				out = append(out, kfuncMembership(of, nil))
				continue
			}
			c, _ := compareFeature(of, nil)
			out = append(out, c)
		}
	}
	oldV := map[string]*result.VerifierOutcome{}
	for i := range ok.Verifier {
		oldV[verifierKey(&ok.Verifier[i])] = &ok.Verifier[i]
	}
	newCases := map[string]bool{}
	for i := range nk.Verifier {
		nv := &nk.Verifier[i]
		newCases[verifierKey(nv)] = true
		if c, ok := compareVerifier(oldV[verifierKey(nv)], nv); ok {
			out = append(out, c)
		}
	}
	for i := range ok.Verifier {
		if ov := &ok.Verifier[i]; !newCases[verifierKey(ov)] {
			c, _ := compareVerifier(ov, nil)
			out = append(out, c)
		}
	}
	return out
}

// isKfuncListed says whether f is a row of a kernel's own kfunc list (a
// kfunc feature without a program type).
func isKfuncListed(f *result.Feature) bool {
	return f.Kind == result.KindKfunc && f.ProgramType == ""
}

// hasKfuncList says whether a kernel's result lists its kfuncs, so that a
// kfunc missing from it is missing from the kernel.
func hasKfuncList(k *result.KernelResult) bool {
	for i := range k.Features {
		if isKfuncListed(&k.Features[i]) && k.Features[i].Status != result.Unsupported {
			return true
		}
	}
	return false
}

// kfuncMembership is the change for a kfunc one kernel lists and the other
// does not: the kernel's BTF gained or lost it, which is a gain or loss
// whatever a probe made of it (a kfunc the new kernel dropped breaks the
// programs that call it).
func kfuncMembership(of, nf *result.Feature) Change {
	if nf != nil {
		return Change{Kind: Gained, What: string(result.KindKfunc), Name: nf.Name, Old: "absent", New: "listed, " + string(nf.Status),
			Detail: nf.Value}
	}
	return Change{Kind: Lost, What: string(result.KindKfunc), Name: of.Name, Old: "listed, " + string(of.Status), New: "absent",
		Detail: "not in the new kernel's kfunc list"}
}

// CompareKernels lists what changed from one kernel's result to another's
// (two versions of a kernel under different names: debian-7.2 against
// debian-7.3), as one KernelDiff named "OLD -> NEW".
func CompareKernels(old, new *result.KernelResult) *Diff {
	d := &Diff{}
	if changes := compareKernel(old, new); len(changes) > 0 {
		d.Kernels = append(d.Kernels, KernelDiff{Kernel: old.Kernel.Name + " -> " + new.Kernel.Name, Changes: changes})
	}
	return d
}

func featureState(f *result.Feature) string {
	if f == nil {
		return "not probed"
	}
	return string(f.Status)
}

func compareFeature(of, nf *result.Feature) (Change, bool) {
	ref := nf
	if ref == nil {
		ref = of
	}
	c := Change{What: string(ref.Kind), Name: ref.Name, ProgramType: ref.ProgramType, Old: featureState(of), New: featureState(nf)}
	if nf != nil {
		switch nf.Status {
		case result.Unsupported:
			c.Detail = ReasonText(nf.Reason)
		case result.Inconclusive:
			c.Detail = nf.Error
		case result.Present:
			c.Detail = presentText(nf)
		}
	}
	ov, nv := featureVerdict(of), featureVerdict(nf)
	switch {
	case ov == verdictYes && nv == verdictNo:
		c.Kind = Lost
	case ov == verdictNo && nv == verdictYes:
		c.Kind = Gained
	case c.Old != c.New:
		c.Kind = Changed
	case isFinding(nf) && !isFinding(of):
		c.Kind, c.New, c.Detail = Changed, c.New+", new finding", findingText(nf)
	default:
		return c, false
	}
	return c, true
}

func verifierState(v *result.VerifierOutcome) string {
	switch {
	case v == nil:
		return "not run"
	case v.Inconclusive != "":
		return "inconclusive"
	}
	return acceptWord(v.Accepted)
}

func compareVerifier(ov, nv *result.VerifierOutcome) (Change, bool) {
	ref := nv
	if ref == nil {
		ref = ov
	}
	c := Change{What: KindVerifier, Name: verifierKey(ref), Old: verifierState(ov), New: verifierState(nv)}
	if nv != nil {
		switch {
		case nv.Inconclusive != "":
			c.Detail = nv.Inconclusive
		case !nv.Accepted:
			c.Detail = rejectText(nv)
		}
	}
	o, n := verifierVerdict(ov), verifierVerdict(nv)
	switch {
	case o == verdictYes && n == verdictNo:
		c.Kind = Lost
	case o == verdictNo && n == verdictYes:
		c.Kind = Gained
	case c.Old != c.New:
		c.Kind = Changed
	case verifierMismatch(nv) != "" && verifierMismatch(ov) == "":
		c.Kind, c.New, c.Detail = Changed, c.New+", new finding", verifierMismatch(nv)
	default:
		return c, false
	}
	return c, true
}

func (d *Diff) summary() string {
	return fmt.Sprintf("%d gained, %d lost, %d other changes in %d kernels", d.Count(Gained), d.Count(Lost), d.Count(Changed), len(d.Kernels))
}

// WriteText writes the diff for a terminal: per kernel, losses first.
func (d *Diff) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(d.Kernels) == 0 {
		b.WriteString("no differences\n")
	}
	for _, kd := range d.Kernels {
		fmt.Fprintf(&b, "%s:\n", kd.Kernel)
		for _, kind := range []ChangeKind{Lost, Gained, Changed} {
			for _, c := range kd.Changes {
				if c.Kind != kind {
					continue
				}
				fmt.Fprintf(&b, "  %-7s %s: %s -> %s", kind, c.label(), c.Old, c.New)
				if c.Detail != "" {
					fmt.Fprintf(&b, " (%s)", firstLine(c.Detail))
				}
				b.WriteString("\n")
			}
		}
	}
	if len(d.Kernels) > 0 {
		fmt.Fprintf(&b, "%s\n", d.summary())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the diff as Markdown (for a pull-request comment or
// a job summary): one table per kernel.
func (d *Diff) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## bpfmatrix diff\n\n")
	if len(d.Kernels) == 0 {
		b.WriteString("No differences.\n")
	} else {
		fmt.Fprintf(&b, "%s.\n\n", d.summary())
	}
	for _, kd := range d.Kernels {
		fmt.Fprintf(&b, "### %s\n\n| Change | Feature | Before | After | Detail |\n|---|---|---|---|---|\n", mdEscape(kd.Kernel))
		for _, kind := range []ChangeKind{Lost, Gained, Changed} {
			for _, c := range kd.Changes {
				if c.Kind != kind {
					continue
				}
				mark := string(kind)
				if kind == Lost {
					mark = "**lost**"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mark, mdEscape(c.label()), c.Old, c.New, mdEscape(firstLine(c.Detail)))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
