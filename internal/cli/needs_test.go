package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runNeedsCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), append([]string{"--cache-dir", t.TempDir(), "needs"}, args...), strings.NewReader(""), &out, &errb)
	code = ExitCode(err, &errb)
	return out.String(), errb.String(), code
}

// TestNeedsBadInput: each unreadable object and a bad --matrix is one
// Error: line and exit status 2; readable objects are still listed.
func TestNeedsBadInput(t *testing.T) {
	tmp := t.TempDir()
	notELF := filepath.Join(tmp, "notes.o")
	require.NoError(t, os.WriteFile(notELF, []byte("int x;\n"), 0o644))
	notMatrix := filepath.Join(tmp, "matrix.json")
	require.NoError(t, os.WriteFile(notMatrix, []byte(`{"schema": 1, "kernels": [], "bogus": true}`), 0o644))
	loop := filepath.Join(objects, "loop.o")
	missing := filepath.Join(tmp, "nope.o")

	for _, tc := range []struct {
		name     string
		args     []string
		errLines []string
		listed   bool
	}{
		{"no objects", nil, []string{"needs: no objects given"}, false},
		{"not an ELF", []string{notELF}, []string{notELF + ": not an ELF file"}, false},
		{"ELF but not BPF", []string{"/bin/true"}, []string{"/bin/true: ELF for X86_64 (EM_X86_64), not BPF (EM_BPF)"}, false},
		{"missing", []string{missing}, []string{"open " + missing + ": no such file or directory"}, false},
		{"big-endian", []string{filepath.Join(objects, "loop.bpfeb.o")}, []string{"big-endian BPF object"}, false},
		{"two bad, one good", []string{notELF, loop, missing}, []string{notELF + ": not an ELF file", "open " + missing + ": no such file or directory"}, true},
		{"matrix missing", []string{"--matrix", filepath.Join(tmp, "none.json"), loop}, []string{"--matrix: "}, false},
		{"matrix not a matrix", []string{"--matrix", notMatrix, loop}, []string{"--matrix: "}, false},
		{"matrix is an object", []string{"--matrix", loop, loop}, []string{"--matrix: "}, false},
		{"unknown flag", []string{"--nope", loop}, []string{"unknown flag: --nope"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runNeedsCLI(t, tc.args...)
			assert.Equal(t, 2, code)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			require.Len(t, lines, len(tc.errLines), stderr)
			for i, want := range tc.errLines {
				assert.True(t, strings.HasPrefix(lines[i], "Error: "), lines[i])
				assert.Contains(t, lines[i], want)
			}
			if tc.listed {
				assert.Contains(t, stdout, "sum_loop")
			} else {
				assert.Empty(t, stdout)
			}
		})
	}
}

// TestNeedsOutput: the table by default, the same data with --json.
func TestNeedsOutput(t *testing.T) {
	loop := filepath.Join(objects, "loop.o")
	stdout, stderr, code := runNeedsCLI(t, loop)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, loop+" sum_loop (xdp, section xdp): needs 5.17")
	assert.Regexp(t, `helper +bpf_loop +5\.17 +e6f2dd0f8067 +loop\.c:30 +calls bpf_loop`, stdout)
	assert.NotContains(t, stdout, "advisory")

	stdout, _, code = runNeedsCLI(t, "--all", loop)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "btf_func_info (advisory)")

	stdout, stderr, code = runNeedsCLI(t, "--json", loop, filepath.Join(objects, "maps_only.o"))
	require.Equal(t, 0, code, stderr)
	var rep NeedsReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Objects, 2)
	require.Len(t, rep.Objects[0].Programs, 2)
	assert.Equal(t, "match_comm", rep.Objects[0].Programs[0].Name)
	assert.Equal(t, "5.17", rep.Objects[0].Programs[0].Minimum)
	assert.Empty(t, rep.Objects[1].Programs)
}

// TestNeedsLibbpfOnly: objects cilium/ebpf refuses to load are analysed
// too: usdt.bpf.h's weak symbols (read as global for the analysis) and a
// typedef'd LINUX_KERNEL_VERSION (read, refused only at load).
func TestNeedsLibbpfOnly(t *testing.T) {
	usdt := filepath.Join(objects, "usdt.o")
	stdout, stderr, code := runNeedsCLI(t, usdt, filepath.Join(objects, "kconfig_typedef.o"))
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, usdt+" on_request (kprobe, section usdt): needs 5.15")
	// The USDT argument fetch in usdt.bpf.h, with its source line.
	assert.Regexp(t, `helper +bpf_get_attach_cookie +5\.15 .*usdt\.bpf\.h:\d+ +calls bpf_get_attach_cookie`, stdout)
	assert.Regexp(t, `map_type +hash .*map __bpf_usdt_ip_to_spec_id has type hash`, stdout)
	assert.Contains(t, stdout, "usdt.o map __bpf_usdt_specs (array)")
	assert.Contains(t, stdout, "kconfig_typedef.o version_gate (xdp, section xdp): needs 4.8")
}
