package needs

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// raw is one instruction in the kernel's encoding (struct bpf_insn).
type raw struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

func program(t *testing.T, insns ...raw) *ebpf.CollectionSpec {
	t.Helper()
	var buf bytes.Buffer
	for _, in := range append(insns, raw{code: 0x95}) { // exit
		require.NoError(t, binary.Write(&buf, binary.LittleEndian, in))
	}
	var is asm.Instructions
	for buf.Len() > 0 {
		var in asm.Instruction
		require.NoError(t, in.Unmarshal(&buf, binary.LittleEndian, "linux"))
		is = append(is, in)
	}
	return &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"p": {Name: "p", Type: ebpf.SocketFilter, Instructions: is, License: "GPL"},
	}}
}

// TestInstructionSet: each instruction-set feature from the encoding that
// the corpus's asm cases (internal/verifier/asmcases.go) load, and no
// requirement from the encodings every kernel takes.
func TestInstructionSet(t *testing.T) {
	tests := []struct {
		name     string
		insns    []raw
		want     string // misc feature; "" for none
		advisory bool
	}{
		{"jlt (v2)", []raw{{code: 0xa5, off: 0}}, "v2_isa_extension", false},
		{"jmp32 jlt (v3)", []raw{{code: 0xa6, off: 0}}, "v3_isa_extension", false},
		{"sdiv (v4)", []raw{{code: 0x37, off: 1, imm: 1}}, "v4_isa_extension", false},
		{"smod (v4)", []raw{{code: 0x97, off: 1, imm: 1}}, "v4_isa_extension", false},
		{"movsx (v4)", []raw{{code: 0xbf, off: 8}}, "v4_isa_extension", false},
		{"bswap (v4)", []raw{{code: 0xd7, imm: 16}}, "v4_isa_extension", false},
		{"ldsx (v4)", []raw{{code: 0x91, regs: 0x01}}, "v4_isa_extension", false},
		{"gotol", []raw{{code: 0x06, imm: 0}}, "gotol", true},
		{"may_goto", []raw{{code: 0xe5, off: 0}}, "may_goto", false},
		{"atomic fetch-add", []raw{{code: 0xdb, regs: 0x1a, imm: 0x01}}, "atomics", false},
		{"atomic xchg", []raw{{code: 0xdb, regs: 0x1a, imm: 0xe1}}, "atomics", false},
		{"atomic add (xadd)", []raw{{code: 0xdb, regs: 0x1a, imm: 0x00}}, "", false},
		{"backward jump", []raw{{code: 0xb7}, {code: 0x05, off: -2}}, "bounded_loops", false},
		{"forward jump", []raw{{code: 0x05, off: 0}}, "", false},
		{"mov imm", []raw{{code: 0xb7, imm: 1}}, "", false},
		{"udiv", []raw{{code: 0x37, imm: 1}}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			progs, err := Extract(program(t, tc.insns...))
			require.NoError(t, err)
			require.Len(t, progs, 1)
			var misc []string
			for _, r := range progs[0].Requirements {
				if r.Kind == result.KindMisc {
					misc = append(misc, r.Name)
				}
			}
			if tc.want == "" {
				assert.Empty(t, misc)
				return
			}
			r, ok := find(progs[0], result.KindMisc, tc.want)
			require.True(t, ok, "%v", misc)
			assert.Equal(t, tc.advisory, r.Advisory)
		})
	}
}
