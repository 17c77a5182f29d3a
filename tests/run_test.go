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
