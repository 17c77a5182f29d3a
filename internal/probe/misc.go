package probe

import (
	"context"
	"errors"
	"os"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/verifierlog"
)

// extInsns is a BTF-annotated global function "a" of an XDP program whose
// body starts with first, as in cilium/ebpf's features probe: the target an
// extension program replaces, and the extension itself.
func extInsns(first ...asm.Instruction) asm.Instructions {
	fn := &btf.Func{
		Name: "a",
		Type: &btf.FuncProto{
			Return: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
			Params: []btf.FuncParam{{Name: "ctx", Type: &btf.Pointer{Target: &btf.Struct{Name: "xdp_md"}}}},
		},
		Linkage: btf.GlobalFunc,
	}
	first[0] = btf.WithFuncMetadata(first[0], fn)
	return append(asm.Instructions(first), asm.Mov.Imm(asm.R0, 0), asm.Return())
}

// extTargetInsns is the program extensions replace. It calls
// bpf_xdp_adjust_head: since 6.13 (81f6d0530ba0, "bpf: check changes_pkt_data
// property for extension programs", also in Debian's 6.12) the kernel
// refuses an extension that calls a packet-changing helper when its target
// does not, before the verifier looks at the helper; a target that changes
// packet data lets the verifier answer for all 19 of them.
func extTargetInsns() asm.Instructions {
	return extInsns(asm.Mov.Imm(asm.R2, 0), asm.FnXdpAdjustHead.Call())
}

// newExtTarget loads extTargetInsns.
func newExtTarget() (*ebpf.Program, error) {
	return ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type: ebpf.XDP, License: "GPL", Instructions: extTargetInsns(),
	}, ebpf.ProgramOptions{LogDisabled: true})
}

// loadExtension loads an extension of target's "a" that calls helper id,
// with the verifier log at level 1.
func loadExtension(target *ebpf.Program, id int32) error {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type: ebpf.Extension, License: "GPL", AttachTarget: target, AttachTo: "a", Instructions: extInsns(asm.BuiltinFunc(id).Call()),
	}, ebpf.ProgramOptions{LogLevel: ebpf.LogLevelInstruction})
	if err == nil {
		prog.Close()
	}
	return err
}

func (r *runner) probeExtType() (Outcome, string) {
	err := features.HaveProgramType(ebpf.Extension)
	return featuresOutcome(err)
}

func featuresOutcome(err error) (Outcome, string) {
	switch {
	case err == nil:
		return OutcomeSupported, ""
	case errors.Is(err, ebpf.ErrNotSupported):
		return OutcomeNotSupported, err.Error()
	case errors.Is(err, unix.EPERM):
		return OutcomePrivilege, err.Error()
	}
	return OutcomeError, err.Error()
}

// probeExtHelpers loads one extension program per helper against an XDP
// target. Extension programs take the helper set of their target's type
// (resolve_prog_type() in the verifier), so these loads go through
// cilium/ebpf, which marshals the BTF the kernel requires for both programs.
func (r *runner) probeExtHelpers(ctx context.Context) {
	target, err := newExtTarget()
	var list []helper
	for _, h := range helpers {
		if has, ok := r.inEnum(Spec{Enum: "bpf_func_id", Value: int64(h.ID)}); ok && !has {
			continue
		}
		list = append(list, h)
	}
	if err != nil {
		for _, h := range list {
			r.add(Observation{Kind: result.KindHelper, Name: h.Name, ProgramType: "ext", Outcome: OutcomeError, Err: "load xdp target: " + err.Error()})
		}
		return
	}
	defer target.Close()
	r.parallel(ctx, len(list), func(_ *loader, i int) {
		h := list[i]
		o := Observation{Kind: result.KindHelper, Name: h.Name, ProgramType: "ext", Detail: "extension of an xdp program"}
		o.Outcome, o.Err = r.extVerdict(h, target)
		r.add(o)
	})
}

func (r *runner) extVerdict(h helper, target *ebpf.Program) (Outcome, string) {
	err := loadExtension(target, h.ID)
	if err == nil {
		return OutcomeSupported, ""
	}
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		return OutcomeError, err.Error()
	}
	v, text := classifyHelperLoad(loadResult{err: err, log: strings.Join(verr.Log, "\n")})
	switch v {
	case verdictSupported:
		return OutcomeSupported, ""
	case verdictUnknownHelper:
		return OutcomeNotSupported, ""
	case verdictNotOffered:
		return OutcomeNotOffered, ""
	case verdictNeedsSleepable:
		return OutcomeSleepableOnly, ""
	}
	return OutcomeError, text
}

// Raw instruction encodings used by the misc probes.
var (
	insnsV2 = []insn{insnMovImm(0, 0), {code: 0xa5, off: 1}, insnMovImm(0, 1), insnExit()} // jlt (BPF_JMP)
	insnsV3 = []insn{insnMovImm(0, 0), {code: 0xa6, off: 1}, insnMovImm(0, 1), insnExit()} // jlt (BPF_JMP32)
	// One of each v4 instruction class: r0 = 1; r0 s/= 1; r0 = (s8)r0;
	// r0 = bswap16 r0; if r0 == 1 goto +1; gotol +1; r0 = 1; exit (every
	// instruction reachable, as check_cfg wants). gotol alone is no test:
	// 6.1's verifier accepts BPF_JMP32|BPF_JA (measured on debian-6.1 x86_64,
	// where the JIT took it too; only arm64's JIT refused, with ENOTSUPP).
	insnsV4 = []insn{insnMovImm(0, 1), {code: 0x37, off: 1, imm: 1}, {code: 0xbf, off: 8}, {code: 0xd7, imm: 16},
		{code: 0x15, off: 1, imm: 1}, {code: 0x06, imm: 1}, insnMovImm(0, 1), insnExit()}
	insnsLoop = []insn{insnMovImm(0, 10), {code: 0x17, imm: 1}, {code: 0x55, off: -2}, insnExit()} // r0 -= 1; if r0 != 0 goto -2
	insnsCall = []insn{{code: 0x85, regs: 0x10, imm: 1}, insnExit(), insnMovImm(0, 0), insnExit()} // bpf-to-bpf call
)

func (r *runner) probeMisc(ctx context.Context) {
	socket := func(insns []insn) func(*loader) (Outcome, string) {
		return func(l *loader) (Outcome, string) {
			res := l.load(loadRequest{progType: 1, insns: insns})
			if errors.Is(res.err, enoTSUPP) { // the arm64 JIT reports unknown opcodes this way
				return OutcomeNotSupported, res.err.Error()
			}
			return errOutcome(res.err)
		}
	}
	large := make([]insn, 4097)
	for i := range large[:4096] {
		large[i] = insnMovImm(0, 1)
	}
	large[4096] = insnExit()
	mapFlag := func(mapType, flags uint32) func(*loader) (Outcome, string) {
		return func(*loader) (Outcome, string) {
			return errOutcome(createMap(&mapCreateAttr{mapType: mapType, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: flags}))
		}
	}
	probes := map[string]func(*loader) (Outcome, string){
		"v2_isa_extension":     socket(insnsV2),
		"v3_isa_extension":     socket(insnsV3),
		"v4_isa_extension":     socket(insnsV4),
		"large_insn_limit":     socket(large),
		"bounded_loops":        socket(insnsLoop),
		"bpf_to_bpf_calls":     socket(insnsCall),
		"global_functions":     func(*loader) (Outcome, string) { return probeGlobalFunctions() },
		"prog_test_run":        probeTestRun,
		"kernel_btf":           r.probeKernelBTF,
		"kfuncs":               r.probeKfuncs,
		"trampolines":          r.probeTrampoline,
		"sleepable_programs":   r.probeSleepable,
		"spin_locks":           func(*loader) (Outcome, string) { return probeSpinLock() },
		"mmapable_arrays":      mapFlag(2, flagMmapable),
		"map_flag_no_prealloc": mapFlag(1, 1),
		"map_flag_rdonly_prog": mapFlag(2, 1<<7),
		"map_flag_inner_map":   mapFlag(2, 1<<12),
		"bpf_link": func(*loader) (Outcome, string) {
			attr := [4]uint32{^uint32(0), ^uint32(0), 0, 0}
			return knownCommand(cmdLinkCreate, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		},
		"bpf_token": func(*loader) (Outcome, string) {
			attr := [2]uint32{0, ^uint32(0)}
			return knownCommand(cmdTokenCreate, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		},
	}
	r.parallel(ctx, len(MiscFeatures), func(l *loader, i int) {
		s := MiscFeatures[i]
		o := Observation{Kind: s.Kind, Name: s.Name}
		if fn := probes[s.Name]; fn != nil {
			o.Outcome, o.Err = fn(l)
		} else {
			o.Outcome, o.Err = OutcomeError, "no probe"
		}
		r.add(o)
	})
}

// knownCommand: EBADF means the kernel dispatched the command and then
// failed on the invalid fd; EINVAL means it does not know the command.
func knownCommand(cmd int, attr unsafe.Pointer, size uintptr) (Outcome, string) {
	err := commandKnown(cmd, attr, size)
	if errors.Is(err, unix.EBADF) {
		return OutcomeSupported, ""
	}
	if err == nil {
		return OutcomeSupported, ""
	}
	return errOutcome(err)
}

func probeTestRun(l *loader) (Outcome, string) {
	fd, res := l.loadFD(loadRequest{progType: 6, insns: []insn{insnMovImm(0, 2), insnExit()}}) // XDP_PASS
	if res.err != nil {
		return OutcomeError, "load xdp program: " + res.err.Error()
	}
	defer unix.Close(fd)
	ret, err := progTestRun(fd, make([]byte, 64))
	if err == nil && ret != 2 {
		return OutcomeError, "test run returned unexpected value"
	}
	if errors.Is(err, enoTSUPP) {
		return OutcomeNotSupported, err.Error()
	}
	return errOutcome(err)
}

func (r *runner) probeKernelBTF(*loader) (Outcome, string) {
	if r.kb != nil {
		return OutcomeSupported, ""
	}
	if errors.Is(r.btfErr, os.ErrNotExist) {
		return OutcomeNotSupported, r.btfErr.Error()
	}
	return OutcomeError, r.btfErr.Error()
}

func (r *runner) probeKfuncs(l *loader) (Outcome, string) {
	if r.kb == nil {
		return OutcomeNotSupported, "no kernel BTF"
	}
	_, id := r.firstID(kfuncTargets)
	if id == 0 {
		return OutcomeNotSupported, "none of " + strings.Join(kfuncTargets, ", ") + " in kernel BTF"
	}
	res := l.load(loadRequest{progType: 3, wantLog: true, // sched_cls
		insns: []insn{{code: 0x85, regs: 0x20, imm: int32(id)}, insnMovImm(0, 0), insnExit()}})
	switch {
	case res.err == nil, errors.Is(res.err, unix.EACCES):
		return OutcomeSupported, ""
	case res.log == "":
		return errOutcome(res.err)
	case strings.Contains(res.log, "not supported"), strings.Contains(res.log, "not allowed"),
		strings.Contains(res.log, "unknown opcode"), strings.Contains(res.log, "reserved fields"):
		return OutcomeNotSupported, lastLine(res.log)
	}
	// The verifier resolved the kfunc and went on to check its arguments.
	return OutcomeSupported, ""
}

func lastLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return lines[len(lines)-1]
}

// probeTrampoline attaches an fentry program: loading only checks BTF, the
// attach builds the trampoline (arch_prepare_bpf_trampoline), which is
// where architectures without support fail with ENOTSUPP.
func (r *runner) probeTrampoline(l *loader) (Outcome, string) {
	vs := r.tracingVariants()
	if len(vs) == 0 {
		return OutcomeNotSupported, "no loadable fentry program"
	}
	fd, res := l.loadFD(vs[0].req)
	if res.err != nil {
		return errOutcome(res.err)
	}
	defer unix.Close(fd)
	link, err := rawTracepointOpen(nil, fd)
	if err == nil {
		unix.Close(link)
		return OutcomeSupported, ""
	}
	if errors.Is(err, enoTSUPP) {
		return OutcomeNotSupported, "attach fentry: " + err.Error()
	}
	return errOutcome(err)
}

// tracingVariants waits for nothing: it derives the fentry load from BTF.
func (r *runner) tracingVariants() []variant {
	spec, _ := LookupSpec(result.KindProgramType, "tracing")
	vs, err := r.progVariants(spec)
	if err != nil {
		return nil
	}
	for i := range vs {
		vs[i].req.insns = retZero
	}
	return vs
}

func (r *runner) probeSleepable(l *loader) (Outcome, string) {
	var cands []variant
	for _, name := range []string{"tracing", "lsm"} {
		spec, _ := LookupSpec(result.KindProgramType, name)
		vs, _ := r.progVariants(spec)
		for _, v := range vs {
			if v.sleepable {
				v.req.insns = retZero
				cands = append(cands, v)
			}
		}
	}
	if len(cands) == 0 {
		if r.kb == nil {
			return OutcomeNotSupported, "no kernel BTF"
		}
		return OutcomeError, "no sleepable attach target in kernel BTF"
	}
	var last error
	var why []string
	for _, v := range cands {
		v.req.wantLog = true
		res := l.load(v.req)
		if res.err == nil {
			return OutcomeSupported, ""
		}
		last = res.err
		if res.log != "" {
			why = append(why, v.desc+": "+string(verifierlog.Complaint([]byte(res.log))))
		}
	}
	o, e := errOutcome(last)
	if len(why) > 0 {
		e += " (" + strings.Join(why, "; ") + ")"
	}
	return o, e
}

func probeGlobalFunctions() (Outcome, string) {
	intT := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	mainFn := &btf.Func{Name: "main", Type: &btf.FuncProto{Return: intT}, Linkage: btf.GlobalFunc}
	gFn := &btf.Func{Name: "g", Type: &btf.FuncProto{Return: intT}, Linkage: btf.GlobalFunc}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{
			btf.WithFuncMetadata(asm.Call.Label("g"), mainFn),
			asm.Return(),
			btf.WithFuncMetadata(asm.Mov.Imm(asm.R0, 0), gFn).WithSymbol("g"),
			asm.Return(),
		},
	}, ebpf.ProgramOptions{LogDisabled: true})
	if err == nil {
		prog.Close()
	}
	return featuresOutcome(mapNotSupported(err))
}

func mapNotSupported(err error) error {
	if errors.Is(err, unix.EINVAL) {
		return errors.Join(ebpf.ErrNotSupported, err)
	}
	return err
}

// probeSpinLock creates an array whose BTF value holds a struct
// bpf_spin_lock and loads a program that takes and releases it.
func probeSpinLock() (Outcome, string) {
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	lock := &btf.Struct{Name: "bpf_spin_lock", Size: 4, Members: []btf.Member{{Name: "val", Type: u32}}}
	m, err := ebpf.NewMapWithOptions(&ebpf.MapSpec{
		Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1,
		Key:   u32,
		Value: &btf.Struct{Name: "v", Size: 4, Members: []btf.Member{{Name: "lock", Type: lock}}},
	}, ebpf.MapOptions{})
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return OutcomeNotSupported, err.Error()
		}
		return featuresOutcome(mapNotSupported(err))
	}
	defer m.Close()
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.StoreImm(asm.R2, 0, 0, asm.Word),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Reg(asm.R6, asm.R0),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.FnSpinLock.Call(),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.FnSpinUnlock.Call(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	}, ebpf.ProgramOptions{LogDisabled: true})
	if err == nil {
		prog.Close()
	}
	return featuresOutcome(mapNotSupported(err))
}
