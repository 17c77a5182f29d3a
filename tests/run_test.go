package tests

import (
	"context"
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
