package matrix

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// minimalMatrix is a hand-built matrix for renderer unit tests only: the
// smallest values that exercise every cell kind (supported, unsupported by
// version/config, inconclusive, present, finding, system value, verifier accepted and
// rejected and mismatched, an arch pair, a kernel that failed to boot). It
// is not a fixture of real behaviour: the browser, JUnit and diff tests use
// files captured from real runs under testdata/.
func minimalMatrix() *result.Matrix {
	yes, no := true, false
	kernel := func(name, version, arch string) result.Kernel {
		return result.Kernel{Name: name, Release: version + ".0-minimal", Version: version, Arch: arch}
	}
	return &result.Matrix{
		Schema:    result.SchemaVersion,
		Generated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Kernels: []result.KernelResult{
			{
				Schema: result.SchemaVersion, Kernel: kernel("k-a", "6.1", "x86_64"),
				BootTime: result.Duration(2 * time.Second),
				Features: []result.Feature{
					{Kind: result.KindMapType, Name: "ringbuf", Status: result.Supported},
					{Kind: result.KindMapType, Name: "arena", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonVersion, Version: "6.9", Commit: "317460317a02a1af512697e6e964298dedd8a163"}},
					{Kind: result.KindProgramType, Name: "lirc_mode2", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_BPF_LIRC_MODE2"}},
					{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_loop", Status: result.Supported},
					{Kind: result.KindHelper, ProgramType: "xdp", Name: "bpf_loop", Status: result.Inconclusive, Error: "load program: some error"},
					{Kind: result.KindSystem, Name: "jit_enable", Status: result.Supported, Value: "1"},
					// The Value as a 7.3 run wrote it (~/.cache/bpfmatrix/results).
					{Kind: result.KindLinkType, Name: "tracing_multi", Status: result.Present, Value: presentTracingMulti},
				},
				Verifier: []result.VerifierOutcome{
					{Case: "bpf_loop", Accepted: true, Expected: &yes, Insns: 42},
					{Case: "oob_map_value", Accepted: false, Expected: &no, Errno: "EACCES", Summary: "invalid access to map value", Log: "0: (b7) r0 = 0\ninvalid access to map value\n"},
				},
			},
			{
				Schema: result.SchemaVersion, Kernel: kernel("k-a-arm64", "6.1", "arm64"),
				Features: []result.Feature{
					{Kind: result.KindMapType, Name: "ringbuf", Status: result.Supported},
					{Kind: result.KindMapType, Name: "arena", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonVersion, Version: "6.9", Commit: "317460317a02a1af512697e6e964298dedd8a163"}},
					{Kind: result.KindProgramType, Name: "lirc_mode2", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_BPF_LIRC_MODE2"}},
					{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_loop", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonUnexplained}, Finding: "unsupported on 6.1 although introduced in 5.17"},
					{Kind: result.KindSystem, Name: "jit_enable", Status: result.Supported, Value: "0"},
				},
				Verifier: []result.VerifierOutcome{
					{Case: "bpf_loop", Accepted: false, Expected: &yes, Errno: "EINVAL", Summary: "unknown func bpf_loop#181"},
					{Case: "oob_map_value", Inconclusive: "load object: no BTF"},
				},
			},
			{Schema: result.SchemaVersion, Kernel: kernel("k-broken", "6.12", "x86_64"), Error: "boot: qemu exited with status 1"},
		},
	}
}

const presentTracingMulti = "present, not probed: BPF_LINK_TYPE_TRACING_MULTI = 15 in the kernel's enum bpf_link_type"

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*result.Matrix)
		want   string // "" valid
	}{
		{"minimal is valid", func(*result.Matrix) {}, ""},
		{"wrong schema", func(m *result.Matrix) { m.Schema = 99 }, "schema 99"},
		{"unsupported without reason", func(m *result.Matrix) { m.Kernels[0].Features[1].Reason = nil }, "unsupported without a reason"},
		{"inconclusive without error", func(m *result.Matrix) { m.Kernels[0].Features[4].Error = "" }, "inconclusive without an error"},
		{"present without value", func(m *result.Matrix) { m.Kernels[0].Features[6].Value = "" }, "link_type/tracing_multi: present without a value"},
		{"helper without program type", func(m *result.Matrix) { m.Kernels[0].Features[3].ProgramType = "" }, "helper without program type"},
		{"unknown status", func(m *result.Matrix) { m.Kernels[0].Features[0].Status = "maybe" }, `unknown status "maybe"`},
		{"unknown kind", func(m *result.Matrix) { m.Kernels[0].Features[0].Kind = "gadget" }, `unknown kind "gadget"`},
		{"duplicate kernel", func(m *result.Matrix) { m.Kernels[1].Kernel.Name = "k-a" }, "listed twice"},
		{"duplicate feature", func(m *result.Matrix) { m.Kernels[0].Features[1] = m.Kernels[0].Features[0] }, "ringbuf: listed twice"},
		{"empty kernel without error", func(m *result.Matrix) { m.Kernels[2].Error = "" }, "no features, no verifier outcomes and no error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := minimalMatrix()
			tc.mutate(m)
			err := Validate(m)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	good, err := JSON(minimalMatrix())
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		input string
		ok    bool
	}{
		{"round trip", string(good), true},
		{"unknown field", strings.Replace(string(good), `"schema": 1,`, `"schema": 1, "surprise": true,`, 1), false},
		{"trailing data", string(good) + "{}", false},
		{"not json", "<html>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(strings.NewReader(tc.input))
			if !tc.ok {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			again, err := JSON(m)
			require.NoError(t, err)
			assert.Equal(t, string(good), string(again))
		})
	}
}

func TestMarkdown(t *testing.T) {
	md := string(Markdown(minimalMatrix()))
	for _, want := range []string{
		"| Name | k-a<br>x86_64 | k-a-arm64<br>arm64 | k-broken<br>x86_64<br>! failed",
		"| arena | ✗⁵ | ✗⁵ | – |",
		"⁵ introduced in 6.9 (commit 317460317a02)",
		"needs CONFIG_BPF_LIRC_MODE2",
		"### Program type kprobe",
		"inconclusive: load program: some error",
		"| jit_enable | 1 | 0 | – |",
		"○ present: the kernel declares it (BTF enum member) and no probe could judge it (never counted as supported)",
		"| Features ✓/✗/?/○ |",
		"| 3/2/1/1 |",
		"| tracing_multi | ○",
		"present, not probed: BPF_LINK_TYPE_TRACING_MULTI = 15 in the kernel's enum bpf_link_type",
		"## Verifier",
		"| bpf_loop | ✓ 42 | ✗",
		"unknown func bpf_loop#181",
		"## Findings",
		"**k-a-arm64**: helper bpf_loop (kprobe): unsupported on 6.1 although introduced in 5.17",
		"**k-a-arm64**: verifier case bpf_loop: expected accepted, got rejected",
		"**k-broken**: kernel failed: boot: qemu exited with status 1",
		"## Architecture differences",
		"### 6.1: k-a (x86_64) vs k-a-arm64 (arm64)",
		"| helper bpf_loop (kprobe) | ✓ |",
	} {
		assert.Contains(t, md, want)
	}
	assert.NotContains(t, md, "| map_type arena", "same outcome on both arches is not an arch difference")
}

func TestJUnitCounts(t *testing.T) {
	m := minimalMatrix()
	b, err := JUnit(m)
	require.NoError(t, err)
	var doc JUnitSuites
	require.NoError(t, xml.Unmarshal(b, &doc))
	// 7+2 cases on k-a, 5+2 on k-a-arm64, one boot case on k-broken.
	assert.Equal(t, 17, doc.Tests)
	assert.Equal(t, 2, doc.Failures, "the arm64 bpf_loop finding and the bpf_loop verifier mismatch")
	assert.Equal(t, 3, doc.Skipped, "two inconclusive outcomes and one present")
	var present *JUnitCase
	for i, c := range doc.Suites[0].Cases {
		if c.Name == "tracing_multi" {
			present = &doc.Suites[0].Cases[i]
		}
	}
	require.NotNil(t, present)
	assert.Equal(t, "k-a.link_type", present.Classname)
	require.NotNil(t, present.Skipped, "present is neither a pass nor a failure")
	assert.Equal(t, presentTracingMulti, present.Skipped.Message)
	assert.Nil(t, present.Failure)
	assert.Equal(t, 1, doc.Errors, "the broken kernel")
	require.Len(t, doc.Suites, 3)
	assert.Equal(t, "k-broken", doc.Suites[2].Name)
	assert.Equal(t, "boot", doc.Suites[2].Cases[0].Name)
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, JSONLines(&buf, minimalMatrix()))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 17)
	var l Line
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &l))
	assert.Equal(t, Line{Kernel: "k-a", Release: "6.1.0-minimal", Version: "6.1", Arch: "x86_64", Kind: "map_type", Name: "arena", Status: "unsupported",
		Reason:     &result.Reason{Kind: result.ReasonVersion, Version: "6.9", Commit: "317460317a02a1af512697e6e964298dedd8a163"},
		ReasonText: "introduced in 6.9 (commit 317460317a02)"}, l)
	assert.Contains(t, lines[16], `"kind":"kernel","name":"boot","status":"error"`)
	var present Line
	require.NoError(t, json.Unmarshal([]byte(lines[6]), &present))
	assert.Equal(t, Line{Kernel: "k-a", Release: "6.1.0-minimal", Version: "6.1", Arch: "x86_64", Kind: "link_type", Name: "tracing_multi",
		Status: "present", Value: presentTracingMulti}, present)
}

func TestHTMLSelfContained(t *testing.T) {
	b, err := HTML(minimalMatrix())
	require.NoError(t, err)
	s := string(b)
	for _, banned := range []string{"http://", "https://", "<link", "src="} {
		assert.NotContains(t, s, banned, "the page must not load anything")
	}
	d := buildPage(minimalMatrix())
	assert.Len(t, d.Kernels, 3)
	assert.Len(t, d.Rows, 7+2, "7 feature rows (bpf_loop twice: kprobe and xdp) + 2 verifier cases")
	assert.Equal(t, [4]int{3, 2, 1, 1}, d.Kernels[0].Counts, "supported, unsupported, inconclusive, present")
	var st string
	for _, r := range d.Rows {
		if r[1] == "tracing_multi" {
			st = r[2].(string)
		}
	}
	assert.Equal(t, "P-", st[:2], "present on k-a, not probed on k-a-arm64")
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Write(dir, minimalMatrix()))
	for _, f := range []string{FileJSON, FileMarkdown, FileHTML, FileJUnit, "kernels/k-a.json", "kernels/k-broken.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.NotZero(t, st.Size(), f)
	}
	left, err := filepath.Glob(filepath.Join(dir, ".*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary files left behind")

	m, err := Read(filepath.Join(dir, FileJSON))
	require.NoError(t, err)
	assert.Len(t, m.Kernels, 3)

	bad := minimalMatrix()
	bad.Kernels[0].Features[1].Reason = nil
	other := t.TempDir()
	require.Error(t, Write(other, bad))
	entries, err := os.ReadDir(other)
	require.NoError(t, err)
	assert.Empty(t, entries, "an invalid matrix writes nothing")

	_, err = KernelFile(dir, "../escape")
	require.Error(t, err)
}

func TestCompareMinimal(t *testing.T) {
	old := minimalMatrix()
	cur := minimalMatrix()
	d := Compare(old, cur)
	assert.Empty(t, d.Kernels, "identical matrices")

	// k-a loses ringbuf, gains arena, its xdp bpf_loop becomes supported
	// (inconclusive -> supported is not a gain); k-broken boots now.
	cur.Kernels[0].Features[0] = result.Feature{Kind: result.KindMapType, Name: "ringbuf", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonPrivilege}}
	cur.Kernels[0].Features[1] = result.Feature{Kind: result.KindMapType, Name: "arena", Status: result.Supported}
	cur.Kernels[0].Features[4] = result.Feature{Kind: result.KindHelper, ProgramType: "xdp", Name: "bpf_loop", Status: result.Supported}
	cur.Kernels[2].Error = ""
	cur.Kernels[2].Features = []result.Feature{{Kind: result.KindMapType, Name: "ringbuf", Status: result.Supported}}
	d = Compare(old, cur)
	assert.Equal(t, 1, d.Losses())
	assert.Equal(t, 1, d.Count(Gained))
	assert.Equal(t, 2, d.Count(Changed))
	var text bytes.Buffer
	require.NoError(t, d.WriteText(&text))
	assert.Contains(t, text.String(), "lost    map_type ringbuf: supported -> unsupported (needs privilege)")
	assert.Contains(t, text.String(), "gained  map_type arena: unsupported -> supported")
	assert.Contains(t, text.String(), "changed helper bpf_loop (xdp): inconclusive -> supported")
}

// TestComparePresent makes the diff rule for present explicit: it is
// neither a yes nor a no, so moving to or from it is a change, never a loss
// or a gain (`bpfmatrix diff` exits 1 only on a loss).
func TestComparePresent(t *testing.T) {
	supported := result.Feature{Kind: result.KindLinkType, Name: "tracing_multi", Status: result.Supported}
	present := result.Feature{Kind: result.KindLinkType, Name: "tracing_multi", Status: result.Present, Value: presentTracingMulti}
	unsupported := result.Feature{Kind: result.KindLinkType, Name: "tracing_multi", Status: result.Unsupported,
		Reason: &result.Reason{Kind: result.ReasonVersion, Version: "7.2"}}
	inconclusive := result.Feature{Kind: result.KindLinkType, Name: "tracing_multi", Status: result.Inconclusive, Error: "boom"}
	for _, tc := range []struct {
		name     string
		old, new result.Feature
		kind     ChangeKind
		line     string
	}{
		{"supported to present is not a loss", supported, present, Changed,
			"changed link_type tracing_multi: supported -> present (" + presentTracingMulti + ")"},
		{"present to unsupported is not a loss", present, unsupported, Changed,
			"changed link_type tracing_multi: present -> unsupported (introduced in 7.2)"},
		{"unsupported to present is not a gain", unsupported, present, Changed,
			"changed link_type tracing_multi: unsupported -> present"},
		{"present to supported is not a gain", present, supported, Changed,
			"changed link_type tracing_multi: present -> supported"},
		{"present to inconclusive", present, inconclusive, Changed,
			"changed link_type tracing_multi: present -> inconclusive (boom)"},
		{"supported to unsupported is still a loss", supported, unsupported, Lost,
			"lost    link_type tracing_multi: supported -> unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := minimalMatrix(), minimalMatrix()
			old.Kernels[0].Features[6], cur.Kernels[0].Features[6] = tc.old, tc.new
			d := Compare(old, cur)
			require.Len(t, d.Kernels, 1)
			require.Len(t, d.Kernels[0].Changes, 1)
			assert.Equal(t, tc.kind, d.Kernels[0].Changes[0].Kind)
			if tc.kind != Lost {
				assert.Zero(t, d.Losses())
			}
			if tc.kind != Gained {
				assert.Zero(t, d.Count(Gained))
			}
			var text bytes.Buffer
			require.NoError(t, d.WriteText(&text))
			assert.Contains(t, text.String(), tc.line)
		})
	}
}
