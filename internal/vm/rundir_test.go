package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunDirSweep: a new run removes the run directories whose lock is free
// (their process died) and never one whose lock is held (a live run), nor
// anything not named like a run directory.
func TestRunDirSweep(t *testing.T) {
	parent := t.TempDir()

	live, err := NewRunDir(parent, RunDirPrefix)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(live.Path(), "initramfs.cpio"), []byte("live"), 0o644))

	// A dead run's directory: made by a process that has exited, which is
	// what SIGKILL leaves (the kernel drops the lock with the process).
	dead := filepath.Join(parent, RunDirPrefix+"1-dead")
	out, err := exec.Command("mkdir", dead).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dead, "initramfs.cpio"), []byte("dead"), 0o644))
	other := filepath.Join(parent, "not-a-run")
	require.NoError(t, os.Mkdir(other, 0o755))
	link := filepath.Join(parent, RunDirPrefix+"link")
	require.NoError(t, os.Symlink(other, link))

	next, err := NewRunDir(parent, RunDirPrefix)
	require.NoError(t, err)
	assert.NoDirExists(t, dead, "a dead run's directory is swept")
	assert.FileExists(t, filepath.Join(live.Path(), "initramfs.cpio"), "a live run's directory survives the sweep")
	assert.DirExists(t, other, "not a run directory")
	_, err = os.Lstat(link)
	assert.NoError(t, err, "a symlink is not followed or removed")
	assert.NotEqual(t, live.Path(), next.Path())
	assert.Contains(t, filepath.Base(next.Path()), RunDirPrefix+strconv.Itoa(os.Getpid())+"-")

	require.NoError(t, next.Close())
	assert.NoDirExists(t, next.Path(), "Close removes the directory")
	require.NoError(t, live.Close())
	assert.NoDirExists(t, live.Path())
}

// TestRunDirCommit: a committed directory is the caller's: renamed, not
// removed by Close, and never swept.
func TestRunDirCommit(t *testing.T) {
	parent := t.TempDir()
	d, err := NewRunDir(parent, ".stage-")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.Path(), "result.json"), []byte("{}"), 0o644))
	dst := filepath.Join(parent, "artifact")
	require.NoError(t, d.Commit(dst))
	require.NoError(t, d.Close())
	assert.FileExists(t, filepath.Join(dst, "result.json"))
	assert.NoDirExists(t, d.Path())

	SweepRunDirs(parent, ".stage-")
	SweepRunDirs(parent, "") // an empty prefix sweeps nothing
	assert.FileExists(t, filepath.Join(dst, "result.json"))
}
