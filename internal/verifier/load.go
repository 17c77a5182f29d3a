package verifier

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Options control how programs are loaded.
type Options struct {
	// KernelTypes replaces the running kernel's BTF for CO-RE relocations
	// (nil: /sys/kernel/btf/vmlinux, or the vmlinux file cilium/ebpf finds).
	KernelTypes *btf.Spec
	// Cache shares decoded kernel BTF between loads; nil allocates one per call.
	Cache *btf.Cache
	// FullLog loads at log level 2 even when the program is accepted (repro).
	FullLog bool
}

func (o Options) withCache() Options {
	if o.Cache == nil {
		o.Cache = btf.NewCache()
	}
	return o
}

// LoadObject parses an ELF object and loads each of its programs.
func LoadObject(path string, opts Options) ([]result.VerifierOutcome, error) {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	outs := LoadCollection(spec, opts)
	for i := range outs {
		outs[i].Object = path
	}
	return outs, nil
}

// LoadCollection loads every program of spec, each in its own collection with
// only the maps it references, so that one rejected program or one map the
// kernel can't create does not hide the verdict on the others. Outcomes are
// sorted by program name.
func LoadCollection(spec *ebpf.CollectionSpec, opts Options) []result.VerifierOutcome {
	opts = opts.withCache()
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	slices.Sort(names)
	outs := make([]result.VerifierOutcome, 0, len(names))
	for _, name := range names {
		outs = append(outs, LoadProgram(spec, name, opts))
	}
	return outs
}

// LoadProgram loads one program of spec and reports the verifier's verdict.
// spec is not modified.
func LoadProgram(spec *ebpf.CollectionSpec, name string, opts Options) result.VerifierOutcome {
	return loadProgram(spec, name, opts, false)
}

// loadProgram is LoadProgram; likelyRejected (the corpus expects this kernel
// to say no) asks for the level-2 log on the first load, which saves a
// second verification of every expected rejection.
func loadProgram(spec *ebpf.CollectionSpec, name string, opts Options, likelyRejected bool) result.VerifierOutcome {
	opts = opts.withCache()
	out := result.VerifierOutcome{Program: name}
	ps := spec.Programs[name]
	if ps == nil {
		out.Inconclusive = fmt.Sprintf("no program %q in the object", name)
		return out
	}
	if ps.Type == ebpf.UnspecifiedProgram {
		// cilium/ebpf's NewCollection skips such programs instead of
		// failing, and no kernel loads program type 0: there is nothing to ask.
		out.Inconclusive = UnspecifiedTypeError(ps).Error()
		return out
	}

	// An freplace program always, and an fentry/fexit program whose
	// target function is in its own object, attach to a program of that
	// object: load the target first (libbpf's user space sets it with
	// bpf_program__set_attach_target; cilium/ebpf would look for an fentry
	// target in the kernel's BTF and answer "fentry X not supported").
	if ps.AttachTarget == nil && (ps.Type == ebpf.Extension || TargetInObject(spec, name) != "") {
		target, err := loadObjectTarget(spec, name, opts)
		if err != nil {
			out.Inconclusive = err.Error()
			return out
		}
		defer target.Close()
		ps = ps.Copy()
		ps.AttachTarget = target
	}

	sub := programOnly(spec, ps)
	// The first load asks for the stats only (level 2 straight away only
	// for a corpus case this kernel is expected to reject: our own small
	// programs). Its "processed N insns" sizes the level-2 load, if any.
	first := ebpf.LogLevelStats
	if likelyRejected {
		first = level2
	}
	log, err := loadOnce(sub, name, first, 0, opts)
	if err != nil && errors.Is(err, unix.EINVAL) && log == "" {
		// Before 5.2 (BPF_LOG_STATS, BPF_LOG_LEVEL2) a log level above 1 is
		// EINVAL before the verifier runs; level 1 is the most there is.
		first = ebpf.LogLevelBranch
		log, err = loadOnce(sub, name, first, 0, opts)
	}
	// The stats-only log of a rejection is just the verifier's reason and its
	// stats: the summary comes from there (a level-2 log may end in state dumps).
	summary := SummaryLine(log)
	// A rejection by the verifier, or repro asking for the log of an
	// accepted program: load again at level 2 for the whole log. An empty
	// log means the kernel said no before the verifier ran (map creation,
	// BTF, attach target): a second load would only say the same.
	if first == ebpf.LogLevelStats && log != "" && (err != nil || opts.FullLog) {
		st := ParseStats(log)
		if why := Level2Skipped(summary, st.Insns); why != "" {
			// The stats log (the kernel's reason and its statistics) is all
			// there is; say so in it rather than keep a shorter log silently.
			log = strings.TrimRight(log, "\n") + "\n" + why + "\n"
		} else if full, err2 := loadOnce(sub, name, level2, level2SizeHint(st.Insns), opts); full != "" && (err2 != nil) == (err != nil) {
			log = full
		}
	}
	fill(&out, log, summary, err)
	if opts.FullLog {
		out.Log = log
	}
	return out
}

// level2 is the whole verifier log: every instruction with its register
// state, and the statistics.
const level2 = ebpf.LogLevelInstruction | ebpf.LogLevelStats

// Level-2 log budget. At level 2 the verifier prints every instruction it
// walks with its register state. Measured on the 6.18 development host:
// 138-245 bytes per processed instruction for never.o and loop.o, 308 for
// complexity.o's too_many_jumps (30.3 MB of log for 98,310 instructions,
// bpftool -d), so a program near the 1M-instruction limit writes about
// 300 MB. cilium/ebpf grows the log buffer by doubling from 64 KiB,
// verifying the program again on every ENOSPC (a dozen full verifications
// before the kernel reports the log size itself, 6.4+), and the log is
// copied several times on its way to the host (lines, joined string, JSON,
// frames): in a 512 MiB guest that ran the agent out of memory after
// 100-187 s (issue 18). So the level-2 load is sized from the stats-only
// load's instruction count, and not made at all above level2MaxInsns.
const (
	level2BytesPerInsn = 320
	level2MaxInsns     = 64 << 10 // 20 MiB of log at level2BytesPerInsn
)

// level2SizeHint is the starting log buffer for a level-2 load of a program
// the stats-only load reported insns processed instructions for: one load
// instead of a doubling series (0: cilium/ebpf's default).
func level2SizeHint(insns int) uint32 {
	if insns <= 0 {
		return 0
	}
	return uint32(min(insns, level2MaxInsns) * level2BytesPerInsn)
}

// complexityLimit matches the verifier's reasons for giving up on a program
// for its size rather than for an error in it: BPF_COMPLEXITY_LIMIT_INSNS
// ("BPF program is too large. Processed 1000001 insn"),
// BPF_COMPLEXITY_LIMIT_JMP_SEQ ("The sequence of 8193 jumps is too
// complex.") and the pre-5.3 state limit ("BPF program is too complex").
var complexityLimit = regexp.MustCompile(`BPF program is too (large|complex)|The sequence of \d+ jumps is too complex`)

// Level2Skipped says why no level-2 log is taken after a stats-only load
// with this summary and instruction count ("" when one is): the verifier
// stopped at a complexity limit (the level-2 log would be the same walk,
// printed), or it walked more than level2MaxInsns instructions. The text is
// appended to the kept log, marked as bpfmatrix's.
func Level2Skipped(summary string, insns int) string {
	switch {
	case complexityLimit.MatchString(summary):
		return fmt.Sprintf("bpfmatrix: no level-2 log: the verifier stopped at a complexity limit after %d instructions, and printing every one with its state would take hundreds of MB (this is the stats-level log)", insns)
	case insns > level2MaxInsns:
		return fmt.Sprintf("bpfmatrix: no level-2 log: the verifier walked %d instructions (budget %d, about %d MiB of log); this is the stats-level log", insns, level2MaxInsns, level2MaxInsns*level2BytesPerInsn>>20)
	}
	return ""
}

// UnspecifiedTypeError is the error for a program whose section name gives
// no program type (SEC("my_custom_section")).
func UnspecifiedTypeError(ps *ebpf.ProgramSpec) error {
	return fmt.Errorf("program %s: section %q names no program type (cilium/ebpf and libbpf take the type from the section name: use one libbpf knows, such as SEC(\"xdp\") or SEC(\"kprobe/FUNC\"))", ps.Name, ps.SectionName)
}

// loadOnce loads the collection and returns the verifier log and the error.
// sizeHint is the log buffer to start with (0: cilium/ebpf's 64 KiB).
func loadOnce(spec *ebpf.CollectionSpec, name string, level ebpf.LogLevel, sizeHint uint32, opts Options) (string, error) {
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: level, LogSizeStart: sizeHint, KernelTypes: opts.KernelTypes},
		Cache:    opts.Cache,
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return strings.Join(ve.Log, "\n"), err
		}
		return "", err
	}
	defer coll.Close()
	prog := coll.Programs[name]
	if prog == nil {
		// NewCollection leaves out what it will not load (a program of
		// unspecified type) without an error.
		return "", fmt.Errorf("load program %s: not loaded by cilium/ebpf", name)
	}
	return prog.VerifierLog, nil
}

// efaultSummary stands for the verifier's reason when the load failed with
// EFAULT: cilium/ebpf returns no log with EFAULT (it reads EFAULT as a
// verifier bug that overrode ENOSPC). Measured: Debian 5.10 and 6.1 and a
// 6.18 host answer EFAULT, with "The sequence of 8193 jumps is too
// complex." in the log (bpftool shows it), when a conditional jump exceeds
// BPF_COMPLEXITY_LIMIT_JMP_SEQ: check_cond_jmp_op turns push_stack's
// failure into -EFAULT.
const efaultSummary = "bad address (EFAULT) and no verifier log (cilium/ebpf returns none with EFAULT): the verifier's answer to a branch past its limit of 8192 pending branches (\"The sequence of 8193 jumps is too complex.\"), or a verifier-internal error"

// enotsupp is the kernel-internal ENOTSUPP (include/linux/errno.h).
const enotsupp = 524

// jitSummary stands for the reason when the load failed with ENOTSUPP and
// the verifier's log holds no complaint: the verifier passed the program
// and bpf_prog_select_runtime refused it because the JIT could not compile
// it and the interpreter is off (CONFIG_BPF_JIT_ALWAYS_ON, Debian's
// default). Measured: 6.1 arm64, whose JIT has no encoding for the 32-bit
// offset jump (BPF_JMP32|BPF_JA) that stable 6.1.72 let the verifier take.
const jitSummary = "ENOTSUPP (524) after the verifier passed the program: the JIT lacks an instruction it uses"

func fill(out *result.VerifierOutcome, log, summary string, err error) {
	st := ParseStats(log)
	out.Insns, out.PeakStates = st.Insns, st.PeakStates
	if st.VerifyUsec >= 0 {
		out.VerifyTime = strconv.FormatInt(st.VerifyUsec, 10) + "us"
	}
	if err == nil {
		out.Accepted = true
		out.Summary = st.Processed
		return
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		out.Errno = errnoName(errno)
	}
	out.Log = log
	out.Summary = summary
	if out.Summary == "" && errors.Is(err, unix.EFAULT) {
		out.Summary = efaultSummary
	}
	if out.Summary == "" && errors.Is(err, syscall.Errno(enotsupp)) {
		out.Summary = jitSummary
	}
	if out.Summary == "" {
		out.Summary = err.Error()
	}
	if errors.Is(err, unix.EPERM) && log == "" {
		out.Inconclusive = err.Error() + " (needs CAP_BPF/CAP_SYS_ADMIN, and RLIMIT_MEMLOCK raised before 5.11)"
	}
}

// programOnly returns a shallow copy of spec with only ps and the maps it
// (transitively) references; program arrays lose their contents, which name
// programs that are not loaded.
func programOnly(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec) *ebpf.CollectionSpec {
	want := map[string]bool{}
	var addMap func(string)
	addMap = func(name string) {
		ms := spec.Maps[name]
		if ms == nil || want[name] {
			return
		}
		want[name] = true
		for _, kv := range ms.Contents {
			if s, ok := kv.Value.(string); ok && ms.Type != ebpf.ProgramArray {
				addMap(s)
			}
		}
	}
	for _, ins := range ps.Instructions {
		if ref := ins.Reference(); ref != "" {
			addMap(ref)
		}
	}
	sub := &ebpf.CollectionSpec{
		Maps:      map[string]*ebpf.MapSpec{},
		Programs:  map[string]*ebpf.ProgramSpec{ps.Name: ps},
		Variables: map[string]*ebpf.VariableSpec{},
		Types:     spec.Types,
		ByteOrder: spec.ByteOrder,
	}
	for name := range want {
		ms := spec.Maps[name]
		if ms.Type == ebpf.ProgramArray && len(ms.Contents) > 0 {
			ms = ms.Copy()
			ms.Contents = nil
		}
		sub.Maps[name] = ms
	}
	for name, vs := range spec.Variables {
		if want[vs.SectionName] {
			sub.Variables[name] = vs
		}
	}
	return sub
}

// TargetInObject returns the program of spec holding the function that
// program name (fentry, fexit or freplace) attaches to, "" when none does:
// the program of that name, or the first by name whose instructions hold a
// function of that name (a global subprogram). A tracing program is never
// the target of an fentry/fexit program: kernels refuse that ("Cannot
// recursively attach", bpf_check_attach_target), and the name is then a
// kernel function the object's fentry program shares (libbpf-tools'
// klockstat: SEC("fexit/mutex_lock") beside SEC("fentry/mutex_lock") int
// mutex_lock). Any other program of that name is the target even if the
// kernel has a function of the name too (the 6.18 host has a static
// "target", the name of cilium/ebpf's fentry_fexit target program): what
// the object's author meant, where libbpf needs user space to say so.
func TargetInObject(spec *ebpf.CollectionSpec, name string) string {
	ps := spec.Programs[name]
	if ps == nil || ps.AttachTo == "" {
		return ""
	}
	switch {
	case ps.Type == ebpf.Extension:
	case ps.Type == ebpf.Tracing && (ps.AttachType == ebpf.AttachTraceFEntry || ps.AttachType == ebpf.AttachTraceFExit):
	default:
		return ""
	}
	fn := ps.AttachTo
	eligible := func(t *ebpf.ProgramSpec) bool {
		return t.Type != ebpf.Extension && t.Type != ebpf.UnspecifiedProgram && (ps.Type != ebpf.Tracing || t.Type != ebpf.Tracing)
	}
	if t := spec.Programs[fn]; t != nil && fn != name && eligible(t) {
		return fn
	}
	var names []string
	for n, t := range spec.Programs {
		if n == name || !eligible(t) {
			continue
		}
		if slices.ContainsFunc(t.Instructions, func(ins asm.Instruction) bool { return ins.Symbol() == fn }) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

// loadObjectTarget loads the program of spec that holds the function
// program ext attaches to: an extension, or a tracing program aimed at a
// BPF program, can only be verified against a loaded target.
func loadObjectTarget(spec *ebpf.CollectionSpec, ext string, opts Options) (*ebpf.Program, error) {
	ps := spec.Programs[ext]
	fn := ps.AttachTo
	target := TargetInObject(spec, ext)
	if target == "" {
		return nil, fmt.Errorf("%s can't be loaded on its own: it needs a loaded target program with global function %s, and no program in this object has one", ps.SectionName, fn)
	}
	sub := programOnly(spec, spec.Programs[target])
	coll, err := ebpf.NewCollectionWithOptions(sub, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{KernelTypes: opts.KernelTypes},
		Cache:    opts.Cache,
	})
	if err != nil {
		return nil, fmt.Errorf("load attach target %s (program %s of this object): %w", fn, target, err)
	}
	prog := coll.DetachProgram(target)
	coll.Close()
	return prog, nil
}

// errnoName names errno as the C headers do. ENOTSUPP (524) is the kernel's
// own (include/linux/errno.h, not in the uapi headers, so x/sys/unix has no
// name for it); the verifier returns it when the JIT lacks an instruction
// (seen: 32-bit jump offsets on 6.1 arm64).
func errnoName(errno syscall.Errno) string {
	if n := unix.ErrnoName(errno); n != "" {
		return n
	}
	if errno == enotsupp {
		return "ENOTSUPP"
	}
	return fmt.Sprintf("errno %d", int(errno))
}
