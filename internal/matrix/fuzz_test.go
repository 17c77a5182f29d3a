package matrix

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// FuzzDecode: no input panics Decode (what `bpfmatrix report` and `diff` run
// on a matrix.json from anywhere) or the renderers it feeds; every error is
// ErrInvalid; an accepted matrix is valid and encodes to a fixed point.
//
// Seeds are real: the captured matrices in testdata cut down to a few
// features and verifier outcomes per kernel (whole, at 1.7-2.3 MB, they slow
// the fuzzer to a few executions a minute; other tests decode them whole),
// and the matrix.json of a run whose only kernel failed to boot
// (failed-boot-debian-6.1.json: `bpfmatrix run --kernels debian-6.1
// --no-cache --boot-timeout 100ms`).
func FuzzDecode(f *testing.F) {
	gz, err := filepath.Glob("testdata/*.json.gz")
	require.NoError(f, err)
	require.NotEmpty(f, gz)
	for _, p := range gz {
		fh, err := os.Open(p)
		require.NoError(f, err)
		zr, err := gzip.NewReader(fh)
		require.NoError(f, err)
		b, err := io.ReadAll(zr)
		fh.Close()
		require.NoError(f, err)
		m, err := Decode(bytes.NewReader(b))
		require.NoError(f, err, p)
		for i := range m.Kernels {
			k := &m.Kernels[i]
			k.Features = k.Features[:min(len(k.Features), 6)]
			k.Verifier = k.Verifier[:min(len(k.Verifier), 3)]
			k.Bpftool = nil
		}
		small, err := JSON(m)
		require.NoError(f, err)
		f.Add(small)
	}
	failed, err := os.ReadFile("testdata/failed-boot-debian-6.1.json")
	require.NoError(f, err)
	f.Add(failed)

	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b))
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		require.NoError(t, Validate(m))
		once, err := JSON(m)
		require.NoError(t, err)
		back, err := Decode(bytes.NewReader(once))
		require.NoError(t, err, "matrix.json written from an accepted matrix is refused")
		twice, err := JSON(back)
		require.NoError(t, err)
		require.Equal(t, string(once), string(twice))
		renderAll(t, m)
	})
}

func renderAll(t *testing.T, m *result.Matrix) {
	t.Helper()
	Markdown(m)
	_, err := HTML(m)
	require.NoError(t, err)
	_, err = JUnit(m)
	require.NoError(t, err)
	var jl bytes.Buffer
	require.NoError(t, JSONLines(&jl, m))
}
