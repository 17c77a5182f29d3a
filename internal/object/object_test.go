package object

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
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

// TestOpenRelaxed: an object whose weak symbols cilium/ebpf refuses has no
// Spec but a Relaxed reading with every program and map of the ELF.
func TestOpenRelaxed(t *testing.T) {
	o, err := Open(filepath.Join(objects, "usdt.o"))
	require.NoError(t, err)
	assert.Nil(t, o.Spec)
	assert.Contains(t, o.CiliumUnreadable, "STB_WEAK")
	require.NotNil(t, o.Relaxed)
	assert.Same(t, o.Relaxed, o.AnalysisSpec())
	assert.Equal(t, []string{"on_request"}, o.Programs)
	for _, p := range o.Programs {
		assert.Contains(t, o.Relaxed.Programs, p)
	}
	for _, m := range o.Maps {
		assert.Contains(t, o.Relaxed.Maps, m)
	}

	o, err = Open(filepath.Join(objects, "loop.o"))
	require.NoError(t, err)
	assert.Nil(t, o.Relaxed)
	assert.Same(t, o.Spec, o.AnalysisSpec())
}

func TestOpenMoreObjects(t *testing.T) {
	for _, tc := range []struct {
		object         string
		programs, maps []string
	}{
		{"custom_section.o", []string{"custom_prog", "xdp_pass"}, nil},
		{"complexity.o", []string{"too_large", "too_many_jumps"}, nil},
		// Maps and no programs: valid input, its maps are checked.
		{"maps_only.o", nil, []string{"arena", "counters"}},
	} {
		t.Run(tc.object, func(t *testing.T) {
			o, err := Open(filepath.Join(objects, tc.object))
			require.NoError(t, err)
			assert.Equal(t, tc.programs, o.Programs)
			assert.Equal(t, tc.maps, o.Maps)
		})
	}
}

// TestLoadIsolation: a program no loader can load, and a loader crash, are
// that program's outcome; the object's other programs keep their verdicts.
func TestLoadIsolation(t *testing.T) {
	t.Run("section without a program type", func(t *testing.T) {
		require.Zero(t, os.Geteuid(), "loading BPF programs needs root")
		if err := rlimit.RaiseMemlock(); !errors.Is(err, rlimit.ErrMemlockLimited) {
			require.NoError(t, err) // limited: fine on the 5.11+ host kernel
		}
		path := filepath.Join(objects, "custom_section.o")
		rep := Load(path, LoadOptions{})
		require.Empty(t, rep.Error)
		require.Len(t, rep.Programs, 2)
		custom, xdp := rep.Programs[0], rep.Programs[1]
		assert.Equal(t, "custom_prog", custom.Program)
		assert.Equal(t, path, custom.Object)
		assert.Contains(t, custom.Error, `program custom_prog: section "my_custom_section" names no program type`)
		assert.False(t, custom.Accepted)
		assert.Equal(t, "xdp_pass", xdp.Program)
		assert.Empty(t, xdp.Error)
		assert.True(t, xdp.Accepted, xdp.Summary)
	})
	t.Run("loader crash", func(t *testing.T) {
		// An freplace program makes the loader look through the object's
		// programs for its target; a nil entry there dereferences nil
		// inside internal/verifier. No BPF syscall happens before that.
		o, err := Open(filepath.Join(objects, "libbpf_style.o"))
		require.NoError(t, err)
		spec := o.Spec.Copy()
		spec.Programs["broken"] = nil
		out := loadProgram(spec, "obj.o", "classify_drop", verifier.Options{})
		assert.Equal(t, "classify_drop", out.Program)
		assert.Equal(t, "obj.o", out.Object)
		assert.Contains(t, out.Error, "load program classify_drop of obj.o: loader crashed")
		assert.Contains(t, out.Error, "nil pointer dereference")
		assert.NotContains(t, out.Error, "\n")
		assert.Contains(t, out.Log, "goroutine ", "the whole stack goes to the log")
		assert.Contains(t, out.Log, "verifier.loadObjectTarget")
	})
}

// TestLibbpfMissingAttachTarget: libbpf's "failed to find kernel BTF type
// ID" for a program's fentry target (captured, testdata/README.md) is a
// value user space sets, as with cilium/ebpf, not a rejection.
func TestLibbpfMissingAttachTarget(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "fsdist.bpftool-tail.txt"))
	require.NoError(t, err)
	po := parseLibbpfOutput("file_read_fentry", string(out), errors.New("exit status 255"))
	assert.False(t, po.Accepted)
	assert.Equal(t, "needs a value from user space: attach target dummy_file_read is not in this kernel's BTF (a placeholder user space replaces before load, or one this kernel does not have: give the one to use with --attach-target file_read_fentry=NAME)", po.NeedsValue)
	assert.Empty(t, po.Summary)

	po = parseLibbpfOutput("file_read_exit", string(out), errors.New("exit status 255"))
	assert.Empty(t, po.NeedsValue, "another program's target")
}
