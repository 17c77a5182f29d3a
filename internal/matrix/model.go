package matrix

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// kindOrder is the order of feature groups in every report. Helpers come
// last because they are by far the largest group (grouped by program type).
var kindOrder = []result.Kind{
	result.KindProgramType,
	result.KindMapType,
	result.KindAttachType,
	result.KindLinkType,
	result.KindMisc,
	result.KindSystem,
	result.KindObserve,
	result.KindHelper,
	result.KindBTF,
	result.KindStructOps,
	result.KindKfunc,
}

// KindVerifier labels verifier-corpus rows in the HTML page and the JSON
// Lines stream. It is not a result.Kind: verifier outcomes are a separate
// list in the schema.
const KindVerifier = "verifier"

var kindTitles = map[result.Kind]string{
	result.KindProgramType: "Program types",
	result.KindMapType:     "Map types",
	result.KindAttachType:  "Attach types",
	result.KindLinkType:    "Link types",
	result.KindMisc:        "Misc features",
	result.KindSystem:      "System state",
	result.KindObserve:     "Attach and observe",
	result.KindHelper:      "Helpers",
	result.KindBTF:         "BTF features",
	result.KindStructOps:   "struct_ops types (TYPE.MEMBER:sleepable: may the member be a sleepable program)",
	result.KindKfunc:       "Kfuncs (the kernel's list)",
}

// perProgramType says whether a kind's features are probed per program
// type (a group per program type, like helpers).
func perProgramType(k result.Kind, ptype string) bool {
	return k == result.KindHelper || (k == result.KindKfunc && ptype != "")
}

func kindTitle(k result.Kind) string {
	if t, ok := kindTitles[k]; ok {
		return t
	}
	return string(k)
}

// featureRow is one feature across all kernels.
type featureRow struct {
	key   string
	kind  result.Kind
	ptype string
	name  string
	cells []*result.Feature // per kernel; nil: not probed there
}

// featureGroup is a run of rows with the same kind (and program type, for helpers).
type featureGroup struct {
	kind  result.Kind
	ptype string
	rows  []*featureRow
}

func (g *featureGroup) title() string {
	if g.kind == result.KindHelper {
		return "Helpers: " + g.ptype
	}
	if g.kind == result.KindKfunc && g.ptype != "" {
		return "Kfuncs: " + g.ptype
	}
	return kindTitle(g.kind)
}

// verifierRow is one verifier case across all kernels.
type verifierRow struct {
	name  string
	cells []*result.VerifierOutcome
}

// archPair is two kernels of the same mainline version on different architectures.
type archPair struct {
	version string
	a, b    int // kernel indexes
}

// model is the kernel-by-feature table every renderer draws from.
type model struct {
	m        *result.Matrix
	kernels  []*result.KernelResult
	groups   []*featureGroup
	verifier []*verifierRow
	pairs    []archPair
}

func verifierKey(v *result.VerifierOutcome) string { return v.Case }

// newModel groups the features of all kernels into rows. Row order inside a
// group is the order of first appearance (the probes' own order), so a
// feature only newer kernels have lands after the older ones.
func newModel(m *result.Matrix) *model {
	md := &model{m: m}
	for i := range m.Kernels {
		md.kernels = append(md.kernels, &m.Kernels[i])
	}
	n := len(md.kernels)
	rows := map[string]*featureRow{}
	groups := map[string]*featureGroup{}
	var groupOrder []*featureGroup
	for ki, k := range md.kernels {
		for fi := range k.Features {
			f := &k.Features[fi]
			key := f.Key()
			r := rows[key]
			if r == nil {
				r = &featureRow{key: key, kind: f.Kind, ptype: f.ProgramType, name: f.Name, cells: make([]*result.Feature, n)}
				rows[key] = r
				gk := string(f.Kind)
				if perProgramType(f.Kind, f.ProgramType) {
					gk += "/" + f.ProgramType
				}
				g := groups[gk]
				if g == nil {
					g = &featureGroup{kind: f.Kind}
					if perProgramType(f.Kind, f.ProgramType) {
						g.ptype = f.ProgramType
					}
					groups[gk] = g
					groupOrder = append(groupOrder, g)
				}
				g.rows = append(g.rows, r)
			}
			r.cells[ki] = f
		}
	}
	// Stable order: known kinds first in kindOrder, unknown kinds after, in
	// order of appearance; helper groups in order of appearance.
	for _, kind := range kindOrder {
		for _, g := range groupOrder {
			if g.kind == kind {
				md.groups = append(md.groups, g)
			}
		}
	}
	for _, g := range groupOrder {
		if !knownKind(g.kind) {
			md.groups = append(md.groups, g)
		}
	}

	vrows := map[string]*verifierRow{}
	for ki, k := range md.kernels {
		for vi := range k.Verifier {
			v := &k.Verifier[vi]
			key := verifierKey(v)
			r := vrows[key]
			if r == nil {
				r = &verifierRow{name: key, cells: make([]*result.VerifierOutcome, n)}
				vrows[key] = r
				md.verifier = append(md.verifier, r)
			}
			r.cells[ki] = v
		}
	}

	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			a, b := md.kernels[i].Kernel, md.kernels[j].Kernel
			if a.Version != "" && a.Version == b.Version && a.Arch != b.Arch {
				md.pairs = append(md.pairs, archPair{version: a.Version, a: i, b: j})
			}
		}
	}
	return md
}

func knownKind(k result.Kind) bool {
	for _, o := range kindOrder {
		if o == k {
			return true
		}
	}
	return false
}

// featureRows returns every feature row in report order.
func (md *model) featureRows() []*featureRow {
	var out []*featureRow
	for _, g := range md.groups {
		out = append(out, g.rows...)
	}
	return out
}

// verdict collapses a status to yes/no/unknown for comparisons; inconclusive
// and missing cells never count as "no".
type verdict int

const (
	verdictUnknown verdict = iota
	verdictYes
	verdictNo
)

// presentText is a present cell's note, the same in every report:
// "present, not probed: BPF_LINK_TYPE_TRACING_MULTI = 15 in ...".
func presentText(f *result.Feature) string {
	const prefix = "present, not probed"
	if strings.HasPrefix(f.Value, prefix) {
		return firstLine(f.Value)
	}
	if f.Value == "" {
		return prefix
	}
	return prefix + ": " + firstLine(f.Value)
}

// featureVerdict: a present cell (declared by the kernel's BTF, judged by no
// probe) is unknown, like inconclusive: never a yes, never a no.
func featureVerdict(f *result.Feature) verdict {
	if f == nil {
		return verdictUnknown
	}
	switch f.Status {
	case result.Supported:
		return verdictYes
	case result.Unsupported:
		return verdictNo
	}
	return verdictUnknown
}

func verifierVerdict(v *result.VerifierOutcome) verdict {
	if v == nil || v.Inconclusive != "" {
		return verdictUnknown
	}
	if v.Accepted {
		return verdictYes
	}
	return verdictNo
}

// ReasonText renders an unsupported feature's reason as one phrase, the same
// way in every report: "introduced in 6.9 (commit 1234567890ab)", "needs
// CONFIG_BPF_LIRC_MODE2".
func ReasonText(r *result.Reason) string {
	if r == nil {
		return "no reason recorded"
	}
	var s string
	switch r.Kind {
	case result.ReasonVersion:
		s = "introduced in " + orUnknown(r.Version)
		if r.Commit != "" {
			s += " (commit " + shortCommit(r.Commit) + ")"
		}
	case result.ReasonConfig:
		s = "needs " + orUnknown(r.Config)
		if strings.HasPrefix(r.Detail, "needs ") {
			// The probe's sentence says what the option stands for
			// ("needs the JIT (net.core.bpf_jit_enable is 0)").
			s = r.Detail
		}
	case result.ReasonPrivilege:
		s = "needs privilege"
	case result.ReasonArch:
		s = "not available on this architecture"
		if r.Version != "" {
			// A feature that reached this architecture later than
			// mainline's first one (probe.ArchMin).
			s = "introduced in " + r.Version + " on this architecture"
			if r.Commit != "" {
				s += " (commit " + shortCommit(r.Commit) + ")"
			}
		}
	case result.ReasonProgramType:
		s = "not offered to this program type"
		if r.Version != "" && r.Commit != "" {
			// The release that opened the helper to the program type
			// (probe's helperGates); without a commit the version is the
			// run's bound, which Detail words.
			s = "offered to this program type from " + r.Version + " (commit " + shortCommit(r.Commit) + ")"
		}
	case result.ReasonUnexplained:
		s = "unexplained (expected by version and config)"
	case result.ReasonBackport:
		s = "backported to stable " + orUnknown(r.Version)
	default:
		s = string(r.Kind)
	}
	if r.Kind != result.ReasonConfig && r.Config != "" {
		s += ", needs " + r.Config
	}
	switch {
	case r.Detail == "":
	case strings.Contains(r.Detail, s):
		// The probe's own sentence already says it ("program type lirc_mode2
		// is unsupported: needs CONFIG_BPF_LIRC_MODE2").
		s = r.Detail
	default:
		s += ": " + r.Detail
	}
	return s
}

// verifierReasonText renders a verifier outcome's reason: why the kernel
// is expected to do what it did, beyond being new enough. Backport and arch
// reasons carry their whole sentence in Detail ("loads, cannot attach:
// arm64 attaches it from 6.4 (...)").
func verifierReasonText(r *result.Reason) string {
	if r == nil {
		return ""
	}
	if (r.Kind == result.ReasonBackport || r.Kind == result.ReasonArch) && r.Detail != "" {
		return string(r.Kind) + ": " + r.Detail
	}
	return ReasonText(r)
}

// reasonFootnote is ReasonText for Markdown footnotes: without the
// per-feature detail for privilege and program-type reasons, which would
// otherwise make one footnote per cell ("the kernel does not offer
// bpf_probe_read to socket_filter programs" restates the row and column).
// The detail stays in matrix.json, the JSON Lines and the HTML panel.
func reasonFootnote(r *result.Reason) string {
	if r != nil && (r.Kind == result.ReasonProgramType || r.Kind == result.ReasonPrivilege) && r.Detail != "" {
		c := *r
		c.Detail = ""
		return ReasonText(&c)
	}
	return ReasonText(r)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown version"
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// isFinding says whether a feature outcome is a finding: flagged by the
// probe, or unsupported without an explanation.
func isFinding(f *result.Feature) bool {
	return f != nil && (f.Finding != "" || (f.Status == result.Unsupported && f.Reason != nil && f.Reason.Kind == result.ReasonUnexplained))
}

func findingText(f *result.Feature) string {
	if f.Finding != "" {
		return f.Finding
	}
	return "unsupported: " + ReasonText(f.Reason)
}

// verifierMismatch returns why a verifier outcome is a finding, or "".
func verifierMismatch(v *result.VerifierOutcome) string {
	if v == nil {
		return ""
	}
	if v.Finding != "" {
		return v.Finding
	}
	if v.Inconclusive == "" && v.Expected != nil && *v.Expected != v.Accepted {
		return fmt.Sprintf("expected %s, got %s", acceptWord(*v.Expected), acceptWord(v.Accepted))
	}
	return ""
}

func acceptWord(ok bool) string {
	if ok {
		return "accepted"
	}
	return "rejected"
}

// featureLabel names a feature for humans: "helper bpf_loop (kprobe)".
func featureLabel(kind result.Kind, ptype, name string) string {
	if ptype != "" {
		return fmt.Sprintf("%s %s (%s)", kind, name, ptype)
	}
	return fmt.Sprintf("%s %s", kind, name)
}

// kernelLabel names a kernel column: "debian-6.1 (6.1.0-40-cloud-amd64, x86_64)".
func kernelLabel(k result.Kernel) string {
	var parts []string
	if k.Release != "" {
		parts = append(parts, k.Release)
	}
	if k.Arch != "" {
		parts = append(parts, k.Arch)
	}
	if len(parts) == 0 {
		return k.Name
	}
	return k.Name + " (" + strings.Join(parts, ", ") + ")"
}

// bpftoolCauses returns a kernel's disagreements with bpftool grouped by
// cause: the agent's own grouping (BpftoolCheck.Causes), or, for a result
// from an agent that recorded none, the causes counted from the features'
// labels ("supported (misread refusal)"), each named by its label.
func bpftoolCauses(k *result.KernelResult) []result.BpftoolCause {
	if k.Bpftool == nil || !k.Bpftool.Ran {
		return nil
	}
	if len(k.Bpftool.Causes) > 0 {
		return k.Bpftool.Causes
	}
	n := map[string]int{}
	var order []string
	for _, f := range k.Features {
		if f.Bpftool == "" {
			continue
		}
		cause := "other"
		if i := strings.Index(f.Bpftool, " ("); i >= 0 {
			cause = strings.TrimSuffix(f.Bpftool[i+2:], ")")
		}
		if n[cause] == 0 {
			order = append(order, cause)
		}
		n[cause]++
	}
	var out []result.BpftoolCause
	for _, c := range order {
		out = append(out, result.BpftoolCause{Cause: c, Text: c, Cells: n[c]})
	}
	slices.SortStableFunc(out, func(a, b result.BpftoolCause) int { return b.Cells - a.Cells })
	return out
}
