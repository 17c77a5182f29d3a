package verifier

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// asmCases build the cases clang 14 can't emit (manifest source "asm"). Each
// returns one socket filter program named after its case.
var asmCases = map[string]func() asm.Instructions{
	// More than 4096 instructions: BPF_MAXINSNS applied to every program before 5.2.
	"large_program": func() asm.Instructions {
		insns := asm.Instructions{asm.Mov.Imm(asm.R0, 0)}
		for range 5000 {
			insns = append(insns, asm.Add.Imm(asm.R0, 1))
		}
		return append(insns, asm.Return())
	},
	"jmp32": func() asm.Instructions {
		return asm.Instructions{
			asm.LoadImm(asm.R1, 0x1_0000_0005, asm.DWord),
			asm.Mov.Imm(asm.R0, 0),
			asm.JGT.Imm32(asm.R1, 3, "out"), // w1 = 5 > 3
			asm.Mov.Imm(asm.R0, 1),
			asm.Return().WithSymbol("out"),
		}
	},
	"isa_v4_sdiv_smod": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, -7),
			asm.SDiv.Imm(asm.R0, 2),
			asm.SMod.Imm(asm.R0, 3),
			asm.Return(),
		}
	},
	"isa_v4_movsx": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R1, 0xff),
			asm.MovSX8.Reg(asm.R0, asm.R1),
			asm.Return(),
		}
	},
	"isa_v4_ldsx": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R1, 0xff),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
			asm.LoadMemSX(asm.R0, asm.RFP, -8, asm.Byte),
			asm.Return(),
		}
	},
	"isa_v4_bswap": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, 0x1234),
			asm.BSwap(asm.R0, asm.Half),
			asm.Return(),
		}
	},
	"isa_v4_gotol": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.JEq.Imm(asm.R0, 1, "skip"), // keeps the next block reachable for check_cfg
			asm.LongJump("out"),
			asm.Mov.Imm(asm.R0, 1).WithSymbol("skip"),
			asm.Return().WithSymbol("out"),
		}
	},
	// An endless loop made finite by may_goto (opcode BPF_JMP|BPF_JCOND, src 0).
	"may_goto": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.JCOND), Src: asm.PseudoMayGoto, Offset: 2}.WithSymbol("loop"),
			asm.Add.Imm(asm.R0, 1),
			asm.Ja.Label("loop"),
			asm.Return(),
		}
	},
	"load_acquire": func() asm.Instructions {
		// cilium/ebpf v0.22 marshals an atomic op's immediate from
		// Instruction.Constant (read before it derives the immediate from the
		// opcode), so set it: BPF_LOAD_ACQ 0x100, BPF_STORE_REL 0x110.
		acq := asm.LoadAcquire(asm.R0, asm.RFP, asm.DWord, -8)
		acq.Constant = 0x100
		rel := asm.StoreRelease(asm.RFP, asm.R0, asm.DWord, -8)
		rel.Constant = 0x110
		return asm.Instructions{
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
			acq,
			rel,
			asm.Return(),
		}
	},

	// Negative cases.
	"neg_unbounded_loop": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.JEq.Imm(asm.R0, 1, "out"), // keeps the exit reachable for check_cfg
			asm.Mov.Imm(asm.R1, 1).WithSymbol("loop"),
			asm.Ja.Label("loop"),
			asm.Return().WithSymbol("out"),
		}
	},
	"neg_uninit_stack": func() asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
			asm.Return(),
		}
	},
	"neg_uninit_register": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R0, asm.R2),
			asm.Return(),
		}
	},
	"neg_helper_wrong_prog_type": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -8),
			asm.Mov.Imm(asm.R2, 8),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnProbeRead.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		}
	},
	"neg_ctx_write": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R2, 0),
			asm.StoreMem(asm.R1, 0, asm.R2, asm.Word), // __sk_buff.len
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		}
	},
	"neg_jump_out_of_range": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Instruction{OpCode: asm.Ja.Op(asm.ImmSource), Offset: 5},
			asm.Return(),
		}
	},
	"neg_stack_oob": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, -520, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		}
	},
	"neg_div_by_zero": func() asm.Instructions {
		return asm.Instructions{
			asm.Mov.Imm(asm.R0, 1),
			asm.Div.Imm(asm.R0, 0),
			asm.Return(),
		}
	},
}

// asmSpec wraps a case's instructions in a one-program collection.
func asmSpec(name string, insns asm.Instructions) *ebpf.CollectionSpec {
	insns[0] = insns[0].WithSymbol(name)
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{},
		Programs: map[string]*ebpf.ProgramSpec{name: {
			Name:         name,
			Type:         ebpf.SocketFilter,
			License:      "GPL",
			Instructions: insns,
		}},
	}
}
