package cli

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/reportdir"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Real results: a `bpfmatrix run --kernels debian-6.1,debian-6.1-arm64`
// matrix, and the matrix of a run whose only kernel failed to boot
// (`bpfmatrix run --kernels debian-6.1 --no-cache --boot-timeout 100ms`).
const (
	fixturePair   = "../matrix/testdata/debian-6.1-x86_64-arm64.json.gz"
	fixtureFailed = "../matrix/testdata/failed-boot-debian-6.1.json"
)

// loadRun returns the fixture's results as run.Run returns them: verifier
// logs inline, not yet written to files. The fixture kept only their file
// names; each log here is its case's verifier summary line.
func loadRun(t testing.TB, path string, kernels ...string) *result.Matrix {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var m *result.Matrix
	if filepath.Ext(path) == ".gz" {
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		m, err = matrix.Decode(zr)
		require.NoError(t, err)
	} else {
		m, err = matrix.Decode(f)
		require.NoError(t, err)
	}
	var keep []result.KernelResult
	for _, kr := range m.Kernels {
		for j := range kr.Verifier {
			v := &kr.Verifier[j]
			if v.LogFile != "" {
				v.Log, v.LogFile = v.Summary, ""
			}
		}
		if len(kernels) == 0 || slices.Contains(kernels, kr.Kernel.Name) {
			keep = append(keep, kr)
		}
	}
	m.Kernels = keep
	require.NotEmpty(t, m.Kernels)
	return m
}

// keysOf stands in for the result cache keys of m's kernels.
func keysOf(m *result.Matrix) []reportdir.Kernel {
	var ks []reportdir.Kernel
	for _, kr := range m.Kernels {
		h := sha256.Sum256([]byte(kr.Kernel.Name + kr.Kernel.Digest))
		ks = append(ks, reportdir.Kernel{Name: kr.Kernel.Name, Key: hex.EncodeToString(h[:])})
	}
	return ks
}

func openOut(t *testing.T, dir string) *reportdir.Dir {
	t.Helper()
	d, err := reportdir.Open(context.Background(), dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// publish writes m as `run` does once its kernels have run.
func publish(t *testing.T, out *reportdir.Dir, m *result.Matrix) error {
	t.Helper()
	return publishReport(out, m, reportdir.Stamp{Build: "build", Kernels: keysOf(m), Lines: []string{"line"}})
}

func upToDate(out *reportdir.Dir, m *result.Matrix) bool {
	_, ok := out.UpToDate("build", keysOf(m), reportFiles...)
	return ok
}

// snapshot maps every file under dir (slash paths) to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	return files
}

// TestReportUpToDateIsContent: "up to date" is decided from what the report
// files hold, never from their existence.
func TestReportUpToDateIsContent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   bool
	}{
		{name: "as written", want: true},
		{name: "matrix.json truncated, kernels/ and logs/ deleted", damage: func(t *testing.T, dir string) {
			require.NoError(t, os.Truncate(filepath.Join(dir, matrix.FileJSON), 100))
			require.NoError(t, os.RemoveAll(filepath.Join(dir, matrix.DirKernels)))
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "logs")))
		}},
		{name: "matrix.json truncated", damage: func(t *testing.T, dir string) {
			require.NoError(t, os.Truncate(filepath.Join(dir, matrix.FileJSON), 100))
		}},
		{name: "a verifier log deleted", damage: func(t *testing.T, dir string) {
			logs, err := filepath.Glob(filepath.Join(dir, "logs", "debian-6.1-arm64", "*.log"))
			require.NoError(t, err)
			require.NotEmpty(t, logs)
			require.NoError(t, os.Remove(logs[0]))
		}},
		{name: "index.html regenerated from another matrix", damage: func(t *testing.T, dir string) {
			require.NoError(t, matrix.WriteReports(dir, loadRun(t, fixturePair, "debian-6.1")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := openOut(t, dir)
			m := loadRun(t, fixturePair)
			require.NoError(t, publish(t, out, m))
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			assert.Equal(t, tc.want, upToDate(out, m))
		})
	}
}

// TestReportKernelSets: after runs with different kernel sets into one
// --out, only the set the report holds is up to date, and matrix.json holds
// the last set.
func TestReportKernelSets(t *testing.T) {
	dir := t.TempDir()
	out := openOut(t, dir)
	both := loadRun(t, fixturePair)
	one := loadRun(t, fixturePair, "debian-6.1-arm64")
	require.NoError(t, publish(t, out, both))
	require.NoError(t, publish(t, out, one))

	assert.False(t, upToDate(out, both), "matrix.json holds another run's kernel set")
	assert.True(t, upToDate(out, one))
	back, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	require.Len(t, back.Kernels, 1)
	assert.Equal(t, "debian-6.1-arm64", back.Kernels[0].Kernel.Name)

	// The smaller set's report leaves nothing of the larger one behind.
	assert.NoFileExists(t, filepath.Join(dir, matrix.DirKernels, "debian-6.1.json"))
	assert.NoDirExists(t, filepath.Join(dir, "logs", "debian-6.1"))
	assert.FileExists(t, filepath.Join(dir, matrix.DirKernels, "debian-6.1-arm64.json"))
	for _, v := range back.Kernels[0].Verifier {
		if v.LogFile != "" {
			assert.FileExists(t, filepath.Join(dir, v.LogFile), "matrix.json names a log that is there")
		}
	}
}

// TestReportSmallerSetKeepsUserFiles: stale per-kernel files of the previous
// report go; files bpfmatrix did not write stay, wherever they are.
func TestReportSmallerSetKeepsUserFiles(t *testing.T) {
	dir := t.TempDir()
	out := openOut(t, dir)
	require.NoError(t, publish(t, out, loadRun(t, fixturePair)))
	user := map[string]string{
		"README.txt":                      "my notes on this report",
		"logs/debian-6.1/my-analysis.txt": "why isa_v4 fails",
		"kernels/debian-6.1.json.bak":     "a copy I made",
	}
	for p, c := range user {
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
	}
	require.NoError(t, publish(t, out, loadRun(t, fixturePair, "debian-6.1-arm64")))

	got := snapshot(t, dir)
	for p, c := range user {
		assert.Equal(t, c, got[p], p)
	}
	for p := range got {
		assert.NotRegexp(t, `^kernels/debian-6\.1\.json$|^logs/debian-6\.1/.*\.log$`, p, "stale file of the previous report")
	}
}

// TestReportEveryKernelFailed: a run whose every kernel failed leaves the
// last good report byte for byte (and up to date), puts its own report in
// failed-run/, and says so; the next good run removes failed-run/.
func TestReportEveryKernelFailed(t *testing.T) {
	dir := t.TempDir()
	out := openOut(t, dir)
	good := loadRun(t, fixturePair)
	require.NoError(t, publish(t, out, good))
	before := snapshot(t, dir)

	failed := loadRun(t, fixtureFailed)
	err := publish(t, out, failed)
	require.ErrorIs(t, err, errEveryKernelFailed)
	assert.Contains(t, err.Error(), filepath.Join(dir, reportdir.FailedRun))
	assert.Equal(t, 1, ExitCode(err, io.Discard), "exit status 1")

	after := snapshot(t, dir)
	for p, c := range before {
		assert.Equal(t, c, after[p], "%s changed", p)
	}
	assert.True(t, upToDate(out, good), "the good report is still whole")
	back, err := matrix.Read(filepath.Join(dir, reportdir.FailedRun, matrix.FileJSON))
	require.NoError(t, err)
	require.Len(t, back.Kernels, 1)
	assert.Contains(t, back.Kernels[0].Error, "boot timeout")

	require.NoError(t, publish(t, out, good))
	assert.NoDirExists(t, filepath.Join(dir, reportdir.FailedRun))
}

// TestReportSomeKernelsFailed: a failed kernel keeps its column in the
// report that replaces the previous one.
func TestReportSomeKernelsFailed(t *testing.T) {
	dir := t.TempDir()
	out := openOut(t, dir)
	m := loadRun(t, fixturePair, "debian-6.1-arm64")
	failed := loadRun(t, fixtureFailed)
	m.Kernels = append(m.Kernels, failed.Kernels...)
	require.NoError(t, publishReport(out, m, reportdir.Stamp{Build: "build"}))
	back, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	require.Len(t, back.Kernels, 2)
	assert.NotEmpty(t, back.Kernels[1].Error)
	_, ok := out.UpToDate("build", nil, reportFiles...)
	assert.False(t, ok, "a report with a failed kernel is never up to date")
}
