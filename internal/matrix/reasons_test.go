package matrix

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func loadMatrixGz(t *testing.T, path string) *result.Matrix {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var m result.Matrix
	require.NoError(t, json.NewDecoder(zr).Decode(&m))
	return &m
}

// TestExplainAcrossKernels runs the pass over a real five-kernel run
// (debian-5.10 to 7.3, x86_64, without verifier and bpftool sections; see
// testdata/README.md): before it, hundreds of helper cells break the rule
// that a later kernel supporting a cell must agree with the reason; after
// it, none does, and a second pass changes nothing.
func TestExplainAcrossKernels(t *testing.T) {
	m := loadMatrixGz(t, "testdata/debian-x86_64-5.10-to-7.3.json.gz")
	before := ReasonViolations(m)
	require.NotEmpty(t, before, "the fixture should show the problem the pass solves")
	kinds := func() map[string]result.ReasonKind {
		out := map[string]result.ReasonKind{}
		for _, k := range m.Kernels {
			for _, f := range k.Features {
				if f.Reason != nil && f.Kind == result.KindHelper {
					out[k.Kernel.Name+"/"+f.ProgramType+"/"+f.Name] = f.Reason.Kind
				}
			}
		}
		return out
	}
	was := kinds()
	ExplainAcrossKernels(m)
	toProgType := 0
	for k, v := range kinds() {
		if was[k] == result.ReasonVersion && v == result.ReasonProgramType {
			toProgType++
		}
	}
	// 5.10 lacks helpers that no kernel of the run offers to the program
	// type: their gate is the program type.
	assert.Positive(t, toProgType)
	t.Logf("%d version reasons became program_type", toProgType)
	assert.Empty(t, ReasonViolations(m))
	js1, err := json.Marshal(m)
	require.NoError(t, err)
	ExplainAcrossKernels(m)
	js2, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Equal(t, string(js1), string(js2), "the pass is idempotent")
	t.Logf("%d violations before the pass", len(before))
}

// TestExplainAcrossKernelsShards: the pass over two shards' reports, then
// over their merge, gives what one pass over all the kernels gives (the
// scheduled workflow merges shards that each ran it over fewer kernels).
func TestExplainAcrossKernelsShards(t *testing.T) {
	whole := loadMatrixGz(t, "testdata/debian-x86_64-5.10-to-7.3.json.gz")
	require.GreaterOrEqual(t, len(whole.Kernels), 4)
	parts := [][]int{{0, 2}, {1, 3}}
	merged := &result.Matrix{Schema: whole.Schema, Generated: whole.Generated}
	for _, idx := range parts {
		shard := loadMatrixGz(t, "testdata/debian-x86_64-5.10-to-7.3.json.gz")
		var ks []result.KernelResult
		for _, i := range idx {
			ks = append(ks, shard.Kernels[i])
		}
		shard.Kernels = ks
		ExplainAcrossKernels(shard)
		merged.Kernels = append(merged.Kernels, shard.Kernels...)
	}
	for i := 4; i < len(whole.Kernels); i++ {
		merged.Kernels = append(merged.Kernels, whole.Kernels[i])
	}
	ExplainAcrossKernels(merged)
	ExplainAcrossKernels(whole)
	byName := map[string]result.KernelResult{}
	for _, k := range merged.Kernels {
		byName[k.Kernel.Name] = k
	}
	changed := 0
	for _, k := range whole.Kernels {
		got := byName[k.Kernel.Name]
		require.Len(t, got.Features, len(k.Features))
		for j := range k.Features {
			if !assert.Equal(t, k.Features[j].Reason, got.Features[j].Reason, "%s %s/%s", k.Kernel.Name, k.Features[j].ProgramType, k.Features[j].Name) {
				changed++
				if changed > 5 {
					t.FailNow()
				}
			}
		}
	}
}
