package vm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
)

func TestInitramfsLayout(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "bpfmatrix-agent")
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(agent, []byte("agent"), 0o755))
	require.NoError(t, os.WriteFile(prog, []byte("prog"), 0o755))

	for _, tc := range []struct {
		name, program, wantProgram string
		wantBin                    bool
	}{
		{"separate program", prog, "/bpfmatrix/bin/prog", true},
		{"the agent as the job", agent, "/init", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := buildInitramfs(agent, Job{Program: tc.program, Args: []string{"x"}}, "/dev/ttyS1")
			require.NoError(t, err)
			defer r.close()
			names := map[string]bool{}
			var job wire.Job
			for _, rec := range r.records {
				names[rec.Name] = true
				if "/"+rec.Name == wire.JobPath {
					b := make([]byte, rec.FileSize)
					_, err := rec.ReadAt(b, 0)
					require.NoError(t, err)
					require.NoError(t, json.Unmarshal(b, &job))
				}
			}
			assert.True(t, names["init"])
			assert.Equal(t, tc.wantBin, names["bpfmatrix/bin/"+filepath.Base(tc.program)], "program copied: %v", names)
			assert.Equal(t, tc.wantProgram, job.Program)
		})
	}
}

func TestInitramfsTree(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"testdata/in.txt", ".git/objects/pack/big.pack", "sub/.hg/store"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644))
	}
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("prog"), 0o755))
	r, err := buildInitramfs(prog, Job{Program: prog, Dir: dir}, "/dev/ttyS1")
	require.NoError(t, err)
	defer r.close()
	names := map[string]bool{}
	for _, rec := range r.records {
		names[rec.Name] = true
	}
	assert.True(t, names["bpfmatrix/work/testdata/in.txt"], "the job's data: %v", names)
	assert.True(t, names["bpfmatrix/work/sub"])
	for n := range names {
		assert.NotContains(t, n, ".git", "version-control metadata is left out")
		assert.NotContains(t, n, ".hg", "version-control metadata is left out")
	}
}

func TestInitramfsTooBig(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("prog"), 0o755))
	work := filepath.Join(dir, "work")
	require.NoError(t, os.Mkdir(work, 0o755))
	// Sparse: 70 MB that takes no disk.
	f, err := os.Create(filepath.Join(work, "big"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(70<<20))
	require.NoError(t, f.Close())

	out := filepath.Join(dir, "initramfs.cpio")
	err = writeInitramfs(out, prog, Job{Program: prog, Dir: work}, "/dev/ttyS1", 256)
	require.ErrorContains(t, err, "initramfs of 70 MB does not fit a 256 MB guest (at most 64 MB)")
	assert.NoFileExists(t, out, "nothing is written")
	assert.Equal(t, 149, maxInitramfsMB(512), "the default guest takes 149 MB")
	assert.Equal(t, 10, maxInitramfsMB(MinMemoryMB), "the smallest guest still takes the init, a job and a small working directory")
}
