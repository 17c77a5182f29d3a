package verifierlog

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
