package verifierlog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The logs are shortened from real ones: the corpus's neg_map_value_oob on
// debian-7.2 (which adds "insns processed N") and 6.12, neg_unbounded_loop on
// the 6.18 host (internal/verifier/testdata), and a helper probe's
// stats-only answer.
func TestComplaint(t *testing.T) {
	for _, tc := range []struct {
		name, log, want string
	}{
		{"7.2 stats lines", "4: (18) r1 = 0xADDR\nR0 min value is outside of the allowed memory range\nverification time 1513 usec\nstack depth 8 max 0\ninsns processed 8\nprocessed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n",
			"R0 min value is outside of the allowed memory range"},
		{"6.12 stats lines", "R0 min value is outside of the allowed memory range\nprocessed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n",
			"R0 min value is outside of the allowed memory range"},
		{"infinite loop states", "infinite loop detected at insn 2\ncur state: R0=0 R10=fp0\nold state: R0=0 R10=fp0\nverification time 20 usec\nstack depth 0\nprocessed 11 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0\n",
			"infinite loop detected at insn 2"},
		{"NUL-terminated buffer", "unknown func bpf_loop#181\n\x00\x00", "unknown func bpf_loop#181"},
		{"only statistics", "verification time 12 usec\nstack depth 0\nprocessed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n", ""},
		{"empty", "", ""},
		// debian-7.3's answer to a helper probe cut short by a signal: a
		// statistics line of a shape no earlier kernel printed.
		{"7.3 only statistics", "verification time 4000 usec\nstack depth max 0\nsubprog 0 (<unknown>) main insns_self 1 insns_total 1 stack 0\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n", ""},
		{"7.3 helper complaint", "R7 !read_ok\nverification time 8000 usec\nstack depth max 0\nsubprog 0 (<unknown>) main insns_self 2 insns_total 2 stack 0\nprocessed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n", "R7 !read_ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, string(Complaint([]byte(tc.log))))
		})
	}
}

func TestIsStatsLine(t *testing.T) {
	for line, want := range map[string]bool{
		"processed 8 insns (limit 1000000)": true,
		"verification time 12 usec":         true,
		"stack depth 8":                     true,
		"insns processed 8":                 true,
		"  ":                                true,
		"R0 invalid mem access 'scalar'":    false,
		"0: (b7) r0 = 0":                    false,
	} {
		assert.Equal(t, want, IsStatsLine([]byte(line)), line)
	}
}

// TestComplaintRealLogs reads whole corpus logs as the kernels wrote them
// (testdata/KERNEL-CASE.log, copied from a `bpfmatrix run` report): 7.3
// follows the verifier's message with a structured "Verification failed:"
// explanation and adds a statistics line of a new shape; the reason must
// still be the verifier's message.
func TestComplaintRealLogs(t *testing.T) {
	for file, want := range map[string]string{
		"debian-7.3-neg_map_value_oob.log":          "R0 min value is outside of the allowed memory range",
		"debian-7.3-neg_jump_out_of_range.log":      "jump out of range from insn 1 to 7",
		"debian-7.3-neg_unbounded_loop.log":         "infinite loop detected at insn 2",
		"debian-7.3-neg_helper_wrong_prog_type.log": "program of this type cannot use helper bpf_probe_read#4",
		"debian-7.3-neg_uninit_register.log":        "R2 !read_ok",
		"debian-7.3-neg_div_by_zero.log":            "div by zero",
		"debian-6.12-neg_map_value_oob.log":         "R0 min value is outside of the allowed memory range",
		"debian-6.12-neg_unbounded_loop.log":        "infinite loop detected at insn 2",
		// Accepted by the verifier, refused by the JIT (errno 524): the
		// log is a trace with no complaint in it.
		"debian-6.1-arm64-isa_v4_gotol.log": "",
	} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", file))
			require.NoError(t, err)
			if want == "" {
				assert.Empty(t, Complaint(raw))
			} else {
				assert.Contains(t, string(Complaint(raw)), want)
			}
			n, ok := Processed(raw)
			assert.True(t, ok)
			assert.GreaterOrEqual(t, n, 0)
		})
	}
}

func TestProcessed(t *testing.T) {
	for log, want := range map[string]int{
		"invalid func unknown#1000\nverification time 0 usec\nprocessed 1 insns (limit 1000000) max_states_per_insn 0\n": 1,
		"R7 !read_ok\nprocessed 2 insns (limit 1000000)":                                                                 2,
	} {
		n, ok := Processed([]byte(log))
		assert.True(t, ok, log)
		assert.Equal(t, want, n, log)
	}
	_, ok := Processed([]byte("R1 processed 3 insns elsewhere\n"))
	assert.False(t, ok)
}
