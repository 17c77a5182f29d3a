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

// jobOf returns the wire.Job in r and its record names with their link
// targets ("" for anything but a symlink).
func jobOf(t *testing.T, r *initramfs) (wire.Job, map[string]string) {
	t.Helper()
	names := map[string]string{}
	var job wire.Job
	for _, rec := range r.records {
		names[rec.Name] = ""
		if rec.Mode&0o170000 == 0o120000 {
			b := make([]byte, rec.FileSize)
			_, err := rec.ReadAt(b, 0)
			require.NoError(t, err)
			names[rec.Name] = string(b)
		}
		if "/"+rec.Name == wire.JobPath {
			b := make([]byte, rec.FileSize)
			_, err := rec.ReadAt(b, 0)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &job))
		}
	}
	return job, names
}

// TestInitramfsFaithful: the parts `go test -exec` needs: the working
// subdirectory, empty output directories, busybox with its applets.
func TestInitramfsFaithful(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "pkg"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "testdata", "nested"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "testdata", "nested", "go.mod"), []byte("module n\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "testdata", "x.elf"), []byte("elf"), 0o644))
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("prog"), 0o755))
	busybox := filepath.Join(dir, "busybox")
	require.NoError(t, os.WriteFile(busybox, []byte("busybox"), 0o755))
	r, err := buildInitramfs(prog, Job{
		Program: prog, Dir: dir, WorkSubdir: "pkg", Module: true, Busybox: busybox,
		Outputs: map[string]string{
			OutputDir(0):               "/host/gocoverdir",
			OutputFile(1, "cover.out"): "/host/cover.out",
			wire.WorkDir:               dir,
		},
		Files: map[string]string{"/bin/ls": prog},
	}, "/dev/ttyS1")
	require.NoError(t, err)
	defer r.close()
	job, names := jobOf(t, r)
	assert.Equal(t, wire.WorkDir+"/pkg", job.Dir)
	assert.Contains(t, names, "bpfmatrix/work/testdata/x.elf")
	assert.NotContains(t, names, "bpfmatrix/work/testdata/nested/go.mod", "a nested module is not part of the module")
	assert.Equal(t, []string{OutputDir(0), OutputFile(1, "cover.out"), wire.WorkDir}, job.Outputs, "sorted")
	assert.Contains(t, names, "bpfmatrix/out/0/d", "directory output created")
	assert.Contains(t, names, "bpfmatrix/out/1", "file output's directory created")
	assert.NotContains(t, names, "bpfmatrix/out/1/cover.out", "the job writes the file")
	assert.Contains(t, names, "bin/busybox")
	assert.Equal(t, "busybox", names["bin/sh"])
	assert.Equal(t, "", names["bin/ls"], "an explicit file wins over the applet link")

	_, err = buildInitramfs(prog, Job{Program: prog, Dir: dir, WorkSubdir: "../x"}, "/dev/ttyS1")
	require.ErrorContains(t, err, "not below the copied directory")
}

func TestHostOutput(t *testing.T) {
	mapping := map[string]string{
		wire.WorkDir:               "/src/mod",
		wire.WorkDir + "/pkg/deep": "/elsewhere",
		OutputDir(2):               "/tmp/gocoverdir",
		OutputFile(3, "c.out"):     "/tmp/b001/_cover_.out",
	}
	for _, tc := range []struct {
		guest, host string
		ok          bool
	}{
		{OutputFile(3, "c.out"), "/tmp/b001/_cover_.out", true},
		{OutputDir(2) + "/covcounters.x", "/tmp/gocoverdir/covcounters.x", true},
		{wire.WorkDir + "/pkg/out.txt", "/src/mod/pkg/out.txt", true},
		{wire.WorkDir + "/pkg/deep/x", "/elsewhere/x", true},
		{wire.WorkDir + "/../etc/passwd", "", false},
		{"/etc/passwd", "", false},
		{OutputFile(3, "other"), "", false},
	} {
		t.Run(tc.guest, func(t *testing.T) {
			host, ok := hostOutput(mapping, tc.guest)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.host, host)
		})
	}
}

// TestOutputFiles: chunks of one file are joined; files are written
// atomically at their host paths, with their directories.
func TestOutputFiles(t *testing.T) {
	dir := t.TempDir()
	o := &outputFiles{mapping: map[string]string{wire.WorkDir: dir}}
	require.NoError(t, o.add(wire.FilePayload(wire.WorkDir+"/a/b.txt", []byte("hello, "))))
	require.NoError(t, o.add(wire.FilePayload(wire.WorkDir+"/a/b.txt", []byte("world"))))
	require.NoError(t, o.add(wire.FilePayload(wire.WorkDir+"/empty", nil)))
	require.Error(t, o.add(wire.FilePayload("/etc/shadow", []byte("x"))))
	written, err := o.write()
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "a/b.txt"), filepath.Join(dir, "empty")}, written)
	b, err := os.ReadFile(filepath.Join(dir, "a/b.txt"))
	require.NoError(t, err)
	assert.Equal(t, "hello, world", string(b))
	fi, err := os.Stat(filepath.Join(dir, "empty"))
	require.NoError(t, err)
	assert.Zero(t, fi.Size())
}
