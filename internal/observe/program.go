package observe

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// output is how a program hands its events to user space.
type output int

const (
	outNone output = iota
	outRingbuf
	outPerf
)

func (o output) String() string {
	switch o {
	case outRingbuf:
		return "ring buffer"
	case outPerf:
		return "perf buffer"
	}
	return "none"
}

// maps are shared by every family's program: one counter slot per family,
// one event buffer for all (an event is the family's slot number).
type maps struct {
	counters *ebpf.Map
	events   *ebpf.Map
	out      output
}

const counterSlots = 64

func newMaps(out output) (*maps, error) {
	counters, err := ebpf.NewMap(&ebpf.MapSpec{Name: "obs_counters", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: counterSlots})
	if err != nil {
		return nil, fmt.Errorf("create counter map: %w", err)
	}
	var spec *ebpf.MapSpec
	switch out {
	case outRingbuf:
		spec = &ebpf.MapSpec{Name: "obs_events", Type: ebpf.RingBuf, MaxEntries: 256 << 10}
	case outPerf:
		spec = &ebpf.MapSpec{Name: "obs_events", Type: ebpf.PerfEventArray}
	}
	m := &maps{counters: counters, out: out}
	if spec != nil {
		if m.events, err = ebpf.NewMap(spec); err != nil {
			counters.Close()
			return nil, fmt.Errorf("create %s: %w", out, err)
		}
	}
	return m, nil
}

func (m *maps) Close() {
	m.counters.Close()
	if m.events != nil {
		m.events.Close()
	}
}

func (m *maps) count(slot int) (uint64, error) {
	var v uint64
	if err := m.counters.Lookup(uint32(slot), &v); err != nil {
		return 0, fmt.Errorf("read counter %d: %w", slot, err)
	}
	return v, nil
}

// body is the program every family attaches: add 1 to the family's counter
// slot, write the slot number as an 8-byte event, return ret.
func body(m *maps, slot int32, out output, ret int32) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -4, int64(slot), asm.Word),
		asm.LoadMapPtr(asm.R1, m.counters.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
	}
	insns = append(insns, emit(m, out, int64(slot))...)
	return append(insns,
		asm.Mov.Imm(asm.R0, ret).WithSymbol("out"),
		asm.Return(),
	)
}

// emit writes the constant v as one 8-byte event (R6 holds the context).
func emit(m *maps, out output, v int64) asm.Instructions {
	return append(asm.Instructions{
		// StoreImm has no DWord form in cilium/ebpf's asm (INVALID).
		asm.Mov.Imm(asm.R1, int32(v)),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
	}, outputStack(m, out)...)
}

// outputStack sends the 8 bytes at fp-16 as one event through the ring
// buffer or the perf buffer (R6 holds the context); R0 is the helper's
// return value.
func outputStack(m *maps, out output) asm.Instructions {
	switch out {
	case outRingbuf:
		return asm.Instructions{
			asm.LoadMapPtr(asm.R1, m.events.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -16),
			asm.Mov.Imm(asm.R3, 8),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnRingbufOutput.Call(),
		}
	case outPerf:
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, m.events.FD()),
			asm.LoadImm(asm.R3, 0xffffffff, asm.DWord), // BPF_F_CURRENT_CPU
			asm.Mov.Reg(asm.R4, asm.RFP),
			asm.Add.Imm(asm.R4, -16),
			asm.Mov.Imm(asm.R5, 8),
			asm.FnPerfEventOutput.Call(),
		}
	}
	return nil
}

// progShape is what a family's program is loaded as.
type progShape struct {
	typ      ebpf.ProgramType
	attach   ebpf.AttachType
	attachTo string
	ret      int32
}

// load loads a family's program. When the program type is not offered the
// output helper, it is loaded again without output: the family can still
// attach and fire, and delivered says why not. delivers is false then.
func load(m *maps, slot int, s progShape) (prog *ebpf.Program, delivers bool, err error) {
	spec := &ebpf.ProgramSpec{
		Name:         "obs",
		Type:         s.typ,
		AttachType:   s.attach,
		AttachTo:     s.attachTo,
		License:      "GPL",
		Instructions: body(m, int32(slot), m.out, s.ret),
	}
	prog, err = ebpf.NewProgram(spec)
	if err == nil {
		return prog, m.out != outNone, nil
	}
	var ve *ebpf.VerifierError
	if m.out == outNone || !errors.As(err, &ve) {
		return nil, false, err
	}
	spec.Instructions = body(m, int32(slot), outNone, s.ret)
	prog, err2 := ebpf.NewProgram(spec)
	if err2 != nil {
		return nil, false, err
	}
	return prog, false, nil
}
