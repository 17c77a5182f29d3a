package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
)

// TestMatrixWorkflowScripts runs the scheduled workflow's shard and merge
// steps (.github/workflows/matrix.yml calls scripts/matrix-shard.sh and
// scripts/matrix-merge.sh) end to end on this machine: four Debian kernels
// in two shards of two, merged, and diffed against one run over all four.
func TestMatrixWorkflowScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	const kernels = "debian-5.10,debian-6.1,debian-6.12,debian-7.2"
	for _, k := range []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2"} {
		fetchKernel(t, k)
	}
	bpfmatrix := buildStatic(t, "../cmd/bpfmatrix", "bpfmatrix")
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	tmp := t.TempDir()
	dir := func(name string) string { return filepath.Join(tmp, name) }
	sh := func(t *testing.T, env []string, script string, args ...string) (string, int) {
		t.Helper()
		var cmd *exec.Cmd
		if script == "" {
			cmd = exec.Command(bpfmatrix, args...)
		} else {
			cmd = exec.Command(filepath.Join(root, "scripts", script), args...)
		}
		// In the checkout, bpfmatrix builds the guest agent from it.
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "BPFMATRIX="+bpfmatrix, "BPFMATRIX_CACHE="+cacheDir(t), "BPFMATRIX_OCI_REGISTRY=")
		cmd.Env = append(cmd.Env, env...)
		return combinedOutput(t, cmd)
	}
	withoutGenerated := func(t *testing.T, d string) map[string]any {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(d, matrix.FileJSON))
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		delete(m, "generated")
		return m
	}

	// The first run may compute results; the later ones read them from the
	// result cache, so every report compared says "cached".
	for _, d := range []string{"prime", "single"} {
		out, code := sh(t, nil, "", "run", "--kernels", kernels, "--out", dir(d))
		require.Equal(t, 0, code, out)
	}
	out, code := sh(t, nil, "matrix-shard.sh", "-s", "1/2", "-k", kernels, "-o", dir("s1"))
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "shard 1/2: debian-6.1,debian-7.2")
	out, code = sh(t, nil, "matrix-shard.sh", "-s", "2/2", "-k", kernels, "-o", dir("s2"))
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "shard 2/2: debian-5.10,debian-6.12")

	t.Run("merged equals one run, diff finds nothing", func(t *testing.T) {
		out, code := sh(t, nil, "matrix-merge.sh", "-o", dir("report"), "-p", filepath.Join(dir("single"), matrix.FileJSON), dir("s1"), dir("s2"))
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "merged 2 reports into "+dir("report"))
		assert.Contains(t, out, "No differences.")
		assert.Equal(t, withoutGenerated(t, dir("single")), withoutGenerated(t, dir("report")))
	})

	t.Run("a shard whose kernels all failed is merged, and the diff says what was lost", func(t *testing.T) {
		// Every boot of shard 2 times out: run keeps nothing of it in
		// s2fail's report and writes s2fail/failed-run, exit status 1.
		out, code := sh(t, nil, "matrix-shard.sh", "-s", "2/2", "-k", kernels, "-o", dir("s2fail"), "--", "--no-cache", "--boot-timeout", "100ms")
		require.Equal(t, 1, code, out)
		assert.FileExists(t, filepath.Join(dir("s2fail"), "failed-run", matrix.FileJSON))
		out, code = sh(t, nil, "matrix-merge.sh", "-o", dir("report2"), "-p", filepath.Join(dir("report"), matrix.FileJSON), dir("s1"), dir("s2fail"))
		assert.Equal(t, 1, code, "a kernel that booted last time fails now: %s", out)
		m, err := matrix.Read(filepath.Join(dir("report2"), matrix.FileJSON))
		require.NoError(t, err)
		require.Len(t, m.Kernels, 4)
		for _, kr := range m.Kernels {
			switch kr.Kernel.Name {
			case "debian-5.10", "debian-6.12":
				assert.Contains(t, kr.Error, "boot timeout", kr.Kernel.Name)
			default:
				assert.Empty(t, kr.Error, kr.Kernel.Name)
			}
		}
		assert.Contains(t, out, "debian-5.10")
	})

	t.Run("bad usage", func(t *testing.T) {
		out, code := sh(t, nil, "matrix-merge.sh", "-o", dir("x"), dir("nothing-here"))
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "no matrix.json")
		out, code = sh(t, nil, "matrix-shard.sh", "-s", "3/2", "-k", kernels, "-o", dir("x"))
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "want I/N")
		assert.NoDirExists(t, dir("x"))
	})
}
