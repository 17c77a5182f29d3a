package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// TestProbeTablePresent: `bpfmatrix probe` counts present cells (declared by
// the kernel's BTF, judged by no probe) on their own, never as supported.
// The present Values are as a 7.3 run wrote them (~/.cache/bpfmatrix/results).
func TestProbeTablePresent(t *testing.T) {
	kr := &result.KernelResult{
		Kernel: result.Kernel{Name: "host", Release: "7.3.0-minimal", Version: "7.3", Arch: "x86_64"},
		Config: map[string]string{"CONFIG_BPF_SYSCALL": "y"},
		Features: []result.Feature{
			{Kind: result.KindMapType, Name: "ringbuf", Status: result.Supported},
			{Kind: result.KindMapType, Name: "insn_array", Status: result.Present,
				Value: "present, not probed: BPF_MAP_TYPE_INSN_ARRAY = 34 in the kernel's enum bpf_map_type (a plain create: invalid argument)"},
			{Kind: result.KindLinkType, Name: "tracing_multi", Status: result.Present,
				Value: "present, not probed: BPF_LINK_TYPE_TRACING_MULTI = 15 in the kernel's enum bpf_link_type"},
			{Kind: result.KindProgramType, Name: "lirc_mode2", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_BPF_LIRC_MODE2"}},
			{Kind: result.KindHelper, ProgramType: "xdp", Name: "bpf_loop", Status: result.Inconclusive, Error: "load program: some error"},
			{Kind: result.KindHelper, ProgramType: "socket_filter", Name: "bpf_map_lookup_elem", Status: result.Supported},
		},
	}
	var b bytes.Buffer
	require.NoError(t, writeProbeTable(&b, kr, false))
	out := b.String()
	for _, want := range []string{
		"Kernel 7.3.0-minimal (7.3, x86_64): 2 supported, 1 unsupported, 1 inconclusive, 2 present (not probed) in 0.00s\n",
		"  insn_array  present    present, not probed: BPF_MAP_TYPE_INSN_ARRAY = 34",
		"  tracing_multi  present  present, not probed: BPF_LINK_TYPE_TRACING_MULTI = 15",
		"Helpers per program type (supported / unsupported / inconclusive / present, not probed)",
	} {
		assert.Contains(t, out, want)
	}
}
