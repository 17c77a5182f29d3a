package matrix

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// fixtureArchPair is a real `bpfmatrix run` (all default kernels, QEMU TCG)
// reduced to its debian-6.1 (x86_64) and debian-6.1-arm64 columns: the
// kernels' results are unchanged, only the other kernels were dropped.
const fixtureArchPair = "testdata/debian-6.1-x86_64-arm64.json.gz"

// TestArchPairReal: the same kernel version on two architectures gets its
// own "Architecture differences" section listing what differs, with the
// arch reason (not a finding) for fentry, which arm64 only attaches to
// kernel functions from 6.4 on (ftrace direct calls, 2aa6ac03516d).
func TestArchPairReal(t *testing.T) {
	m, err := Decode(bytes.NewReader(fixtureBytes(t, fixtureArchPair)))
	require.NoError(t, err)
	require.NoError(t, Validate(m))
	require.Len(t, m.Kernels, 2)
	assert.Equal(t, "x86_64", m.Kernels[0].Kernel.Arch)
	assert.Equal(t, "arm64", m.Kernels[1].Kernel.Arch)

	md := string(Markdown(m))
	_, diffs, ok := strings.Cut(md, "## Architecture differences")
	require.True(t, ok, "no architecture section")
	diffs, _, _ = strings.Cut(diffs, "\n## ")
	for _, want := range []string{
		"### 6.1: debian-6.1 (x86_64) vs debian-6.1-arm64 (arm64)",
		"| Feature | x86_64 | arm64 |",
		"| misc trampolines | ✓ | ✗",
	} {
		assert.Contains(t, diffs, want)
	}
	assert.NotContains(t, rowOf(diffs, "| misc trampolines |"), "!", "an arch difference the table explains is not a finding")
	assert.Contains(t, md, "introduced in 6.4 on this architecture (commit 2aa6ac03516d): fentry on kernel functions needs ftrace direct calls")

	page := buildPage(m)
	assert.Equal(t, [][2]int{{0, 1}}, page.Pairs, "the page's 'differs by architecture' filter needs the pair")

	junit, err := JUnit(m)
	require.NoError(t, err)
	assert.NotContains(t, string(junit), "trampolines: rejected", "the arm64 trampoline is no JUnit failure")
}

func TestReasonTextArch(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    result.Reason
		want string
	}{
		{"no version", result.Reason{Kind: result.ReasonArch}, "not available on this architecture"},
		{"later on this arch", result.Reason{Kind: result.ReasonArch, Version: "6.4", Commit: "2aa6ac03516d078cf0c35aaa273b5cd11ea9734c", Detail: "fentry on kernel functions needs ftrace direct calls"},
			"introduced in 6.4 on this architecture (commit 2aa6ac03516d): fentry on kernel functions needs ftrace direct calls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ReasonText(&tc.r))
		})
	}
}

func rowOf(md, prefix string) string {
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestVerifierSectionReal: the verifier outcomes of a real run appear in the
// Markdown (cases as rows, kernels as columns, instruction counts or the
// rejection reason) and in JUnit as one test case per kernel and case.
func TestVerifierSectionReal(t *testing.T) {
	m, err := Decode(bytes.NewReader(fixtureBytes(t, fixtureArchPair)))
	require.NoError(t, err)
	md := string(Markdown(m))
	_, section, ok := strings.Cut(md, "## Verifier")
	require.True(t, ok, "no verifier section")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, v := range m.Kernels[0].Verifier {
		assert.Contains(t, section, v.Case, "case %s missing from the verifier section", v.Case)
	}
	var bpfLoop string
	for _, line := range strings.Split(section, "\n") {
		if strings.Contains(line, "bpf_loop") {
			bpfLoop = line
		}
	}
	require.NotEmpty(t, bpfLoop)
	assert.Contains(t, bpfLoop, "✓", "bpf_loop (5.17) is accepted on 6.1: %s", bpfLoop)

	b, err := JUnit(m)
	require.NoError(t, err)
	n := strings.Count(string(b), "<testcase")
	want := 0
	for _, k := range m.Kernels {
		want += len(k.Features) + len(k.Verifier)
	}
	assert.Equal(t, want, n)
	assert.Positive(t, len(m.Kernels[0].Verifier))
}
