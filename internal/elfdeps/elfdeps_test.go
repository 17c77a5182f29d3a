package elfdeps

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bpftool is Debian's, installed by scripts/install-deps.sh: a real dynamic
// program with a multi-level library closure (libelf needs libz).
const bpftool = "/usr/sbin/bpftool"

var hostDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

func TestClosure(t *testing.T) {
	files, err := Closure(bpftool, elf.EM_X86_64, hostDirs, filepath.EvalSymlinks)
	require.NoError(t, err)
	assert.NotContains(t, files, bpftool, "the program itself is the caller's")
	assert.Contains(t, files, "/lib64/ld-linux-x86-64.so.2")
	for _, lib := range []string{"libelf.so.1", "libz.so.1", "libc.so.6"} {
		assert.Contains(t, files, "/lib/x86_64-linux-gnu/"+lib)
	}
	for g, h := range files {
		fi, err := os.Lstat(h)
		require.NoError(t, err)
		assert.True(t, fi.Mode().IsRegular(), "%s -> %s is resolved to a file", g, h)
	}
}

func TestClosureErrors(t *testing.T) {
	_, err := Closure(bpftool, elf.EM_AARCH64, hostDirs, filepath.EvalSymlinks)
	require.ErrorContains(t, err, "is EM_X86_64, want EM_AARCH64")

	_, err = Closure(bpftool, elf.EM_X86_64, []string{t.TempDir()}, filepath.EvalSymlinks)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "needed by "+bpftool)

	_, err = Closure(filepath.Join(t.TempDir(), "missing"), 0, hostDirs, filepath.EvalSymlinks)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestInfoStatic(t *testing.T) {
	// busybox-static, installed by scripts/install-deps.sh.
	interp, needed, err := Info("/bin/busybox", 0)
	require.NoError(t, err)
	assert.Empty(t, interp)
	assert.Empty(t, needed)
}
