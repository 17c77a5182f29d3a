package reportdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seedStamps adds the stamps captured from real runs (testdata/README.md)
// and the incomplete stamp a killed commit leaves.
func seedStamps(f *testing.F) {
	paths, err := filepath.Glob("testdata/stamp-*")
	require.NoError(f, err)
	require.NotEmpty(f, paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	dir := f.TempDir()
	d, err := Open(f.Context(), dir, nil)
	require.NoError(f, err)
	defer d.Close()
	killAt = func(i int) bool { return i == 1 }
	s, err := d.Stage()
	require.NoError(f, err)
	for _, name := range []string{"matrix.json", "kernels/debian-6.1.json"} {
		p := filepath.Join(s.Path(), name)
		require.NoError(f, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(f, os.WriteFile(p, []byte(name), 0o644))
	}
	require.ErrorIs(f, s.Commit("", Stamp{}), errKilled)
	killAt = nil
	b, err := os.ReadFile(filepath.Join(dir, StampFile))
	require.NoError(f, err)
	f.Add(b)

	// The captured stamp, its files pointed at what FuzzCommitOverStamp
	// puts outside the directory (content = path), digests and all: the
	// removal it asks for must not leave the directory.
	b, err = os.ReadFile("testdata/stamp-debian-6.1")
	require.NoError(f, err)
	st, err := ParseStamp(b)
	require.NoError(f, err)
	st.Files = map[string]string{}
	for _, p := range []string{"kernels/debian-6.1.json", "logs/debian-6.1/may_goto.log"} {
		sum := sha256.Sum256([]byte(p))
		st.Files[p] = "sha256:" + hex.EncodeToString(sum[:])
	}
	b, err = st.Marshal()
	require.NoError(f, err)
	f.Add(b)
}

// FuzzParseStamp: no input panics; an accepted stamp names only paths inside
// the directory, and encodes back to a stamp that parses to the same value.
func FuzzParseStamp(f *testing.F) {
	seedStamps(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStamp(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadStamp)
			return
		}
		for p := range st.Files {
			require.True(t, validPath(p), p)
		}
		again, err := st.Marshal()
		require.NoError(t, err)
		back, err := ParseStamp(again)
		require.NoError(t, err)
		require.Equal(t, st, back)
	})
}

// FuzzCommitOverStamp: whatever stamp a directory holds, a commit puts the
// new report in place, vouches for it, and touches nothing outside the
// directory, even through a symbolic link inside it.
func FuzzCommitOverStamp(f *testing.F) {
	seedStamps(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tmp := t.TempDir()
		outside := filepath.Join(tmp, "outside")
		require.NoError(t, os.MkdirAll(filepath.Join(outside, "logs", "debian-6.1"), 0o755))
		victims := map[string][]byte{}
		for _, p := range []string{"matrix.json", "index.html", "kernels/debian-6.1.json", "logs/debian-6.1/may_goto.log"} {
			full := filepath.Join(outside, p)
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(t, os.WriteFile(full, []byte(p), 0o644))
			victims[full] = []byte(p)
		}
		dir := filepath.Join(tmp, "report")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.Symlink(filepath.Join(outside, "kernels"), filepath.Join(dir, "kernels")))
		require.NoError(t, os.Symlink(filepath.Join(outside, "logs"), filepath.Join(dir, "logs")))
		require.NoError(t, os.WriteFile(filepath.Join(dir, StampFile), b, 0o644))

		d, err := Open(t.Context(), dir, nil)
		require.NoError(t, err)
		defer d.Close()
		s, err := d.Stage()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(s.Path(), "matrix.json"), []byte("new"), 0o644))
		require.NoError(t, s.Commit("", Stamp{Build: "b", Kernels: []Kernel{{"k", "key"}}}))

		_, ok := d.UpToDate("b", []Kernel{{"k", "key"}}, "matrix.json")
		assert.True(t, ok)
		for p, want := range victims {
			got, err := os.ReadFile(p)
			require.NoError(t, err, "%s removed", p)
			assert.True(t, bytes.Equal(want, got), "%s changed", p)
		}
	})
}
