package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunCheckBadInputBeforeBoot: an empty or repeated --kernels list, an
// --out that is a file, lies under one or cannot be written, and a --logs
// that is a file are one line, exit status 2, before anything is fetched:
// the cache directory stays empty.
func TestRunCheckBadInputBeforeBoot(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(file, []byte("mine"), 0o644))
	loop := filepath.Join(objects, "loop.o")
	for _, tc := range []struct {
		name     string
		args     []string
		inStderr string
	}{
		{"run: --kernels empty", []string{"run", "--kernels", "", "--out", filepath.Join(tmp, "out")}, `invalid argument "" for "--kernels" flag: no kernel named`},
		{"run: --kernels= empty", []string{"run", "--kernels=", "--out", filepath.Join(tmp, "out")}, "no kernel named"},
		{"run: --kernels blank", []string{"run", "--kernels", " ", "--out", filepath.Join(tmp, "out")}, "no kernel named"},
		{"run: duplicate kernel", []string{"run", "--kernels", "debian-6.1,debian-6.12,debian-6.1", "--out", filepath.Join(tmp, "out")}, "kernel debian-6.1 named twice"},
		{"run: duplicate across flags", []string{"run", "--kernels", "debian-6.1", "--kernels", "debian-6.1", "--out", filepath.Join(tmp, "out")}, "kernel debian-6.1 named twice"},
		{"run: empty name", []string{"run", "--kernels", "debian-6.1,,debian-6.12", "--out", filepath.Join(tmp, "out")}, "empty kernel name"},
		{"run: --out is a file", []string{"run", "--kernels", "debian-6.1", "--out", file}, "--out " + file + ": not a writable directory"},
		{"run: --out under a file", []string{"run", "--kernels", "debian-6.1", "--out", filepath.Join(file, "report")}, "not a directory"},
		{"run: --out not writable", []string{"run", "--kernels", "debian-6.1", "--out", "/proc"}, "--out /proc: not a writable directory"},
		{"run: --out read-only", []string{"run", "--kernels", "debian-6.1", "--out", "/sys/kernel"}, "permission denied"},
		{"check: duplicate kernel", []string{"check", "--kernels", "debian-6.1,debian-6.1", loop}, "kernel debian-6.1 named twice"},
		{"check: --kernels empty", []string{"check", "--kernels", "", loop}, "no kernel named"},
		{"check: --logs is a file", []string{"check", "--kernels", "debian-6.1", "--logs", file, loop}, "--logs " + file + ": a file, not a directory"},
		{"check: --logs under a file", []string{"check", "--kernels", "debian-6.1", "--logs", filepath.Join(file, "logs"), loop}, file + " is a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			stdout, stderr, code := runCLI(t, append([]string{"--cache-dir", cache}, tc.args...)...)
			assert.Equal(t, 2, code, "stderr: %s", stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.inStderr)
			assert.True(t, strings.HasPrefix(stderr, "Error: "), stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
			ents, err := os.ReadDir(cache)
			require.NoError(t, err)
			assert.Empty(t, ents, "nothing may be fetched for bad input")
			assert.NoDirExists(t, filepath.Join(tmp, "out"), "no report directory for bad input")
			b, err := os.ReadFile(file)
			require.NoError(t, err)
			assert.Equal(t, "mine", string(b), "a file given as --out or --logs is left alone")
		})
	}
}

// TestKernelsFlag: names are kept in order, across repeated flags.
func TestKernelsFlag(t *testing.T) {
	var names []string
	k := &kernelList{names: &names}
	require.NoError(t, k.Set("debian-6.1,debian-6.12"))
	require.NoError(t, k.Set("debian-5.10"))
	assert.Equal(t, []string{"debian-6.1", "debian-6.12", "debian-5.10"}, names)
	assert.Equal(t, "[debian-6.1,debian-6.12,debian-5.10]", k.String())
	assert.ErrorContains(t, k.Set("debian-6.12"), "named twice")
}
