package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestActionScript runs the GitHub Action's logic (action.yml calls
// scripts/go-test-kernels.sh) end to end on this machine, the way a user's
// workflow would: on a module outside this checkout, building bpfmatrix from
// this checkout into a fresh directory, once per kernel.
func TestActionScript(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-6.1") // the kernel cache CI keeps; the script fetches too
	script, err := filepath.Abs("../scripts/go-test-kernels.sh")
	require.NoError(t, err)
	mod := t.TempDir()
	require.NoError(t, os.CopyFS(mod, os.DirFS("testdata/actionmod")))
	bin := t.TempDir()

	run := func(t *testing.T, env []string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(script, args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "BPFMATRIX_BIN_DIR="+bin, "BPFMATRIX_CACHE="+cacheDir(t), "GOFLAGS=-mod=mod", "GOPROXY=off")
		cmd.Env = append(cmd.Env, env...)
		return combinedOutput(t, cmd)
	}

	t.Run("passes", func(t *testing.T) {
		out, code := run(t, []string{"WANT_RELEASE_PREFIX=6.1."}, "-k", "debian-6.1", "-f", "-count=1 -v", "./...")
		require.Equal(t, 0, code, "%s", out)
		assert.Contains(t, out, "--- PASS: TestInKernel")
		assert.Contains(t, out, "go-test-kernels: debian-6.1: ok")
		assert.FileExists(t, filepath.Join(bin, "bpfmatrix"))
	})
	t.Run("a failing test fails the step", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(mod, "inner", "fail-on-purpose"), nil, 0o644))
		defer os.Remove(filepath.Join(mod, "inner", "fail-on-purpose"))
		out, code := run(t, nil, "-k", "debian-6.1", "-f", "-count=1", "./inner")
		assert.Equal(t, 1, code, "%s", out)
		assert.Contains(t, out, "failing on purpose")
		assert.Contains(t, out, "go-test-kernels: debian-6.1: FAIL")
	})
	t.Run("bad usage", func(t *testing.T) {
		out, code := run(t, nil, "./...")
		assert.Equal(t, 2, code, "%s", out)
		assert.Contains(t, out, "usage:")
	})
	t.Run("an unknown kernel stops before any test", func(t *testing.T) {
		out, code := run(t, nil, "-k", "debian-0.1", "./...")
		assert.Equal(t, 2, code, "%s", out)
		assert.Contains(t, out, "Error:")
		assert.NotContains(t, out, "go-test-kernels: debian-0.1")
	})
}
