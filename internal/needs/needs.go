package needs

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Kinds of requirement that are not rows of a features table kind.
const (
	// KindKfunc: a kernel function called by BTF ID (features.Kfuncs); it
	// needs the "kfuncs" misc feature too, also listed.
	KindKfunc = features.KindKfunc
	// KindCORE: a CO-RE relocation kind; resolved by the loader against the
	// kernel's BTF, which the "kernel_btf" misc feature stands for.
	KindCORE result.Kind = "core_relocation"
	// KindStructOps: the kernel struct a struct_ops map implements (and its
	// programs fill in), such as tcp_congestion_ops. Advisory: the table
	// has no per-type versions; a type a module registers needs the module
	// (ModuleNeeded).
	KindStructOps result.Kind = "struct_ops"
)

// Requirement is one thing a program needs from a kernel.
type Requirement struct {
	Kind result.Kind `json:"kind"`
	Name string      `json:"name"`
	// Version, Commit and Config come from the features table; Version is
	// empty when the table has no row (KindKfunc, KindCORE).
	Version string   `json:"version,omitempty"`
	Commit  string   `json:"commit,omitempty"`
	Config  []string `json:"config,omitempty"`
	// Why says what in the object asks for it: "calls bpf_loop".
	Why string `json:"why"`
	// Source is the first use, from BTF line info; nil when the object has
	// none (or the requirement is not tied to an instruction).
	Source *Source `json:"source,omitempty"`
	// Advisory requirements describe the object but do not decide a load:
	// cilium/ebpf rewrites BTF kinds a kernel lacks, and a kfunc or CO-RE
	// kind has no version of its own here.
	Advisory bool `json:"advisory,omitempty"`
	// Unloadable: no kernel loads it (a section that names no program type).
	Unloadable bool `json:"unloadable,omitempty"`
	// LiveFrom: an Advisory use in a branch that a CO-RE check of a helper's
	// existence opens (bpf_core_enum_value_exists(enum bpf_func_id,
	// BPF_FUNC_x)) decides the load on kernels from this version, the
	// checked helper's: there the verifier walks the branch.
	LiveFrom string `json:"live_from,omitempty"`

	order int // instruction index of the first use, for a stable order
}

// Source is a place in the program's C source.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Insn is the raw instruction offset of the use in the program.
	Insn int `json:"insn"`
}

func (s *Source) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Program is the requirements of one program of an object.
type Program struct {
	Name    string `json:"name"`
	Section string `json:"section"`
	Type    string `json:"type"`
	// Minimum is the highest Version among the non-advisory requirements:
	// the oldest mainline release that can load the program.
	Minimum      string        `json:"minimum,omitempty"`
	Requirements []Requirement `json:"requirements"`
}

// Map is the requirements of creating one map of an object, program or not.
type Map struct {
	Name         string        `json:"name"`
	Type         string        `json:"type"`
	Minimum      string        `json:"minimum,omitempty"`
	Requirements []Requirement `json:"requirements"`
}

// ErrNoSpec: there is no cilium/ebpf reading of the object to extract
// from, not even internal/object's relaxed one (Object.AnalysisSpec).
var ErrNoSpec = errors.New("extract requirements: cilium/ebpf cannot read the object, even with its weak symbols read as global")

// ExtractMaps works out what creating each map of spec needs: its type,
// its inner map's type and its flags. Maps come back sorted by name.
func ExtractMaps(spec *ebpf.CollectionSpec) (maps []Map, err error) {
	if spec == nil {
		return nil, ErrNoSpec
	}
	defer func() {
		if v := recover(); v != nil {
			maps, err = nil, fmt.Errorf("extract map requirements: %w: %v", errCrashed, v)
		}
	}()
	names := make([]string, 0, len(spec.Maps))
	for n := range spec.Maps {
		names = append(names, n)
	}
	slices.Sort(names)
	maps = []Map{}
	for _, n := range names {
		ms := spec.Maps[n]
		b := &builder{index: map[string]int{}}
		mapRequirements(spec, ms, b.add)
		m := Map{Name: n, Requirements: b.reqs, Minimum: minimum(b.reqs)}
		if s, ok := features.ByValue(result.KindMapType, int64(ms.Type)); ok {
			m.Type = s.Name
		} else {
			m.Type = strings.ToLower(ms.Type.String())
		}
		maps = append(maps, m)
	}
	return maps, nil
}

// errCrashed wraps a reader crash that Extract recovered from: a bug.
var errCrashed = errors.New("the requirement reader crashed on the object (a bug in bpfmatrix or cilium/ebpf)")

// Extract works out what every program of spec needs, from the object
// alone. Programs come back sorted by name. It never panics: a crash of the
// reader on a malformed instruction stream is an error.
func Extract(spec *ebpf.CollectionSpec) (progs []Program, err error) {
	if spec == nil {
		return nil, ErrNoSpec
	}
	defer func() {
		if v := recover(); v != nil {
			progs, err = nil, fmt.Errorf("extract requirements: %w: %v", errCrashed, v)
		}
	}()
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	slices.Sort(names)
	// The BTF is the object's, not a program's: walk it once.
	var objBTF []Requirement
	if spec.Types != nil {
		objBTF = btfRequirements(spec.Types)
	}
	progs = []Program{}
	for _, n := range names {
		progs = append(progs, extractProgram(spec, spec.Programs[n], objBTF))
	}
	return progs, nil
}

// builder collects one program's requirements, first use of each.
type builder struct {
	reqs  []Requirement
	index map[string]int
}

// has reports whether the program already has the requirement, so that
// the text of a repeated one is not built again.
func (b *builder) has(kind result.Kind, name string) bool {
	_, ok := b.index[string(kind)+"/"+name]
	return ok
}

func (b *builder) add(r Requirement) {
	key := string(r.Kind) + "/" + r.Name
	if i, ok := b.index[key]; ok {
		if b.reqs[i].Advisory && !r.Advisory {
			// A use that decides a load after one that does not (a helper
			// called in a load-time-dead branch first, then unguarded).
			b.reqs[i] = r
			return
		}
		if b.reqs[i].Source == nil && r.Source != nil {
			b.reqs[i].Source, b.reqs[i].order = r.Source, r.order
		}
		return
	}
	b.index[key] = len(b.reqs)
	b.reqs = append(b.reqs, r)
}

// table makes a requirement from a features table row; a feature the
// table does not know is kept, with no version, as advisory.
func table(kind result.Kind, name, why string) Requirement {
	r := Requirement{Kind: kind, Name: name, Why: why}
	if s, ok := features.Lookup(kind, name); ok {
		r.Version, r.Commit, r.Config = s.Version, s.Commit, s.Config
	} else {
		r.Advisory = true
	}
	return r
}

func misc(name, why string) Requirement { return table(result.KindMisc, name, why) }

// bpfFSleepable is BPF_F_SLEEPABLE (include/uapi/linux/bpf.h), which
// cilium/ebpf sets for ".s" sections.
const bpfFSleepable = 1 << 4

// loadChecksAttachType are the program types whose load validates
// expected_attach_type (bpf_prog_load_check_attach(), kernel/bpf/syscall.c).
var loadChecksAttachType = map[string]bool{
	"cgroup_sock": true, "cgroup_sock_addr": true, "cgroup_sockopt": true, "tracing": true,
	"lsm": true, "sk_lookup": true, "sk_reuseport": true, "netfilter": true, "ext": true,
}

// Map flags the kernel checks at creation (include/uapi/linux/bpf.h) and
// the misc feature that stands for each.
var mapFlags = []struct {
	flag uint32
	name string
	text string
}{
	{1 << 0, "map_flag_no_prealloc", "BPF_F_NO_PREALLOC"},
	{1 << 7, "map_flag_rdonly_prog", "BPF_F_RDONLY_PROG"},
	{1 << 10, "mmapable_arrays", "BPF_F_MMAPABLE"},
	{1 << 12, "map_flag_inner_map", "BPF_F_INNER_MAP"},
}

func extractProgram(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec, objBTF []Requirement) Program {
	p := Program{Name: ps.Name, Section: ps.SectionName}
	b := &builder{index: map[string]int{}}

	if s, ok := features.ByValue(result.KindProgramType, int64(ps.Type)); ok {
		p.Type = s.Name
		b.add(table(result.KindProgramType, s.Name, "program type "+s.Name))
	} else {
		p.Type = strings.ToLower(ps.Type.String())
		b.add(Requirement{Kind: result.KindProgramType, Name: p.Type, Unloadable: true,
			Why: fmt.Sprintf("section %q names no program type the kernel knows", ps.SectionName)})
	}
	if ps.AttachType != ebpf.AttachNone {
		if s, ok := features.ByValue(result.KindAttachType, int64(ps.AttachType)); ok {
			r := table(result.KindAttachType, s.Name, "expected attach type "+s.Name)
			// Other program types ignore expected_attach_type at load
			// (the default case of bpf_prog_load_check_attach()): an xdp
			// program loads on 4.8 although BPF_XDP is from 5.9.
			r.Advisory = r.Advisory || !loadChecksAttachType[p.Type]
			b.add(r)
		}
	}
	if ps.Flags&bpfFSleepable != 0 {
		b.add(misc("sleepable_programs", "sleepable (section "+ps.SectionName+")"))
	}
	switch ps.AttachType {
	case ebpf.AttachTraceFEntry, ebpf.AttachTraceFExit, ebpf.AttachModifyReturn, ebpf.AttachLSMMac:
		b.add(misc("trampolines", "attaches through a BPF trampoline"))
	}
	if ps.Type == ebpf.StructOps {
		// cilium/ebpf sets AttachTo to "struct:member" from the struct_ops
		// map that holds the program.
		if st, member, ok := strings.Cut(ps.AttachTo, ":"); ok && st != "" {
			b.add(Requirement{Kind: KindStructOps, Name: st, Advisory: true,
				Why: fmt.Sprintf("implements %s.%s (struct_ops)", st, member)})
		}
	}

	// A kfunc whose address the program loads is tested with
	// bpf_ksym_exists(), which only takes __weak externs: on a kernel
	// without it the loader poisons the call (libbpf and cilium/ebpf alike)
	// and the verifier drops the branch as dead code. The kfuncs called in
	// that branch are __weak too as a rule, and BTF does not say which
	// extern is weak, so in such a program no kfunc call decides a load
	// (cilium/ebpf's kfunc-el.elf call_weak_kfunc, which calls
	// bpf_cpumask_create and bpf_cpumask_release, loads on 5.10).
	guarded := false
	for _, ins := range ps.Instructions {
		if ins.OpCode.IsDWordLoad() && ins.Reference() != "" && spec.Maps[ins.Reference()] == nil && isKfunc(spec, ins) {
			guarded = true
			break
		}
	}

	deadAtLoad, liveFrom := loadTimeBranches(spec, ps.Instructions)

	var cur *Source
	seenMap := map[string]bool{}
	raw := 0
	iter := ps.Instructions.Iterate()
	for iter.Next() {
		ins := iter.Ins
		off := int(iter.Offset)
		raw = off + int(ins.Width())
		if l, ok := ins.Source().(*btf.Line); ok && l != nil && l.LineNumber() > 0 {
			cur = &Source{File: strings.TrimPrefix(l.FileName(), "./"), Line: int(l.LineNumber())}
		}
		at := func(r Requirement) {
			if cur != nil {
				s := *cur
				s.Insn = off
				r.Source = &s
			}
			r.order = off
			b.add(r)
		}
		if fn := btf.FuncMetadata(ins); fn != nil && off > 0 && fn.Linkage == btf.GlobalFunc {
			at(misc("global_functions", "global function "+fn.Name+" (verified on its own)"))
		}
		if relo := btf.CORERelocationMetadata(ins); relo != nil {
			kind := coreKind(relo)
			at(Requirement{Kind: KindCORE, Name: kind, Advisory: true, Why: "CO-RE relocation " + kind})
			at(misc("kernel_btf", "CO-RE relocations are resolved against the kernel's BTF"))
		}
		op := ins.OpCode
		switch op.Class() {
		case asm.JumpClass, asm.Jump32Class:
			jumpRequirements(*ins, op, at, b.has, guarded, deadAtLoad(off), liveFrom(off))
		case asm.ALUClass, asm.ALU64Class:
			if v4ALU(op) && !b.has(result.KindMisc, "v4_isa_extension") {
				at(misc("v4_isa_extension", "uses a v4 instruction ("+fmt.Sprint(ins)+")"))
			}
		case asm.LdXClass:
			if op.Mode() == asm.MemSXMode && !b.has(result.KindMisc, "v4_isa_extension") {
				at(misc("v4_isa_extension", "sign-extending load ("+fmt.Sprint(ins)+")"))
			}
		case asm.StXClass:
			if op.Mode() == asm.AtomicMode && op.AtomicOp() != asm.AddAtomic && !b.has(result.KindMisc, "atomics") {
				at(misc("atomics", "atomic "+fmt.Sprint(ins)))
			}
		case asm.LdClass:
			if !op.IsDWordLoad() {
				break
			}
			switch {
			case ins.IsLoadOfFunctionPointer():
				at(misc("callbacks", "passes subprogram "+ins.Reference()+" as a callback"))
			case ins.IsLoadFromMap() || (ins.Reference() != "" && spec.Maps[ins.Reference()] != nil):
				name := ins.Reference()
				ms := spec.Maps[name]
				if ms == nil {
					break
				}
				if ins.Src == asm.PseudoMapValue || isDataSection(name) {
					at(misc("global_data", "reads or writes global variables in "+name))
				}
				if !seenMap[name] {
					seenMap[name] = true
					mapRequirements(spec, ms, at)
				}
			case ins.Reference() != "" && spec.Maps[ins.Reference()] == nil && !isKfunc(spec, *ins):
				at(misc("ksyms", "takes the address of kernel symbol "+ins.Reference()))
			}
		}
	}
	if raw > 4096 {
		b.add(misc("large_insn_limit", fmt.Sprintf("%d instructions (over 4096)", raw)))
	}
	for _, r := range objBTF {
		b.add(r)
	}

	p.Requirements = b.reqs
	sort.SliceStable(p.Requirements, func(i, j int) bool {
		return rank(p.Requirements[i]) < rank(p.Requirements[j])
	})
	p.Minimum = minimum(p.Requirements)
	return p
}

// minimum is the newest version among the non-advisory requirements.
func minimum(reqs []Requirement) string {
	var min catalog.Version
	for _, r := range reqs {
		if r.Advisory || r.Version == "" {
			continue
		}
		if v, err := catalog.ParseVersion(r.Version); err == nil && min.Less(v) {
			min = v
		}
	}
	if min == (catalog.Version{}) {
		return ""
	}
	return min.String()
}

// rank orders a program's requirements: what the program is first, then
// by first use.
func rank(r Requirement) int {
	switch r.Kind {
	case result.KindProgramType:
		return -3
	case result.KindAttachType:
		return -2
	}
	if r.Source == nil && r.order == 0 {
		return -1
	}
	return r.order
}

func jumpRequirements(ins asm.Instruction, op asm.OpCode, at func(Requirement), has func(result.Kind, string) bool, guarded, branch bool, liveFrom string) {
	jop := op.JumpOp()
	const inBranch = " (in a branch a CO-RE existence check or a .rodata constant decides at load: a kernel without it need not see the call)"
	switch {
	case ins.IsBuiltinCall():
		if s, ok := features.ByValue(result.KindHelper, ins.Constant); ok {
			r := table(result.KindHelper, s.Name, "calls "+s.Name)
			if branch {
				r.Advisory, r.Why, r.LiveFrom = true, r.Why+inBranch, liveFrom
			}
			at(r)
		} else {
			at(Requirement{Kind: result.KindHelper, Name: fmt.Sprintf("helper#%d", ins.Constant), Advisory: true,
				Why: fmt.Sprintf("calls helper %d, which the features table does not know", ins.Constant)})
		}
		return
	case ins.IsKfuncCall():
		name := ins.Reference()
		r := table(KindKfunc, name, "calls kfunc "+name)
		if r.Advisory {
			r.Why += " (its first release is not in the features table)"
		}
		m := misc("kfuncs", "calls kfunc "+name)
		if branch && !guarded {
			r.Advisory, r.Why = true, r.Why+inBranch
			m.Advisory, m.Why = true, m.Why+inBranch
		}
		if guarded {
			const weak = " (in a program that tests __weak kfuncs with bpf_ksym_exists: without them the calls are dropped)"
			r.Advisory, r.Why = true, r.Why+weak
			m.Advisory, m.Why = true, m.Why+weak
		}
		at(r)
		at(m)
		return
	case ins.IsFunctionCall():
		at(misc("bpf_to_bpf_calls", "calls subprogram "+ins.Reference()))
		return
	case jop == asm.Exit || jop == asm.Call:
		return
	}
	if jop == asm.JCOND {
		at(misc("may_goto", "may_goto"))
		return
	}
	if op.Class() == asm.Jump32Class {
		if jop == asm.Ja && !has(result.KindMisc, "gotol") {
			// Part of the v4 ISA (6.6), but Debian's 6.1 verifier and x86
			// JIT accept it and 5.10 does not (measured by the corpus's
			// isa_v4_gotol): which release first took it is not known here,
			// so it is advisory rather than a wrong prediction on 6.1.
			at(Requirement{Kind: result.KindMisc, Name: "gotol", Advisory: true,
				Why: "gotol (" + fmt.Sprint(ins) + "): debian-6.1 accepts it, debian-5.10 does not"})
		} else if jop != asm.Ja && !has(result.KindMisc, "v3_isa_extension") {
			at(misc("v3_isa_extension", "32-bit jump ("+fmt.Sprint(ins)+")"))
		}
	}
	switch jop {
	case asm.JLT, asm.JLE, asm.JSLT, asm.JSLE:
		at(misc("v2_isa_extension", "jump "+strings.ToLower(jop.String())))
	}
	// A jump to an earlier instruction is a loop, which the verifier
	// refused outright before bounded loops (2589726d12a1).
	if ins.Offset < 0 || (op.Class() == asm.Jump32Class && jop == asm.Ja && ins.Constant < 0) {
		at(misc("bounded_loops", "loops (a backward jump)"))
	}
}

// v4ALU: signed division and modulo, sign-extending moves and
// unconditional byte swaps (the v4 ISA, 6.6).
func v4ALU(op asm.OpCode) bool {
	// cilium/ebpf decodes the v4 variants into ALU ops of their own (the
	// instruction's offset field becomes part of the op).
	switch op.ALUOp() {
	case asm.SDiv, asm.SMod, asm.MovSX8, asm.MovSX16, asm.MovSX32:
		return true
	case asm.Swap:
		return op.Class() == asm.ALU64Class
	}
	return false
}

func mapRequirements(spec *ebpf.CollectionSpec, ms *ebpf.MapSpec, at func(Requirement)) {
	if s, ok := features.ByValue(result.KindMapType, int64(ms.Type)); ok {
		at(table(result.KindMapType, s.Name, fmt.Sprintf("map %s has type %s", ms.Name, s.Name)))
	}
	for _, f := range mapFlags {
		if ms.Flags&f.flag != 0 {
			at(misc(f.name, fmt.Sprintf("map %s has %s", ms.Name, f.text)))
		}
	}
	if st, ok := ms.Value.(*btf.Struct); ok && ms.Type == ebpf.StructOpsMap && st.Name != "" {
		at(Requirement{Kind: KindStructOps, Name: st.Name, Advisory: true,
			Why: fmt.Sprintf("map %s is a struct_ops map of %s", ms.Name, st.Name)})
	}
	if ms.InnerMap != nil {
		if s, ok := features.ByValue(result.KindMapType, int64(ms.InnerMap.Type)); ok {
			at(table(result.KindMapType, s.Name, fmt.Sprintf("map %s holds %s maps", ms.Name, s.Name)))
		}
	}
}

// loadTimeBranches returns whether the instruction at a raw offset lies in
// an arm of a branch that the verifier never walks on a kernel lacking a
// feature: the condition is a CO-RE existence relocation, 0 on such a
// kernel (libbpf-tools' `if (bpf_core_enum_value_exists(enum bpf_func_id,
// BPF_FUNC_get_func_ip)) ip = bpf_get_func_ip(ctx);`), or a value read
// from .rodata, which the verifier reads as the constant the object holds
// (opensnoop's `if (full_path)`, false by default). A helper called only
// there decides nothing: measured with ksnoop, tcppktlat and opensnoop on
// debian-5.10. Only a taken forward jump is followed (its fall-through arm
// is dead), and the scan is linear (a register's last writer), which is
// how clang emits these checks; anything else is left as it was. liveFrom
// gives, for such an instruction, the version from which the branch is
// walked when its condition is the existence of a helper (the features
// table's version of BPF_FUNC_x), "" otherwise.
func loadTimeBranches(spec *ebpf.CollectionSpec, insns asm.Instructions) (dead func(off int) bool, liveFrom func(off int) string) {
	type span struct {
		from, to int
		live     string
	}
	var spans []span
	type reg struct {
		kind  int // 0 unknown, 1 pointer into .rodata, 2 known value
		value int64
		ptr   string
		off   int64
		live  string // kind 2 from a helper's CO-RE existence check: its version
	}
	var regs [16]reg
	read := func(section string, off int64, size int) (int64, bool) {
		ms := spec.Maps[section]
		if ms == nil || len(ms.Contents) != 1 {
			return 0, false
		}
		b, ok := ms.Contents[0].Value.([]byte)
		if !ok || off < 0 || off+int64(size) > int64(len(b)) {
			return 0, false
		}
		var v uint64
		for i := size - 1; i >= 0; i-- { // little-endian objects only (object.Open)
			v = v<<8 | uint64(b[off+int64(i)])
		}
		return int64(v), true
	}
	iter := insns.Iterate()
	for iter.Next() {
		ins := iter.Ins
		off := int(iter.Offset)
		op := ins.OpCode
		dst := int(ins.Dst) & 15
		src := int(ins.Src) & 15
		switch op.Class() {
		case asm.JumpClass, asm.Jump32Class:
			jop := op.JumpOp()
			if jop == asm.Call {
				for r := 0; r <= 5; r++ {
					regs[r] = reg{}
				}
				continue
			}
			if jop == asm.Exit || jop == asm.Ja || jop == asm.JCOND || ins.Offset <= 0 || op.Source() != asm.ImmSource || regs[dst].kind != 2 {
				continue
			}
			if taken(jop, regs[dst].value, ins.Constant) {
				spans = append(spans, span{off + 1, off + 1 + int(ins.Offset), regs[dst].live})
			}
			continue
		case asm.StClass, asm.StXClass:
			continue
		}
		switch {
		case btf.CORERelocationMetadata(ins) != nil && strings.HasSuffix(coreKind(btf.CORERelocationMetadata(ins)), "_exists"):
			regs[dst] = reg{kind: 2, value: 0, live: helperExistsVersion(spec, btf.CORERelocationMetadata(ins))} // what a kernel without it gives
		case op.IsDWordLoad() && strings.HasPrefix(ins.Reference(), ".rodata") && spec.Maps[ins.Reference()] != nil:
			regs[dst] = reg{kind: 1, ptr: ins.Reference(), off: int64(uint64(ins.Constant) >> 32)}
		case op.Class() == asm.LdXClass && op.Mode() == asm.MemMode && regs[src].kind == 1:
			if v, ok := read(regs[src].ptr, regs[src].off+int64(ins.Offset), op.Size().Sizeof()); ok {
				regs[dst] = reg{kind: 2, value: v}
			} else {
				regs[dst] = reg{}
			}
		case op.Class() == asm.ALU64Class && op.ALUOp() == asm.Mov && op.Source() == asm.RegSource:
			regs[dst] = regs[src]
		default:
			regs[dst] = reg{}
		}
	}
	in := func(off int) *span {
		for i := range spans {
			if off >= spans[i].from && off < spans[i].to {
				return &spans[i]
			}
		}
		return nil
	}
	dead = func(off int) bool { return in(off) != nil }
	liveFrom = func(off int) string {
		if s := in(off); s != nil {
			return s.live
		}
		return ""
	}
	return dead, liveFrom
}

// helperExistsVersion returns the features table's version of the helper
// whose existence relo checks (enumval_exists on enum bpf_func_id, as
// bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_x) emits), or "".
func helperExistsVersion(spec *ebpf.CollectionSpec, relo *btf.CORERelocation) string {
	s := relo.String()
	if !strings.Contains(s, "enumval_exists") || !strings.Contains(s, `"bpf_func_id"`) || spec.Types == nil {
		return ""
	}
	// CORERelocation(enumval_exists, Enum:"bpf_func_id"[N], local_id=...)
	_, idx, ok := strings.Cut(s, `"bpf_func_id"[`)
	if !ok {
		return ""
	}
	idx, _, _ = strings.Cut(idx, "]")
	n, err := strconv.Atoi(idx)
	if err != nil {
		return ""
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("bpf_func_id", &enum); err != nil || n < 0 || n >= len(enum.Values) {
		return ""
	}
	name := "bpf_" + strings.TrimPrefix(enum.Values[n].Name, "BPF_FUNC_")
	if f, ok := features.Lookup(result.KindHelper, name); ok {
		return f.Version
	}
	return ""
}

// taken evaluates a conditional jump of a known value against an
// immediate, unsigned for the unsigned operators.
func taken(op asm.JumpOp, v, imm int64) bool {
	u, ui := uint64(v), uint64(imm)
	switch op {
	case asm.JEq:
		return v == imm
	case asm.JNE:
		return v != imm
	case asm.JGT:
		return u > ui
	case asm.JGE:
		return u >= ui
	case asm.JLT:
		return u < ui
	case asm.JLE:
		return u <= ui
	case asm.JSGT:
		return v > imm
	case asm.JSGE:
		return v >= imm
	case asm.JSLT:
		return v < imm
	case asm.JSLE:
		return v <= imm
	case asm.JSet:
		return v&imm != 0
	}
	return false
}

func isDataSection(name string) bool {
	for _, p := range []string{".data", ".rodata", ".bss"} {
		if name == p || strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}

func isKfunc(spec *ebpf.CollectionSpec, ins asm.Instruction) bool {
	if spec.Types == nil {
		return false
	}
	var fn *btf.Func
	return spec.Types.TypeByName(ins.Reference(), &fn) == nil
}

// coreKind is the relocation kind's libbpf name ("byte_off",
// "field_exists"); cilium/ebpf prints it but does not export it.
func coreKind(relo *btf.CORERelocation) string {
	s, ok := strings.CutPrefix(relo.String(), "CORERelocation(")
	if !ok {
		return "unknown"
	}
	kind, _, _ := strings.Cut(s, ",")
	return kind
}

// btfRequirements lists the BTF the object carries. cilium/ebpf loads
// program BTF only where the kernel has it and rewrites kinds the kernel
// lacks, so all of these are advisory.
func btfRequirements(spec *btf.Spec) []Requirement {
	var out []Requirement
	seen := map[string]bool{}
	add := func(name, why string) {
		if seen[name] {
			return
		}
		seen[name] = true
		r := misc(name, why)
		r.Advisory = true
		out = append(out, r)
	}
	add("btf", "the object carries BTF")
	for t, err := range spec.All() {
		if err != nil {
			break
		}
		switch t := t.(type) {
		case *btf.Func:
			add("btf_func_info", "BTF function info")
			if t.Linkage != btf.StaticFunc {
				add("btf_func_linkage", "BTF function linkage")
			}
			if len(t.Tags) > 0 || len(t.ParamTags) > 0 {
				add("btf_decl_tag", "BTF decl tags")
			}
		case *btf.Struct:
			if len(t.Tags) > 0 {
				add("btf_decl_tag", "BTF decl tags")
			}
		case *btf.Typedef:
			if len(t.Tags) > 0 {
				add("btf_decl_tag", "BTF decl tags")
			}
		case *btf.Datasec, *btf.Var:
			add("btf_datasec", "BTF variables and data sections")
		case *btf.TypeTag:
			add("btf_type_tag", "BTF type tags")
		case *btf.Enum:
			if t.Size == 8 {
				add("btf_enum64", "64-bit BTF enums")
			}
		}
	}
	return out
}
