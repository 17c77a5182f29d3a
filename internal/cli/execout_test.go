package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
)

// TestExecOutputs: the flags go test passes (captured from `go test -cover
// -coverprofile=... -cpuprofile=cpu.out -exec wrapper`) become guest paths,
// each mapped back to the host path the host run would have written.
func TestExecOutputs(t *testing.T) {
	mod := t.TempDir()
	pkg := filepath.Join(mod, "pkg")
	build := t.TempDir()
	covdir := filepath.Join(build, "gocoverdir")
	for _, d := range []string{pkg, covdir} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	args := []string{
		"-test.paniconexit0", "-test.gocoverdir=" + covdir, "-test.timeout=10m0s",
		"-test.outputdir=" + pkg, "-test.count=1", "-test.v=true",
		"-test.coverprofile=" + filepath.Join(build, "_cover_.out"), "-test.cpuprofile=cpu.out",
	}
	env := []string{"CI=true", "GOCOVERDIR=" + covdir}
	gotArgs, gotEnv, outputs, err := execOutputs(args, env, pkg, mod)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"-test.paniconexit0", "-test.gocoverdir=/bpfmatrix/out/1/d", "-test.timeout=10m0s",
		"-test.outputdir=" + wire.WorkDir + "/pkg", "-test.count=1", "-test.v=true",
		"-test.coverprofile=/bpfmatrix/out/2/_cover_.out", "-test.cpuprofile=/bpfmatrix/out/3/cpu.out",
	}, gotArgs)
	assert.Equal(t, []string{"CI=true", "GOCOVERDIR=/bpfmatrix/out/1/d"}, gotEnv, "the same directory as the flag")
	assert.Equal(t, map[string]string{
		wire.WorkDir:                   mod,
		"/bpfmatrix/out/1/d":           covdir,
		"/bpfmatrix/out/2/_cover_.out": filepath.Join(build, "_cover_.out"),
		"/bpfmatrix/out/3/cpu.out":     filepath.Join(pkg, "cpu.out"),
	}, outputs)
	assert.Equal(t, "-test.gocoverdir="+covdir, args[1], "the caller's slice is not changed")
}

// TestExecOutputsBadPath: an output that cannot be written is one usage
// error, before anything boots, and nothing is left in the directory.
func TestExecOutputsBadPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"missing directory", []string{"-test.coverprofile=" + filepath.Join(dir, "no/c.out")}, nil, "-test.coverprofile: output directory: stat " + filepath.Join(dir, "no")},
		{"file as directory", []string{"-test.gocoverdir=" + file}, nil, "-test.gocoverdir: output directory " + file + " is not a directory"},
		{"unwritable", []string{"-test.trace=/proc/trace.out"}, nil, "-test.trace: output directory /proc is not writable"},
		{"GOCOVERDIR not a directory", nil, []string{"GOCOVERDIR=" + file}, "GOCOVERDIR: output directory " + file + " is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := execOutputs(tc.args, tc.env, dir, "")
			var ee *ExitError
			require.True(t, errors.As(err, &ee), "%v", err)
			assert.Equal(t, 2, ee.Code)
			assert.Contains(t, err.Error(), tc.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, 1, "nothing left behind")
		})
	}
}

// TestExecOutputsGuestDir: a directory that does not exist on the host is
// the program's own guest path (vmtest's -test.gocoverdir), passed on.
func TestExecOutputsGuestDir(t *testing.T) {
	args := []string{"-test.v=test2json", "-test.gocoverdir=/tmp/bpfmatrix-vmtest-cover"}
	env := []string{"GOCOVERDIR=/nonexistent/cover"}
	gotArgs, gotEnv, outputs, err := execOutputs(args, env, t.TempDir(), "")
	require.NoError(t, err)
	assert.Equal(t, args, gotArgs)
	assert.Equal(t, env, gotEnv)
	assert.Empty(t, outputs)
}

func TestExecWorkTree(t *testing.T) {
	mod := t.TempDir()
	pkg := filepath.Join(mod, "a", "b")
	require.NoError(t, os.MkdirAll(pkg, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module m\n"), 0o644))
	outside := t.TempDir()
	for _, tc := range []struct {
		name, wd, dir string
		dirSet        bool
		root, sub     string
		module        bool
	}{
		{"package in a module", pkg, ".", false, mod, "a/b", true},
		{"module root", mod, ".", false, mod, "", true},
		{"outside a module", outside, ".", false, ".", "", false},
		{"--dir given", pkg, "/some/dir", true, "/some/dir", "", false},
		{"--dir empty", pkg, "", true, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.wd)
			root, sub, module, err := execWorkTree(tc.dir, tc.dirSet)
			require.NoError(t, err)
			assert.Equal(t, tc.root, root)
			assert.Equal(t, tc.sub, sub)
			assert.Equal(t, tc.module, module)
		})
	}
}
