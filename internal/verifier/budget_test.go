package verifier

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLevel2Budget: which stats-only outcomes get a level-2 reload, and how
// big its first buffer is. The summaries are the kernels' own (debian-6.1,
// debian-5.10 and the 6.18 host print the same lines).
func TestLevel2Budget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		summary string
		insns   int
		skipped string // substring of the reason, "" when the reload is made
	}{
		{"too large", "BPF program is too large. Processed 1000001 insn", 1000001, "complexity limit after 1000001 instructions"},
		{"jump sequence", "The sequence of 8193 jumps is too complex.", 98310, "complexity limit"},
		{"pre-5.3 state limit", "BPF program is too complex", 131072, "complexity limit"},
		{"long walk, ordinary error", "R0 invalid mem access 'map_value_or_null'", 500000, "walked 500000 instructions (budget 65536, about 20 MiB of log)"},
		{"ordinary rejection", "R0 invalid mem access 'map_value_or_null'", 7, ""},
		{"at the budget", "invalid func unknown#182", level2MaxInsns, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Level2Skipped(tc.summary, tc.insns)
			if tc.skipped == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.skipped)
			assert.Regexp(t, `^bpfmatrix: no level-2 log: `, got)
		})
	}
	assert.Equal(t, uint32(0), level2SizeHint(0), "unknown: cilium/ebpf's default")
	assert.Equal(t, uint32(7*level2BytesPerInsn), level2SizeHint(7))
	assert.Equal(t, uint32(level2MaxInsns*level2BytesPerInsn), level2SizeHint(10*level2MaxInsns))
}
