package matrix

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Cell symbols, shared by Markdown and HTML: every status has a symbol so
// the reports read without colour.
const (
	symSupported    = "✓"
	symUnsupported  = "✗"
	symInconclusive = "?"
	symPresent      = "○"
	symMissing      = "–"
	symFinding      = "!"
)

// footnotes numbers distinct notes in order of first use.
type footnotes struct {
	index map[string]int
	texts []string
}

func (fn *footnotes) ref(text string) string {
	if fn.index == nil {
		fn.index = map[string]int{}
	}
	n, ok := fn.index[text]
	if !ok {
		fn.texts = append(fn.texts, text)
		n = len(fn.texts)
		fn.index[text] = n
	}
	return superscript(n)
}

func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	ds := []rune(digits)
	var b strings.Builder
	for _, c := range strconv.Itoa(n) {
		b.WriteRune(ds[c-'0'])
	}
	return b.String()
}

// mdEscape makes s safe inside a Markdown table cell.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "<", "&lt;")
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Markdown renders matrix.md: a kernel table, the findings, architecture
// differences, one table per feature group (kernels as columns), the
// verifier corpus, and the footnotes that explain every ✗ and ?.
func Markdown(m *result.Matrix) []byte {
	md := newModel(m)
	var b bytes.Buffer
	fn := &footnotes{}
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	nFeatures := len(md.featureRows())
	w("# BPF feature matrix\n\n")
	w("Generated %s (schema %d): %d kernels, %d features, %d verifier cases.\n\n",
		m.Generated.UTC().Format("2006-01-02 15:04 MST"), m.Schema, len(md.kernels), nFeatures, len(md.verifier))
	w("Legend: %s supported, %s unsupported (the footnote says why), %s inconclusive (the footnote has the error; never counted as unsupported), %s present: the kernel declares it (BTF enum member) and no probe could judge it (never counted as supported), %s not probed, %s a finding (see Findings). Verifier cells: %s accepted with instructions processed, %s rejected with the reason.\n\n",
		symSupported, symUnsupported, symInconclusive, symPresent, symMissing, symFinding, symSupported, symUnsupported)

	w("## Kernels\n\n")
	w("| Kernel | Release | Version | Arch | Source | Boot | Probes | Verifier | Features ✓/✗/?/○ | bpftool disagreements | Status |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range md.kernels {
		var sup, uns, inc, pre int
		for _, f := range k.Features {
			switch f.Status {
			case result.Supported:
				sup++
			case result.Unsupported:
				uns++
			case result.Present:
				pre++
			default:
				inc++
			}
		}
		status := "ok"
		if k.Cached {
			status = "ok (cached)"
		}
		if k.Error != "" {
			status = "**failed**: " + mdEscape(k.Error)
		}
		bt := "not run"
		if k.Bpftool != nil {
			switch {
			case k.Bpftool.Ran:
				bt = strconv.Itoa(k.Bpftool.Disagreements)
				var parts []string
				for _, c := range bpftoolCauses(k) {
					parts = append(parts, fmt.Sprintf("%d %s", c.Cells, c.Cause))
				}
				if len(parts) > 0 {
					bt += ": " + mdEscape(strings.Join(parts, ", "))
				}
			case k.Bpftool.Error != "":
				bt = "not run: " + mdEscape(truncate(k.Bpftool.Error, 80))
			}
		}
		src := k.Kernel.Source
		// Debian sources already name the package version; OCI ones do not
		// name the manifest digest.
		if k.Kernel.PackageVersion != "" && !strings.Contains(src, k.Kernel.PackageVersion) {
			src += " " + k.Kernel.PackageVersion
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %d/%d/%d/%d | %s | %s |\n",
			mdEscape(k.Kernel.Name), mdEscape(k.Kernel.Release), mdEscape(k.Kernel.Version), mdEscape(k.Kernel.Arch),
			mdEscape(strings.TrimSpace(src)), seconds(k.BootTime), seconds(k.ProbeTime), seconds(k.VerifierTime),
			sup, uns, inc, pre, bt, status)
	}
	w("\n")

	writeFindings(&b, md)
	writeBpftool(&b, md)
	writeArchDiffs(&b, md, fn)

	header := func(first string) {
		w("| %s |", first)
		for _, k := range md.kernels {
			label := mdEscape(k.Kernel.Name)
			if k.Kernel.Arch != "" {
				label += "<br>" + mdEscape(k.Kernel.Arch)
			}
			if k.Error != "" {
				label += "<br>" + symFinding + " failed" + fn.ref(k.Kernel.Name+" failed: "+k.Error)
			}
			w(" %s |", label)
		}
		w("\n|---|")
		for range md.kernels {
			w(":-:|")
		}
		w("\n")
	}

	lastKind := result.Kind("")
	for _, g := range md.groups {
		if g.kind == result.KindHelper {
			if lastKind != result.KindHelper {
				w("## Helpers\n\nHelpers are probed per program type: a helper can be available to one program type and not another.\n\n")
			}
			w("### Program type %s\n\n", mdEscape(g.ptype))
			header("Helper")
		} else if g.kind == result.KindKfunc && g.ptype != "" {
			w("### Kfuncs: program type %s\n\n", mdEscape(g.ptype))
			header("Kfunc")
		} else {
			w("## %s\n\n", kindTitle(g.kind))
			header("Name")
		}
		lastKind = g.kind
		for _, r := range g.rows {
			w("| %s |", mdEscape(r.name))
			for _, f := range r.cells {
				w(" %s |", featureCellMarkdown(f, fn))
			}
			w("\n")
		}
		w("\n")
	}

	if len(md.verifier) > 0 {
		w("## Verifier\n\nEach case is a small program for one verifier capability (the corpus in `bpf/`): %s accepted (instructions processed), %s rejected (the footnote has the verifier's reason).\n\n", symSupported, symUnsupported)
		header("Case")
		for _, r := range md.verifier {
			w("| %s |", mdEscape(r.name))
			for _, v := range r.cells {
				w(" %s |", verifierCellMarkdown(v, fn))
			}
			w("\n")
		}
		w("\n")
	}

	if len(fn.texts) > 0 {
		w("## Notes\n\n")
		for i, t := range fn.texts {
			w("%s %s  \n", superscript(i+1), mdEscape(t))
		}
	}
	return b.Bytes()
}

func seconds(d result.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s", d.Std().Seconds())
}

func featureCellMarkdown(f *result.Feature, fn *footnotes) string {
	if f == nil {
		return symMissing
	}
	var s string
	switch f.Status {
	case result.Supported:
		s = symSupported
		if f.Value != "" {
			s = mdEscape(truncate(f.Value, 24))
		}
	case result.Unsupported:
		note := reasonFootnote(f.Reason)
		if f.Errno != "" {
			note += " (" + f.Errno + ")"
		}
		s = symUnsupported + fn.ref(note)
	case result.Present:
		s = symPresent + fn.ref(presentText(f))
	default:
		s = symInconclusive + fn.ref("inconclusive: "+f.Error)
	}
	if isFinding(f) {
		s += " " + symFinding
	}
	return s
}

func verifierCellMarkdown(v *result.VerifierOutcome, fn *footnotes) string {
	if v == nil {
		return symMissing
	}
	var s string
	switch {
	case v.Inconclusive != "":
		s = symInconclusive + fn.ref("inconclusive: "+v.Inconclusive)
	case v.Accepted:
		s = symSupported
		if v.Insns > 0 {
			s += " " + strconv.Itoa(v.Insns)
		}
		if why := verifierReasonText(v.Reason); why != "" {
			s += fn.ref(why)
		}
	default:
		why := rejectText(v)
		if r := verifierReasonText(v.Reason); r != "" {
			why += " (expected: " + r + ")"
		}
		s = symUnsupported + fn.ref(why)
	}
	if verifierMismatch(v) != "" {
		s += " " + symFinding
	}
	return s
}

// rejectText says why the verifier rejected a program: errno and summary line.
func rejectText(v *result.VerifierOutcome) string {
	parts := []string{"rejected"}
	if v.Errno != "" {
		parts = append(parts, "("+v.Errno+")")
	}
	s := strings.Join(parts, " ")
	if v.Summary != "" {
		s += ": " + v.Summary
	}
	return s
}

func writeFindings(b *bytes.Buffer, md *model) {
	var lines []string
	for ki, k := range md.kernels {
		if k.Error != "" {
			lines = append(lines, fmt.Sprintf("- **%s**: kernel failed: %s", mdEscape(k.Kernel.Name), mdEscape(k.Error)))
		}
		for _, g := range md.groups {
			for _, r := range g.rows {
				if f := r.cells[ki]; isFinding(f) {
					lines = append(lines, fmt.Sprintf("- **%s**: %s: %s", mdEscape(k.Kernel.Name), mdEscape(featureLabel(r.kind, r.ptype, r.name)), mdEscape(findingText(f))))
				}
			}
		}
		for _, r := range md.verifier {
			if why := verifierMismatch(r.cells[ki]); why != "" {
				lines = append(lines, fmt.Sprintf("- **%s**: verifier case %s: %s", mdEscape(k.Kernel.Name), mdEscape(r.name), mdEscape(why)))
			}
		}
	}
	fmt.Fprintf(b, "## Findings\n\n")
	if len(lines) == 0 {
		fmt.Fprintf(b, "None: every outcome matches its version and config expectation.\n\n")
		return
	}
	fmt.Fprintf(b, "Outcomes that contradict the version and config expectation (%d):\n\n%s\n\n", len(lines), strings.Join(lines, "\n"))
}

// writeArchDiffs lists, for every kernel version present on two
// architectures, the features and verifier cases whose outcome differs.
func writeArchDiffs(b *bytes.Buffer, md *model, fn *footnotes) {
	if len(md.pairs) == 0 {
		return
	}
	fmt.Fprintf(b, "## Architecture differences\n\nKernels of the same version on different architectures, and every feature whose outcome differs between them (inconclusive and unprobed cells are not differences).\n\n")
	for _, p := range md.pairs {
		ka, kb := md.kernels[p.a], md.kernels[p.b]
		fmt.Fprintf(b, "### %s: %s (%s) vs %s (%s)\n\n", mdEscape(p.version), mdEscape(ka.Kernel.Name), mdEscape(ka.Kernel.Arch), mdEscape(kb.Kernel.Name), mdEscape(kb.Kernel.Arch))
		var rows []string
		for _, r := range md.featureRows() {
			va, vb := featureVerdict(r.cells[p.a]), featureVerdict(r.cells[p.b])
			if va != verdictUnknown && vb != verdictUnknown && va != vb {
				rows = append(rows, fmt.Sprintf("| %s | %s | %s |", mdEscape(featureLabel(r.kind, r.ptype, r.name)), featureCellMarkdown(r.cells[p.a], fn), featureCellMarkdown(r.cells[p.b], fn)))
			}
		}
		for _, r := range md.verifier {
			va, vb := verifierVerdict(r.cells[p.a]), verifierVerdict(r.cells[p.b])
			if va != verdictUnknown && vb != verdictUnknown && va != vb {
				rows = append(rows, fmt.Sprintf("| verifier %s | %s | %s |", mdEscape(r.name), verifierCellMarkdown(r.cells[p.a], fn), verifierCellMarkdown(r.cells[p.b], fn)))
			}
		}
		if len(rows) == 0 {
			fmt.Fprintf(b, "No differences.\n\n")
			continue
		}
		fmt.Fprintf(b, "| Feature | %s | %s |\n|---|:-:|:-:|\n%s\n\n", mdEscape(ka.Kernel.Arch), mdEscape(kb.Kernel.Arch), strings.Join(rows, "\n"))
	}
}

// writeBpftool groups each kernel's disagreements with `bpftool feature
// probe` by cause, one row per cause: what bpftool gets wrong, and on how
// many cells of each kernel. Our loads are the ground truth.
func writeBpftool(b *bytes.Buffer, md *model) {
	counts := map[string][]int{}
	texts := map[string]string{}
	var order []string
	total := map[string]int{}
	for ki, k := range md.kernels {
		for _, c := range bpftoolCauses(k) {
			if counts[c.Cause] == nil {
				counts[c.Cause] = make([]int, len(md.kernels))
				texts[c.Cause] = c.Text
				order = append(order, c.Cause)
			}
			counts[c.Cause][ki] = c.Cells
			total[c.Cause] += c.Cells
		}
	}
	if len(order) == 0 {
		return
	}
	slices.SortStableFunc(order, func(x, y string) int { return total[y] - total[x] })
	fmt.Fprintf(b, "## bpftool cross-check\n\nWhere `bpftool feature probe` disagrees with our loads (the ground truth), grouped by what bpftool gets wrong: cells per kernel.\n\n| What bpftool gets wrong |")
	for _, k := range md.kernels {
		fmt.Fprintf(b, " %s |", mdEscape(k.Kernel.Name))
	}
	fmt.Fprintf(b, "\n|---|")
	for range md.kernels {
		fmt.Fprintf(b, "--:|")
	}
	fmt.Fprintf(b, "\n")
	for _, cause := range order {
		label := mdEscape(cause)
		if t := texts[cause]; t != "" && t != cause {
			label = "**" + label + "**: " + mdEscape(t)
		}
		fmt.Fprintf(b, "| %s |", label)
		for _, n := range counts[cause] {
			fmt.Fprintf(b, " %d |", n)
		}
		fmt.Fprintf(b, "\n")
	}
	fmt.Fprintf(b, "\n")
}
