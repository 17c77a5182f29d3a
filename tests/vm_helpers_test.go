package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
)

// cacheDir is the default kernel cache, so CI downloads each kernel once.
func cacheDir(tb testing.TB) string {
	if d := os.Getenv("BPFMATRIX_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	require.NoError(tb, err)
	return filepath.Join(d, "bpfmatrix")
}

var kernelFetch sync.Mutex

// fetchKernel returns a catalog kernel through internal/fetch.
func fetchKernel(tb testing.TB, name string) *fetch.Kernel {
	tb.Helper()
	kernelFetch.Lock()
	defer kernelFetch.Unlock()
	spec, err := catalog.Default().Lookup(name)
	require.NoError(tb, err)
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir(tb)})
	require.NoError(tb, err)
	k, err := f.Fetch(context.Background(), spec)
	require.NoError(tb, err, "fetch %s", name)
	return k
}

var (
	builds   sync.Map // package -> *buildResult
	buildDir string
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "bpfmatrix-tests-")
	if err != nil {
		panic(err)
	}
	buildDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// buildStatic builds the package pkg (relative to this directory) as a
// static binary for the host's arch, once per test process.
func buildStatic(tb testing.TB, pkg, name string) string {
	tb.Helper()
	v, _ := builds.LoadOrStore(pkg+"\x00"+name, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+runtime.GOARCH)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = &buildError{pkg, string(out), err}
		}
	})
	require.NoError(tb, b.err)
	return b.path
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

// combinedOutput runs cmd and returns its stdout and stderr together and its
// exit status; failing to start it at all fails the test.
func combinedOutput(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}
