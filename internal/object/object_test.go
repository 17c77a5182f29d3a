package object

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

const objects = "../../tests/testdata/objects"

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		object   string
		programs []string
	}{
		{"loop.o", []string{"match_comm", "sum_loop"}},
		{"never.o", []string{"count_checked", "count_unchecked"}},
		{"libbpf_style.o", []string{"classify_drop", "fentry_unlink", "kprobe_unlink", "replace_elsewhere", "xdp_entry"}},
	} {
		t.Run(tc.object, func(t *testing.T) {
			o, err := Open(filepath.Join(objects, tc.object))
			require.NoError(t, err)
			assert.Equal(t, tc.programs, o.Programs)
			require.NoError(t, o.Select(tc.programs[0]))
			require.NoError(t, o.Select(""))
			err = o.Select("nope")
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), `no program "nope" (programs: `+strings.Join(tc.programs, ", ")+")")
		})
	}
	t.Run("invalid", func(t *testing.T) {
		for _, p := range []string{"/bin/true", filepath.Join(objects, "loop.bpfeb.o"), filepath.Join(objects, "loop.c"), filepath.Join(objects, "missing.o"), objects} {
			_, err := Open(p)
			require.ErrorIs(t, err, ErrInvalid, p)
			assert.NotContains(t, err.Error(), "\n")
		}
	})
}

func TestSources(t *testing.T) {
	for _, tc := range []struct {
		object, program string
		insn            int
		file            string
		line            int
		text            string
	}{
		{"loop.o", "match_comm", 9, "./loop.c", 42, "if (bpf_strncmp(comm, sizeof(comm), target_comm) == 0)"},
		{"loop.o", "match_comm", 0, "./loop.c", 38, "int match_comm(struct xdp_md *ctx)"},
		// Instruction 5 is line 0 in the line info: it keeps line 40.
		{"loop.o", "match_comm", 5, "./loop.c", 40, `char comm[16] = "sh";`},
		{"never.o", "count_unchecked", 7, "./never.c", 24, "*value += 1;"},
		// The callback is appended after the program's own instructions.
		{"loop.o", "sum_loop", 15, "./loop.c", 21, "*sum += index;"},
	} {
		t.Run(tc.object+"/"+tc.program, func(t *testing.T) {
			o, err := Open(filepath.Join(objects, tc.object))
			require.NoError(t, err)
			src, ok := o.Sources(tc.program)
			require.True(t, ok)
			assert.Equal(t, SourceLine{File: tc.file, Line: tc.line, Text: tc.text}, src[tc.insn])
		})
	}
}

func TestAnnotate(t *testing.T) {
	for _, tc := range []struct {
		log, object, program string
		summary              string
		failing              string // "" when the log names no instruction
		source               string
	}{
		{
			"loop.match_comm.debian-5.10.log", "loop.o", "match_comm",
			"invalid func unknown#182",
			">>> 9: (85) call unknown#182  // ./loop.c:42: if (bpf_strncmp(comm, sizeof(comm), target_comm) == 0)\ninvalid func unknown#182\n",
			"failing instruction: 9: call unknown#182\nsource: ./loop.c:42: if (bpf_strncmp(comm, sizeof(comm), target_comm) == 0)\nverifier: invalid func unknown#182\n",
		},
		{
			"never.count_unchecked.debian-6.1.log", "never.o", "count_unchecked",
			"R0 invalid mem access 'map_value_or_null'",
			">>> 7: (79) r1 = *(u64 *)(r0 +0)  // ./never.c:24: *value += 1;\nR0 invalid mem access 'map_value_or_null'\n",
			"failing instruction: 7: r1 = *(u64 *)(r0 +0)\nsource: ./never.c:24: *value += 1;\nverifier: R0 invalid mem access 'map_value_or_null'\n",
		},
		{
			"loop.sum_loop.debian-5.10.log", "loop.o", "sum_loop",
			"number of funcs in func_info doesn't match number of subprogs",
			"",
			"verifier: number of funcs in func_info doesn't match number of subprogs\n",
		},
	} {
		t.Run(tc.log, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.log))
			require.NoError(t, err)
			log := string(raw)
			require.Equal(t, tc.summary, verifier.SummaryLine(log), "the summary the loader reports")
			o, err := Open(filepath.Join(objects, tc.object))
			require.NoError(t, err)
			src, _ := o.Sources(tc.program)
			var b bytes.Buffer
			require.NoError(t, Annotate(&b, log, tc.summary, src))
			out := b.String()
			assert.True(t, strings.HasPrefix(out, tc.source), "header:\n%s", out)
			if tc.failing == "" {
				assert.NotContains(t, out, FailMarker)
			} else {
				assert.Contains(t, out, tc.failing)
				assert.Equal(t, 1, strings.Count(out, FailMarker))
			}
			// Nothing of the log is lost.
			for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
				assert.Contains(t, out, line)
			}
		})
	}
}
