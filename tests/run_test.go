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
// with the failure, and the kernel beside it is unaffected.
func TestRunKernelThatFailsToBoot(t *testing.T) {
	fetchKernel(t, "debian-6.1")
	good, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	// A file source whose "kernel" is an ELF executable, not a bootable image:
	// QEMU refuses it, as it would a corrupt download that passed no checks.
	broken := catalog.KernelSpec{Name: "broken-file", Version: catalog.Version{Major: 6, Minor: 1}, Arch: catalog.AMD64,
		Sources: []catalog.Source{{File: &catalog.FileSource{Image: "/bin/true"}}}}
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := run.Run(ctx, []catalog.KernelSpec{good, broken}, run.Options{
		Fetcher: f, Parallel: 2, CPUs: 1, BootTimeout: 30 * time.Second,
	})
	require.NoError(t, err)
	require.Len(t, m.Kernels, 2)
	assert.Empty(t, m.Kernels[0].Error)
	assert.NotEmpty(t, m.Kernels[0].Features)
	assert.Equal(t, "broken-file", m.Kernels[1].Kernel.Name)
	assert.NotEmpty(t, m.Kernels[1].Error)
	assert.Contains(t, m.Kernels[1].Error, "qemu", "the error carries the QEMU command to reproduce")

	dir := t.TempDir()
	require.NoError(t, matrix.Write(dir, m))
	md, err := os.ReadFile(filepath.Join(dir, matrix.FileMarkdown))
	require.NoError(t, err)
	assert.Contains(t, string(md), "broken-file", "the failed kernel keeps its column")
	back, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	assert.True(t, strings.Contains(back.Kernels[1].Error, "qemu"))
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
