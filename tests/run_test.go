package tests

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/cli"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
)

// TestRunKernelThatFailsToBoot: a kernel that cannot boot keeps its column
// with the failure, and the kernel beside it is unaffected. Two ways to fail:
// a file that is not a kernel image at all (refused before booting), and a
// real bzImage whose compressed payload was damaged after download (its
// header is intact, so only booting finds out: the decompressor halts).
func TestRunKernelThatFailsToBoot(t *testing.T) {
	k := fetchKernel(t, "debian-6.1")
	good, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	notKernel := catalog.KernelSpec{Name: "broken-file", Version: catalog.Version{Major: 6, Minor: 1}, Arch: catalog.AMD64,
		Sources: []catalog.Source{{File: &catalog.FileSource{Image: "/bin/true"}}}}
	img, err := os.ReadFile(k.Image)
	require.NoError(t, err)
	for i := len(img) / 2; i < len(img)/2+64*1024; i++ {
		img[i] = 0
	}
	damaged := filepath.Join(t.TempDir(), "bzImage")
	require.NoError(t, os.WriteFile(damaged, img, 0o644))
	corrupt := catalog.KernelSpec{Name: "damaged-payload", Version: catalog.Version{Major: 6, Minor: 1}, Arch: catalog.AMD64,
		Sources: []catalog.Source{{File: &catalog.FileSource{Image: damaged}}}}
	fgood, err := fetch.New(fetch.Options{CacheDir: cacheDir(t)})
	require.NoError(t, err)
	_, err = fgood.Fetch(context.Background(), good)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := run.Run(ctx, []catalog.KernelSpec{good, notKernel, corrupt}, run.Options{
		Fetcher: fgood, Parallel: 2, CPUs: 1, BootTimeout: 30 * time.Second,
	})
	require.NoError(t, err)
	require.Len(t, m.Kernels, 3)
	assert.Empty(t, m.Kernels[0].Error)
	assert.NotEmpty(t, m.Kernels[0].Features)
	assert.Equal(t, "broken-file", m.Kernels[1].Kernel.Name)
	assert.Contains(t, m.Kernels[1].Error, "not a kernel image")
	assert.Equal(t, "damaged-payload", m.Kernels[2].Kernel.Name)
	assert.Contains(t, m.Kernels[2].Error, "qemu", "a boot failure carries the QEMU command to reproduce")

	dir := t.TempDir()
	require.NoError(t, matrix.Write(dir, m))
	md, err := os.ReadFile(filepath.Join(dir, matrix.FileMarkdown))
	require.NoError(t, err)
	assert.Contains(t, string(md), "broken-file", "the failed kernel keeps its column")
	assert.Contains(t, string(md), "damaged-payload")
	back, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	assert.True(t, strings.Contains(back.Kernels[2].Error, "qemu"))
}

// TestRunRepeatUsesCache: a repeat `bpfmatrix run` with nothing changed
// boots nothing, rewrites nothing and says it used the cache.
func TestRunRepeatUsesCache(t *testing.T) {
	fetchKernel(t, "debian-6.1")
	out := t.TempDir()
	runCLI := func(args ...string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		err := cli.Run(context.Background(), append([]string{"run", "--kernels", "debian-6.1", "--out", out, "--cache-dir", cacheDir(t)}, args...), strings.NewReader(""), &stdout, &stderr)
		require.NoError(t, err, "stderr: %s", stderr.String())
		return stdout.String()
	}
	first := runCLI("--no-cache")
	assert.NotContains(t, first, "(cached)")
	assert.Contains(t, first, "boot ")
	before, err := os.Stat(filepath.Join(out, matrix.FileJSON))
	require.NoError(t, err)

	second := runCLI()
	assert.Contains(t, second, "(cached)")
	assert.Contains(t, second, "is up to date: all 1 results cached")
	after, err := os.Stat(filepath.Join(out, matrix.FileJSON))
	require.NoError(t, err)
	assert.Equal(t, before.ModTime(), after.ModTime(), "matrix.json was rewritten")

	// A missing report file means the report is not up to date.
	require.NoError(t, os.Remove(filepath.Join(out, matrix.FileHTML)))
	third := runCLI()
	assert.Contains(t, third, "(cached)")
	assert.NotContains(t, third, "is up to date")
	assert.FileExists(t, filepath.Join(out, matrix.FileHTML))
}

// TestRunConfigChangeRunsAgain: the same kernel image under the same name
// with a different config (a catalog entry edited to name another config
// file) is run again: its old result would judge the features against the
// wrong config. Going back to the first config finds the original result
// without a boot. (A config edited inside the kernel cache no longer gets
// this far: fetch verifies every blob and repairs it, see internal/fetch.)
func TestRunConfigChangeRunsAgain(t *testing.T) {
	real := fetchKernel(t, "debian-6.1")
	require.NotEmpty(t, real.Config)
	orig, err := os.ReadFile(real.Config)
	require.NoError(t, err)
	edited := strings.Replace(string(orig), "CONFIG_BPF_LSM=y", "CONFIG_BPF_LSM=n", 1)
	require.NotEqual(t, string(orig), edited, "the captured config has CONFIG_BPF_LSM=y")
	editedPath := filepath.Join(t.TempDir(), "config-edited")
	require.NoError(t, os.WriteFile(editedPath, []byte(edited), 0o644))
	specWith := func(config string) catalog.KernelSpec {
		return catalog.KernelSpec{Name: "debian-6.1-file", Version: catalog.Version{Major: 6, Minor: 1}, Arch: catalog.AMD64,
			Sources: []catalog.Source{{File: &catalog.FileSource{Image: real.Image, Config: config}}}}
	}
	cache := t.TempDir()
	f, err := fetch.New(fetch.Options{CacheDir: cache})
	require.NoError(t, err)
	// This checkout's agent, built for this test: the one vm.AgentBinary
	// builds into the shared cache is rebuilt by other checkouts' tests.
	agent := buildStatic(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent")
	opts := run.Options{Fetcher: f, CacheDir: cache, CPUs: 1, BootTimeout: time.Minute, Agent: agent}
	runOnce := func(spec catalog.KernelSpec) result.KernelResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		m, err := run.Run(ctx, []catalog.KernelSpec{spec}, opts)
		require.NoError(t, err)
		require.Len(t, m.Kernels, 1)
		require.Empty(t, m.Kernels[0].Error)
		return m.Kernels[0]
	}
	first := runOnce(specWith(real.Config))
	require.False(t, first.Cached)
	assert.True(t, runOnce(specWith(real.Config)).Cached, "nothing changed: cached")

	changed := runOnce(specWith(editedPath))
	assert.False(t, changed.Cached, "a changed config must boot the kernel again")
	assert.Equal(t, first.Kernel.Digest, changed.Kernel.Digest, "same image")

	restored := runOnce(specWith(real.Config))
	assert.True(t, restored.Cached, "the first config finds the original result")
	assert.Equal(t, first.Features, restored.Features)
}

// TestRunEveryKernelFailedKeepsReport: a `run` whose every kernel fails exits
// 1, leaves the last good report in --out byte for byte, writes its own to
// --out/failed-run, and the next good run (up to date) removes that.
func TestRunEveryKernelFailedKeepsReport(t *testing.T) {
	fetchKernel(t, "debian-6.1")
	// This checkout's agent (see TestRunConfigChangeRunsAgain).
	t.Setenv("BPFMATRIX_AGENT", buildStatic(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent"))
	out := t.TempDir()
	runCLI := func(args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := cli.Run(context.Background(), append([]string{"run", "--kernels", "debian-6.1", "--no-verifier", "--out", out, "--cache-dir", cacheDir(t)}, args...), strings.NewReader(""), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	_, stderr, err := runCLI()
	require.NoError(t, err, stderr)
	good, err := os.ReadFile(filepath.Join(out, matrix.FileJSON))
	require.NoError(t, err)

	// 100 ms is too short for any kernel to boot under TCG.
	_, stderr, err = runCLI("--no-cache", "--boot-timeout", "100ms")
	require.Error(t, err)
	assert.Equal(t, 1, cli.ExitCode(err, io.Discard))
	assert.Contains(t, err.Error(), "every kernel failed")
	after, rerr := os.ReadFile(filepath.Join(out, matrix.FileJSON))
	require.NoError(t, rerr)
	assert.Equal(t, string(good), string(after), "the good report was replaced by a failed run")
	failed, err := matrix.Read(filepath.Join(out, "failed-run", matrix.FileJSON))
	require.NoError(t, err)
	assert.Contains(t, failed.Kernels[0].Error, "boot timeout")

	stdout, stderr, err := runCLI()
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "is up to date")
	assert.NoDirExists(t, filepath.Join(out, "failed-run"))
}
