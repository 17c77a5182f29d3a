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
