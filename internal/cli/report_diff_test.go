package cli

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
)

// realMatrixFile unpacks one of internal/matrix's real probe captures
// (host kernel as root, and as nobody) to dir/name.
func realMatrixFile(t *testing.T, fixture, dir, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "matrix", "testdata", fixture))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	realMatrixFile(t, "host-root.json.gz", dir, matrix.FileJSON)

	t.Run("regenerates the reports", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "report", dir)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "1 kernels")
		for _, f := range []string{matrix.FileMarkdown, matrix.FileHTML, matrix.FileJUnit} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, err)
			assert.NotEmpty(t, b, f)
		}
	})

	t.Run("json lines", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "report", "--json", filepath.Join(dir, matrix.FileJSON))
		require.Equal(t, 0, code, stderr)
		m, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
		require.NoError(t, err)
		n := 0
		sc := bufio.NewScanner(strings.NewReader(stdout))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l matrix.Line
			require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
			assert.Equal(t, "host", l.Kernel)
			n++
		}
		assert.Equal(t, len(m.Kernels[0].Features)+len(m.Kernels[0].Verifier), n)
	})

	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, matrix.FileJSON), []byte(`{"schema": 1, "generated": "2026-01-01T00:00:00Z", "kernels": [], "extra": 1}`), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no args", []string{"report"}, "accepts 1 arg"},
		{"missing dir", []string{"report", filepath.Join(dir, "nope")}, "no such file"},
		{"unknown field", []string{"report", bad}, `unknown field "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.want)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}
}

func TestDiff(t *testing.T) {
	dir := t.TempDir()
	root := realMatrixFile(t, "host-root.json.gz", dir, "root.json")
	root2 := realMatrixFile(t, "host-root.json.gz", dir, "root-again.json")
	nobody := realMatrixFile(t, "host-nobody.json.gz", dir, "nobody.json")
	garbage := filepath.Join(dir, "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("not json"), 0o644))

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"identical", []string{"diff", root, root2}, 0, "no differences\n", ""},
		{"identical markdown", []string{"diff", "--format", "markdown", root, root2}, 0, "No differences.", ""},
		{"privilege lost", []string{"diff", root, nobody}, 1, "lost    map_type ringbuf: supported -> unsupported", "lost"},
		{"privilege lost markdown", []string{"diff", "--format=markdown", root, nobody}, 1, "| **lost** | map_type ringbuf | supported | unsupported |", "lost"},
		{"privilege gained back", []string{"diff", nobody, root}, 0, "gained  map_type ringbuf: unsupported -> supported", ""},
		{"bad format", []string{"diff", "--format", "html", root, nobody}, 2, "", "want text or markdown"},
		{"one file", []string{"diff", root}, 2, "", "accepts 2 arg"},
		{"missing file", []string{"diff", root, filepath.Join(dir, "nope.json")}, 2, "", "no such file"},
		{"not json", []string{"diff", garbage, root}, 2, "", "invalid matrix"},
		{"kernel pair", []string{"diff", "--old-kernel", "host", "--new-kernel", "host", root, nobody}, 1, "host -> host:\n", "lost"},
		{"kernel pair unknown", []string{"diff", "--old-kernel", "host", "--new-kernel", "debian-7.3", root, nobody}, 2, "", "must name a kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.args...)
			assert.Equal(t, tc.code, code, "stderr: %s", stderr)
			assert.Contains(t, stdout, tc.stdout)
			assert.Contains(t, stderr, tc.stderr)
		})
	}
}
