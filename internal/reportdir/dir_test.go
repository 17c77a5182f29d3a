package reportdir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commit stages files (slash path -> content) and commits them to sub.
func commit(t *testing.T, d *Dir, sub string, st Stamp, files map[string]string) error {
	t.Helper()
	s, err := d.Stage()
	require.NoError(t, err)
	for p, c := range files {
		full := filepath.Join(s.Path(), filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	return s.Commit(sub, st)
}

func open(t *testing.T, dir string) *Dir {
	t.Helper()
	d, err := Open(context.Background(), dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

var (
	twoKernels = []Kernel{{"debian-6.1", "k1"}, {"debian-6.12", "k2"}}
	twoFiles   = map[string]string{
		"matrix.json":                 `{"kernels":["debian-6.1","debian-6.12"]}`,
		"kernels/debian-6.1.json":     "6.1",
		"kernels/debian-6.12.json":    "6.12",
		"logs/debian-6.12/a_case.log": "log",
	}
)

func TestOpenUnusable(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for name, dir := range map[string]string{
		"a file":           file,
		"under a file":     filepath.Join(file, "sub"),
		"not writable":     "/proc",
		"read-only sysfs":  "/sys/kernel",
		"a file's sibling": filepath.Join(file, "..", "file", "x"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(context.Background(), dir, nil)
			require.ErrorIs(t, err, ErrUnusable)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing created beside the file")
}

// TestUpToDateFollowsContent: only a complete stamp for the same build and
// kernels, whose every file still holds what was written, is up to date.
func TestUpToDateFollowsContent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		build   string
		kernels []Kernel
		damage  func(t *testing.T, dir string)
		want    bool
	}{
		{name: "untouched", build: "b", kernels: twoKernels, want: true},
		{name: "matrix.json truncated", build: "b", kernels: twoKernels, damage: func(t *testing.T, dir string) {
			require.NoError(t, os.Truncate(filepath.Join(dir, "matrix.json"), 10))
		}},
		{name: "kernels and logs deleted", build: "b", kernels: twoKernels, damage: func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "kernels")))
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "logs")))
		}},
		{name: "one log edited, same size", build: "b", kernels: twoKernels, damage: func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "logs/debian-6.12/a_case.log"), []byte("LOG"), 0o644))
		}},
		{name: "file replaced by a symbolic link to the same bytes", build: "b", kernels: twoKernels, damage: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "kernels/debian-6.1.json")
			require.NoError(t, os.WriteFile(p+".orig", []byte("6.1"), 0o644))
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Symlink("debian-6.1.json.orig", p))
		}},
		{name: "stamp deleted", build: "b", kernels: twoKernels, damage: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, StampFile)))
		}},
		{name: "other build", build: "c", kernels: twoKernels},
		{name: "other kernel set", build: "b", kernels: twoKernels[:1]},
		{name: "kernels reordered", build: "b", kernels: []Kernel{twoKernels[1], twoKernels[0]}},
		{name: "other result key", build: "b", kernels: []Kernel{{"debian-6.1", "k1"}, {"debian-6.12", "k3"}}},
		{name: "no kernels", build: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := open(t, dir)
			require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels, Lines: []string{"l1", "l2"}}, twoFiles))
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			lines, ok := d.UpToDate(tc.build, tc.kernels, "matrix.json")
			assert.Equal(t, tc.want, ok)
			if tc.want {
				assert.Equal(t, []string{"l1", "l2"}, lines)
			}
		})
	}

	t.Run("required file missing from the stamp", func(t *testing.T) {
		d := open(t, t.TempDir())
		require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels}, twoFiles))
		_, ok := d.UpToDate("b", twoKernels, "matrix.json", "index.html")
		assert.False(t, ok)
	})
}

// TestCommitRemovesStaleFiles: a smaller report removes the files only the
// previous one had, when they still hold what was written, and nothing else.
func TestCommitRemovesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels}, twoFiles))
	user := map[string]string{
		"notes.txt":               "mine",
		"logs/debian-6.12/me.txt": "mine too",
		"kernels/custom.json":     "mine three",
	}
	for p, c := range user {
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
	}
	// A stale file the user edited is theirs now.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kernels/debian-6.12.json"), []byte("edited"), 0o644))

	one := map[string]string{"matrix.json": `{"kernels":["debian-6.1"]}`, "kernels/debian-6.1.json": "6.1 again"}
	require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels[:1]}, one))

	assert.NoFileExists(t, filepath.Join(dir, "logs/debian-6.12/a_case.log"))
	assert.Equal(t, "edited", readFile(t, filepath.Join(dir, "kernels/debian-6.12.json")))
	assert.Equal(t, "6.1 again", readFile(t, filepath.Join(dir, "kernels/debian-6.1.json")))
	for p, c := range user {
		assert.Equal(t, c, readFile(t, filepath.Join(dir, p)), p)
	}
	st, err := d.Read("")
	require.NoError(t, err)
	assert.Len(t, st.Files, 2, "the stamp lists only what this commit wrote")
	_, ok := d.UpToDate("b", twoKernels[:1])
	assert.True(t, ok)

	t.Run("emptied directories go", func(t *testing.T) {
		dir := t.TempDir()
		d := open(t, dir)
		require.NoError(t, commit(t, d, "", Stamp{}, twoFiles))
		require.NoError(t, commit(t, d, "", Stamp{}, map[string]string{"matrix.json": "{}"}))
		assert.NoDirExists(t, filepath.Join(dir, "logs"))
		assert.NoDirExists(t, filepath.Join(dir, "kernels"))
	})
}

// TestKilledCommit: a commit stopped at any rename leaves a stamp that is not
// up to date, and the next commit leaves exactly its own report.
func TestKilledCommit(t *testing.T) {
	for stopAt := range len(twoFiles) + 1 {
		t.Run(strings.Repeat("rename ", stopAt), func(t *testing.T) {
			dir := t.TempDir()
			d := open(t, dir)
			require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels}, twoFiles))

			killAt = func(i int) bool { return i == stopAt }
			one := map[string]string{"matrix.json": "one", "kernels/debian-6.1.json": "one"}
			err := commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels[:1]}, one)
			killAt = nil
			if stopAt < len(one) {
				require.ErrorIs(t, err, errKilled)
				st, err := d.Read("")
				require.NoError(t, err)
				assert.False(t, st.Complete)
				_, ok := d.UpToDate("b", twoKernels)
				assert.False(t, ok, "the old report is no longer whole")
				_, ok = d.UpToDate("b", twoKernels[:1])
				assert.False(t, ok, "the new report is not whole yet")
			} else {
				require.NoError(t, err)
			}
			// The next run (another process: Open again) finishes the job.
			d.Close()
			d = open(t, dir)
			require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels[:1]}, one))
			_, ok := d.UpToDate("b", twoKernels[:1])
			assert.True(t, ok)
			var got []string
			require.NoError(t, filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					got = append(got, rel)
				}
				return err
			}))
			assert.ElementsMatch(t, []string{LockFile, StampFile, "matrix.json", "kernels/debian-6.1.json"}, got)
		})
	}
}

// TestFailedRun: a report committed to failed-run leaves the directory's own
// report and its up-to-date state alone; the next good commit removes it.
func TestFailedRun(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels}, twoFiles))
	before := readFile(t, filepath.Join(dir, "matrix.json"))

	require.NoError(t, commit(t, d, FailedRun, Stamp{Lines: []string{"FAILED"}}, map[string]string{"matrix.json": "failed", "kernels/debian-6.1.json": "error"}))
	assert.Equal(t, before, readFile(t, filepath.Join(dir, "matrix.json")))
	assert.Equal(t, "failed", readFile(t, filepath.Join(dir, FailedRun, "matrix.json")))
	_, ok := d.UpToDate("b", twoKernels)
	assert.True(t, ok)

	require.NoError(t, commit(t, d, "", Stamp{Build: "b", Kernels: twoKernels}, twoFiles))
	assert.NoDirExists(t, filepath.Join(dir, FailedRun))

	t.Run("a user file keeps failed-run", func(t *testing.T) {
		require.NoError(t, commit(t, d, FailedRun, Stamp{}, map[string]string{"matrix.json": "failed"}))
		require.NoError(t, os.WriteFile(filepath.Join(dir, FailedRun, "why.txt"), []byte("notes"), 0o644))
		d.DiscardFailedRun()
		assert.NoFileExists(t, filepath.Join(dir, FailedRun, "matrix.json"))
		assert.Equal(t, "notes", readFile(t, filepath.Join(dir, FailedRun, "why.txt")))
	})
}

// TestOpenWaitsForTheLock: a second writer of one directory waits until the
// first closes it.
func TestOpenWaitsForTheLock(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(context.Background(), dir, nil)
	require.NoError(t, err)
	waiting := make(chan struct{})
	opened := make(chan error, 1)
	go func() {
		d, err := Open(context.Background(), dir, func() { close(waiting) })
		if err == nil {
			d.Close()
		}
		opened <- err
	}()
	<-waiting
	select {
	case err := <-opened:
		t.Fatalf("second Open returned while the first held the lock: %v", err)
	default:
	}
	require.NoError(t, first.Close())
	require.NoError(t, <-opened)

	t.Run("cancelled while waiting", func(t *testing.T) {
		first := open(t, dir)
		_ = first
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Open(ctx, dir, cancel)
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrUnusable)
	})
}

// TestOpenRemovesStaging: a killed run's staging directory is gone after the
// next Open.
func TestOpenRemovesStaging(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	s, err := d.Stage()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(s.Path(), "matrix.json"), []byte("half"), 0o644))
	d.Close()
	open(t, dir)
	assert.NoDirExists(t, s.Path())
}

// TestRemovalStaysInside: a stamp naming a path outside the directory is
// refused, and a symbolic link inside it does not lead a removal outside.
func TestRemovalStaysInside(t *testing.T) {
	tmp := t.TempDir()
	outside := filepath.Join(tmp, "outside")
	require.NoError(t, os.MkdirAll(outside, 0o755))
	victim := filepath.Join(outside, "victim.json")
	require.NoError(t, os.WriteFile(victim, []byte("6.1"), 0o644))
	digest := "sha256:" + strings.Repeat("0", 64)
	{
		d := open(t, t.TempDir())
		require.NoError(t, commit(t, d, "", Stamp{}, map[string]string{"x": "6.1"}))
		st, err := d.Read("")
		require.NoError(t, err)
		digest = st.Files["x"] // sha256 of "6.1", the victim's content
	}

	dir := filepath.Join(tmp, "report")
	d := open(t, dir)
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "kernels")))
	stamp := `{"version":2,"complete":true,"files":{"kernels/victim.json":"` + digest + `"}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, StampFile), []byte(stamp), 0o644))
	require.NoError(t, commit(t, d, "", Stamp{}, map[string]string{"matrix.json": "{}"}))
	assert.FileExists(t, victim)

	for _, p := range []string{"../outside/victim.json", "/tmp/x", "a/../b", "./a", "a//b", StampFile, "sub/" + LockFile, stagingPrefix + "1/x", ""} {
		_, err := ParseStamp([]byte(`{"version":2,"files":{"` + p + `":"` + digest + `"}}`))
		assert.ErrorIs(t, err, ErrBadStamp, p)
	}
}
