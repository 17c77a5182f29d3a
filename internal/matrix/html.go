package matrix

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"strconv"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

//go:embed page.html
var pageTemplate []byte

// logExcerptLines is how much of a verifier log the page embeds per cell;
// the whole log stays in the log file next to the results.
const logExcerptLines = 40

// Page data, kept compact because 20 kernels × 7000 rows is 140,000 cells:
// a row is [group, name, statuses, notes], statuses one character per
// kernel (S supported/accepted, U unsupported/rejected, I inconclusive,
// P present: declared by the kernel's BTF and judged by no probe, - not
// probed; lower case marks a finding), notes an index per kernel into
// a table of distinct cell details (0: none), or 0 when the row has none.
type pageData struct {
	Title     string       `json:"title"`
	Generated string       `json:"generated"`
	Schema    int          `json:"schema"`
	Kernels   []pageKernel `json:"kernels"`
	Kinds     []string     `json:"kinds"`
	Groups    []pageGroup  `json:"groups"`
	Rows      [][]any      `json:"rows"`
	Notes     []pageNote   `json:"notes"`
	Pairs     [][2]int     `json:"pairs"`
}

type pageKernel struct {
	Name           string `json:"n"`
	Release        string `json:"r,omitempty"`
	Version        string `json:"v,omitempty"`
	Arch           string `json:"a,omitempty"`
	Source         string `json:"s,omitempty"`
	PackageVersion string `json:"pv,omitempty"`
	Digest         string `json:"dg,omitempty"`
	Agent          string `json:"ag,omitempty"`
	Boot           string `json:"bt,omitempty"`
	Probe          string `json:"pt,omitempty"`
	Verifier       string `json:"vt,omitempty"`
	Error          string `json:"e,omitempty"`
	Cached         bool   `json:"c,omitempty"`
	Bpftool        string `json:"b,omitempty"`
	// Counts: supported, unsupported, inconclusive, present.
	Counts [4]int `json:"k"`
}

type pageGroup struct {
	Kind  int    `json:"k"`
	Title string `json:"t"`
	PType string `json:"p,omitempty"`
}

// pageNote is everything the detail panel shows for one cell beyond its status.
type pageNote struct {
	Text       string `json:"t,omitempty"` // shown in the cell (system value, instruction count)
	Reason     string `json:"r,omitempty"`
	ReasonKind string `json:"rk,omitempty"`
	Version    string `json:"v,omitempty"`
	Commit     string `json:"c,omitempty"`
	Config     string `json:"o,omitempty"`
	Detail     string `json:"d,omitempty"`
	Error      string `json:"e,omitempty"`
	Value      string `json:"val,omitempty"`
	Finding    string `json:"f,omitempty"`
	Bpftool    string `json:"b,omitempty"`
	Expected   string `json:"x,omitempty"`
	Errno      string `json:"no,omitempty"`
	Summary    string `json:"s,omitempty"`
	Insns      int    `json:"i,omitempty"`
	PeakStates int    `json:"ps,omitempty"`
	VerifyTime string `json:"vtm,omitempty"`
	LogFile    string `json:"lf,omitempty"`
	Log        string `json:"l,omitempty"`
}

type noteTable struct {
	index map[string]int
	notes []pageNote
}

func (t *noteTable) add(n pageNote) int {
	if n == (pageNote{}) {
		return 0
	}
	b, _ := json.Marshal(n)
	if i, ok := t.index[string(b)]; ok {
		return i
	}
	t.notes = append(t.notes, n)
	t.index[string(b)] = len(t.notes) - 1
	return len(t.notes) - 1
}

func featureNote(f *result.Feature) pageNote {
	n := pageNote{Error: f.Error, Value: f.Value, Bpftool: f.Bpftool, Errno: f.Errno}
	if f.Value != "" {
		n.Text = truncate(f.Value, 12)
	}
	if f.Reason != nil {
		n.Reason, n.ReasonKind = ReasonText(f.Reason), string(f.Reason.Kind)
		n.Version, n.Commit, n.Config, n.Detail = f.Reason.Version, f.Reason.Commit, f.Reason.Config, f.Reason.Detail
	}
	if isFinding(f) {
		n.Finding = findingText(f)
	}
	return n
}

func verifierNote(v *result.VerifierOutcome) pageNote {
	n := pageNote{Errno: v.Errno, Summary: v.Summary, Insns: v.Insns, PeakStates: v.PeakStates,
		VerifyTime: v.VerifyTime, LogFile: v.LogFile, Log: logExcerpt(v.Log, logExcerptLines),
		Error: v.Inconclusive, Finding: verifierMismatch(v)}
	if v.Expected != nil {
		n.Expected = acceptWord(*v.Expected)
	}
	if r := v.Reason; r != nil {
		n.ReasonKind, n.Version, n.Commit, n.Config = string(r.Kind), r.Version, r.Commit, r.Config
		n.Detail = verifierReasonText(r)
	}
	if v.Accepted && v.Insns > 0 {
		n.Text = strconv.Itoa(v.Insns)
	}
	if !v.Accepted && v.Inconclusive == "" {
		n.Reason = rejectText(v)
	}
	return n
}

func statusChar(v verdict, finding bool) byte {
	c := byte('I')
	switch v {
	case verdictYes:
		c = 'S'
	case verdictNo:
		c = 'U'
	}
	if finding {
		c += 'a' - 'A'
	}
	return c
}

// featureStatusChar is statusChar for a feature, with P for present: its
// verdict is unknown like inconclusive, but the page tells them apart.
func featureStatusChar(f *result.Feature) byte {
	c := statusChar(featureVerdict(f), isFinding(f))
	if f.Status == result.Present {
		c = byte('P') | c&('a'-'A')
	}
	return c
}

func buildPage(m *result.Matrix) *pageData {
	md := newModel(m)
	d := &pageData{Title: "BPF feature matrix", Schema: m.Schema, Pairs: [][2]int{}}
	if !m.Generated.IsZero() {
		d.Generated = m.Generated.UTC().Format("2006-01-02 15:04 MST")
	}
	for _, k := range md.kernels {
		pk := pageKernel{
			Name: k.Kernel.Name, Release: k.Kernel.Release, Version: k.Kernel.Version, Arch: k.Kernel.Arch,
			Source: k.Kernel.Source, PackageVersion: k.Kernel.PackageVersion, Digest: k.Kernel.Digest, Agent: k.Agent,
			Error: k.Error, Cached: k.Cached,
		}
		for dst, dur := range map[*string]result.Duration{&pk.Boot: k.BootTime, &pk.Probe: k.ProbeTime, &pk.Verifier: k.VerifierTime} {
			if dur != 0 {
				*dst = seconds(dur)
			}
		}
		if k.Bpftool != nil {
			switch {
			case k.Bpftool.Ran:
				pk.Bpftool = fmt.Sprintf("%s: %d disagreements with our loads", orDefault(k.Bpftool.Version, "ran"), k.Bpftool.Disagreements)
				for i, c := range bpftoolCauses(k) {
					sep := "; "
					if i == 0 {
						sep = ": "
					}
					what := c.Cause
					if c.Text != c.Cause {
						what = c.Text + " (" + c.Cause + ")"
					}
					pk.Bpftool += fmt.Sprintf("%s%s: %d cells", sep, what, c.Cells)
				}
			case k.Bpftool.Error != "":
				pk.Bpftool = "not run: " + k.Bpftool.Error
			}
		}
		for _, f := range k.Features {
			switch f.Status {
			case result.Supported:
				pk.Counts[0]++
			case result.Unsupported:
				pk.Counts[1]++
			case result.Present:
				pk.Counts[3]++
			default:
				pk.Counts[2]++
			}
		}
		d.Kernels = append(d.Kernels, pk)
	}
	for _, p := range md.pairs {
		d.Pairs = append(d.Pairs, [2]int{p.a, p.b})
	}
	kinds := map[string]int{}
	kindIndex := func(k string) int {
		if i, ok := kinds[k]; ok {
			return i
		}
		kinds[k] = len(d.Kinds)
		d.Kinds = append(d.Kinds, k)
		return kinds[k]
	}
	notes := &noteTable{index: map[string]int{}, notes: []pageNote{{}}}
	n := len(md.kernels)
	for _, g := range md.groups {
		gi := len(d.Groups)
		d.Groups = append(d.Groups, pageGroup{Kind: kindIndex(string(g.kind)), Title: g.title(), PType: g.ptype})
		for _, r := range g.rows {
			st := make([]byte, n)
			ns := make([]int, n)
			hasNote := false
			for ki, f := range r.cells {
				if f == nil {
					st[ki] = '-'
					continue
				}
				st[ki] = featureStatusChar(f)
				ns[ki] = notes.add(featureNote(f))
				hasNote = hasNote || ns[ki] != 0
			}
			d.Rows = append(d.Rows, pageRow(gi, r.name, st, ns, hasNote))
		}
	}
	if len(md.verifier) > 0 {
		gi := len(d.Groups)
		d.Groups = append(d.Groups, pageGroup{Kind: kindIndex(KindVerifier), Title: "Verifier corpus"})
		for _, r := range md.verifier {
			st := make([]byte, n)
			ns := make([]int, n)
			hasNote := false
			for ki, v := range r.cells {
				if v == nil {
					st[ki] = '-'
					continue
				}
				st[ki] = statusChar(verifierVerdict(v), verifierMismatch(v) != "")
				ns[ki] = notes.add(verifierNote(v))
				hasNote = hasNote || ns[ki] != 0
			}
			d.Rows = append(d.Rows, pageRow(gi, r.name, st, ns, hasNote))
		}
	}
	d.Notes = notes.notes
	return d
}

func pageRow(group int, name string, st []byte, notes []int, hasNote bool) []any {
	if !hasNote {
		return []any{group, name, string(st), 0}
	}
	return []any{group, name, string(st), notes}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// HTML renders index.html: one self-contained page (inline CSS and JS, the
// data embedded as JSON, no network access) that renders only the rows in
// view, so it stays fast with 20 kernels and the full helper list.
func HTML(m *result.Matrix) ([]byte, error) {
	data, err := json.Marshal(buildPage(m))
	if err != nil {
		return nil, fmt.Errorf("encode page data: %w", err)
	}
	// json.Marshal escapes <, > and &, so the data cannot close its <script>.
	out := bytes.Replace(pageTemplate, []byte("{{DATA}}"), data, 1)
	out = bytes.Replace(out, []byte("{{TITLE}}"), []byte(html.EscapeString("BPF feature matrix")), 1)
	return out, nil
}
