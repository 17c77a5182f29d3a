package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "durable"}[durable], func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sub", "f.json")
			require.NoError(t, Write(path, []byte("old"), durable))
			require.NoError(t, Write(path, []byte("new"), durable))
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "new", string(b))
			ents, err := os.ReadDir(filepath.Dir(path))
			require.NoError(t, err)
			assert.Len(t, ents, 1, "no temporary file left behind")
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
		})
	}
}

func TestWriteFailureLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, Write(path, []byte("old"), false))
	// A directory where the file should go makes the rename fail.
	target := filepath.Join(dir, "d")
	require.NoError(t, os.MkdirAll(filepath.Join(target, "x"), 0o755))
	assert.Error(t, Write(target, []byte("new"), false))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 2, "the failed write left a temporary file")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b))
}
