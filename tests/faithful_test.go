package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
}

// coveredBlocks reads a coverage profile: each block of file (its base
// name) and whether it ran.
func coveredBlocks(t *testing.T, profile, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(profile)
	require.NoError(t, err)
	defer f.Close()
	blocks := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "mode:") {
			continue
		}
		// name.go:start.col,end.col statements count
		fields := strings.Fields(line)
		require.Len(t, fields, 3, "profile line %q", line)
		if filepath.Base(strings.Split(fields[0], ":")[0]) != file {
			continue
		}
		blocks[fields[0]] = blocks[fields[0]] || fields[2] != "0"
	}
	require.NoError(t, s.Err())
	return blocks
}

// TestGoTestExecFaithful runs the tests of testdata/faithfulmod (a module
// of its own) with `go test -cover -exec 'bpfmatrix exec'` on real kernels:
// they read ../testdata, listen on and dial 127.0.0.1 and ::1, run sh -c,
// read a variable set on the host and write a file in their working
// directory; all pass, the file and the coverage profile come back to the
// host, and the profile covers the same blocks as a host run's.
func TestGoTestExecFaithful(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	bin := buildStatic(t, "../cmd/bpfmatrix", "bpfmatrix")
	buildStatic(t, "../cmd/bpfmatrix-init", "bpfmatrix-init") // next to bpfmatrix
	src, err := filepath.Abs("testdata/faithfulmod")
	require.NoError(t, err)

	goTest := func(t *testing.T, dir, profile string, extra ...string) string {
		t.Helper()
		args := append([]string{"test", "-count=1", "-v", "-cover", "-coverprofile=" + profile}, extra...)
		cmd := exec.Command("go", append(args, "./pkg")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "FAITHFUL_VAR=from-host", "GOFLAGS=-mod=mod", "GOPROXY=off", "BPFMATRIX_CACHE="+cacheDir(t))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}

	hostDir := t.TempDir()
	copyTree(t, src, hostDir)
	hostProfile := filepath.Join(t.TempDir(), "host.out")
	goTest(t, hostDir, hostProfile)
	host := coveredBlocks(t, hostProfile, "classify.go")
	require.Contains(t, host, "example.com/faithfulmod/pkg/classify.go:17.19,17.32", "Unused's block is in the profile")
	require.False(t, host["example.com/faithfulmod/pkg/classify.go:17.19,17.32"], "Unused never runs")

	for _, kernel := range []string{"debian-5.10", "debian-6.1"} {
		t.Run(kernel, func(t *testing.T) {
			fetchKernel(t, kernel) // fill the cache before go test's own timeout starts
			dir := t.TempDir()
			copyTree(t, src, dir)
			profile := filepath.Join(t.TempDir(), "guest.out")
			source := filepath.Join(dir, "pkg", "classify.go")
			sourceBefore, err := os.Stat(source)
			require.NoError(t, err)
			out := goTest(t, dir, profile, "-exec", bin+" exec --kernel "+kernel)
			for _, name := range []string{"TestClassify", "TestReadsParentTestdata", "TestLoopback", "TestShell", "TestHostEnv", "TestWritesWorkdir"} {
				assert.Contains(t, out, "--- PASS: "+name)
			}
			written, err := os.ReadFile(filepath.Join(dir, "pkg", "written-by-test.txt"))
			require.NoError(t, err, "the file the test wrote in its working directory is on the host")
			assert.Equal(t, "written on "+kernel+"\n", string(written))
			assert.Equal(t, host, coveredBlocks(t, profile, "classify.go"), "guest and host runs cover the same blocks")
			sourceAfter, err := os.Stat(source)
			require.NoError(t, err)
			assert.True(t, os.SameFile(sourceBefore, sourceAfter) && sourceBefore.ModTime().Equal(sourceAfter.ModTime()), "a file the test did not write is not written back")
		})
	}
}
