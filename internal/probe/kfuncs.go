package probe

import (
	"bytes"
	"context"
	"os"
	"sort"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"golang.org/x/sys/unix"
)

// kfuncProgTypes are the program types a kfunc is probed from: one or more
// for each kfunc hook the kernel files registrations under
// (bpf_prog_type_to_kfunc_hook in kernel/bpf/btf.c: common, XDP, TC,
// struct_ops, tracing, syscall, cgroup, sched_act, sk_skb, socket_filter,
// LWT, netfilter, kprobe). Program types of one hook get the same kfunc
// sets, so probing every one of the 32 types would triple the loads and
// the cells without a different answer.
var kfuncProgTypes = []string{
	"socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp", "perf_event",
	"cgroup_skb", "lwt_xmit", "sk_skb", "raw_tracepoint", "tracing", "struct_ops", "lsm",
	"syscall", "netfilter",
}

// kfuncSource says where the kernel's kfunc list came from.
const (
	kfuncSourceTag   = "bpf_kfunc decl tag in the kernel's BTF"
	kfuncSourceSets  = "kfunc BTF_ID sets named in /proc/kallsyms (this kernel's BTF tags no kfunc)"
	kfuncSourceTable = "bpfmatrix's kfunc table (this kernel's BTF tags no kfunc and kallsyms names no kfunc set)"
)

// kfuncSetMembers reads the kfunc sets' members from kallsyms: each
// BTF_SET8_START(name) is a symbol __BTF_ID__set8__name followed, 8 bytes
// apart, by one __BTF_ID__func__NAME__N symbol per member (BTF_ID_FLAGS),
// which the kernel lists as local symbols. Set8 is the kfunc set layout
// since 6.0 (the flags word); the fmodret sets share it and are skipped.
// Kernels from 6.10 tag kfuncs in BTF instead, and that is read first.
func kfuncSetMembers(kallsyms []byte) []string {
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	for _, line := range bytes.Split(kallsyms, []byte("\n")) {
		i := bytes.Index(line, []byte(" __BTF_ID__"))
		if i < 0 {
			continue
		}
		var a uint64
		for _, c := range line[:bytes.IndexByte(line, ' ')] {
			switch {
			case c >= '0' && c <= '9':
				a = a<<4 | uint64(c-'0')
			case c >= 'a' && c <= 'f':
				a = a<<4 | uint64(c-'a'+10)
			}
		}
		name := string(line[i+1:])
		if j := strings.IndexAny(name, " \t"); j >= 0 {
			name = name[:j]
		}
		syms = append(syms, sym{a, name})
	}
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	seen := map[string]bool{}
	var out []string
	var next uint64
	inSet := false
	for _, s := range syms {
		if set, ok := strings.CutPrefix(s.name, "__BTF_ID__set8__"); ok {
			inSet = !strings.Contains(set, "fmodret") && !strings.Contains(set, "modify_return")
			next = s.addr + 8
			continue
		}
		fn, ok := strings.CutPrefix(s.name, "__BTF_ID__func__")
		if !inSet || !ok || s.addr != next {
			inSet = false
			continue
		}
		if j := strings.LastIndex(fn, "__"); j > 0 {
			fn = fn[:j]
		}
		next += 8
		if !seen[fn] {
			seen[fn] = true
			out = append(out, fn)
		}
	}
	sort.Strings(out)
	return out
}

// kfuncCall is BPF_JMP|BPF_CALL with src_reg BPF_PSEUDO_KFUNC_CALL and the
// FUNC's BTF ID in vmlinux (off 0).
func kfuncCall(btfID uint32) insn { return insn{code: 0x85, regs: 0x20, imm: int32(btfID)} }

// kfuncInsns calls the kfunc and reads the uninitialised R7 (helperInsns'
// trick): every load fails right after the verifier decided about the call
// (or earlier, on a missing argument, which it checks after availability).
func kfuncInsns(btfID uint32) []insn {
	return []insn{kfuncCall(btfID), {code: 0xbf, regs: 0x70}, insnExit()}
}

var (
	// "calling kernel function %s is not allowed" (check_kfunc_call, and
	// from 6.x fetch_kfunc_meta): not in any set registered for the
	// program type's hook, or refused by the set's filter.
	msgKfuncNotAllowed = []byte("is not allowed")
	// "program must be sleepable to call sleepable kfunc %s".
	msgKfuncSleepable = []byte("sleepable kfunc")
	// "kernel btf_id %u is not a function", "cannot find address for
	// kernel function": the kernel does not know it as a callable kfunc.
	msgKfuncNotFunc = []byte("is not a function")
	msgKfuncNoAddr  = []byte("cannot find address")
	// "metadata kfuncs require device-bound program": XDP metadata kfuncs
	// are checked for a device-bound program before anything else (6.3+).
	msgKfuncDevBound = []byte("require device-bound")
)

// classifyKfuncLoad reads the verifier's answer to kfuncInsns the way
// classifyHelperLoad reads a helper call's: its own messages about
// availability first, then "yes" only when the verifier walked the call and
// complained about something else.
func classifyKfuncLoad(res loadResult) (helperVerdict, string) {
	return classifyCallLoad(res, func(log []byte) (helperVerdict, string, bool) {
		switch {
		case bytes.Contains(log, msgKfuncNotAllowed):
			return verdictNotOffered, "", true
		case bytes.Contains(log, msgKfuncDevBound):
			return verdictNotOffered, "the verifier asks for a device-bound XDP program first", true
		case bytes.Contains(log, msgKfuncSleepable):
			return verdictNeedsSleepable, "", true
		case bytes.Contains(log, msgKfuncNotFunc), bytes.Contains(log, msgKfuncNoAddr):
			return verdictUnknownHelper, "", true
		case bytes.Contains(log, msgNonSleepable):
			return verdictNeedsSleepable, "", true
		}
		return 0, "", false
	}, func([]byte) bool { return false }, beforeKfuncCall)
}

const beforeKfuncCall = " before the kfunc call was checked: "

// kernelKfunc is one kfunc of the running kernel.
type kernelKfunc struct {
	name string
	id   uint32 // FUNC type ID in vmlinux; 0: not in the BTF
}

// listKfuncs returns the kernel's kfuncs and where the list came from:
// the FUNCs its BTF tags bpf_kfunc where the kernel was built with them,
// else the kfuncs of features.Kfuncs (with their IDs, 0 when the kernel's
// BTF has no such FUNC).
func (x *btfIndex) listKfuncs(setMembers []string) ([]kernelKfunc, string) {
	if len(x.kfuncTags) > 0 {
		seen := map[string]bool{}
		out := make([]kernelKfunc, 0, len(x.kfuncTags))
		for _, id := range x.kfuncTags {
			if x.kind(id) != btfKindFunc {
				continue
			}
			n := x.typeName(id)
			if seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, kernelKfunc{name: n, id: id})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		return out, kfuncSourceTag
	}
	names, source := setMembers, kfuncSourceSets
	if len(names) == 0 {
		names, source = nil, kfuncSourceTable
		for _, s := range features.Kfuncs {
			names = append(names, s.Name)
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	ids := map[string]uint32{}
	for id := uint32(1); id < uint32(len(x.kinds)); id++ {
		if x.kinds[id] == btfKindFunc {
			if n := x.typeName(id); want[n] && ids[n] == 0 {
				ids[n] = id
			}
		}
	}
	out := make([]kernelKfunc, 0, len(names))
	for _, n := range names {
		out = append(out, kernelKfunc{name: n, id: ids[n]})
	}
	return out, source
}

type kfuncJob struct {
	k  kernelKfunc
	pt string
}

// probeKfuncMatrix loads a call of every kfunc from each program type of
// kfuncProgTypes that loaded, and adds one row per kfunc (the kernel's
// list) and one per kfunc and program type.
func (r *runner) probeKfuncMatrix(ctx context.Context, x *btfIndex) {
	if x == nil {
		return
	}
	var sets []string
	if len(x.kfuncTags) == 0 {
		// Only kernels without tags pay for reading kallsyms (160,000
		// lines, a few hundred milliseconds under TCG).
		if ks, err := os.ReadFile("/proc/kallsyms"); err == nil {
			sets = kfuncSetMembers(ks)
		}
	}
	list, source := x.listKfuncs(sets)
	var types []string
	r.progMu.Lock()
	for _, pt := range kfuncProgTypes {
		if r.progOK[pt] && len(r.variants[pt]) > 0 {
			types = append(types, pt)
		}
	}
	r.progMu.Unlock()
	var jobs []kfuncJob
	for _, k := range list {
		if k.id == 0 {
			continue
		}
		for _, pt := range types {
			jobs = append(jobs, kfuncJob{k, pt})
		}
	}
	obs := make([]Observation, len(jobs))
	r.parallel(ctx, len(jobs), func(l *loader, i int) {
		j := jobs[i]
		o := Observation{Kind: result.KindKfunc, Name: j.k.name, ProgramType: j.pt}
		o.Outcome, o.Err, o.Detail = r.probeKfunc(l, j)
		if o.Outcome == OutcomePresent {
			o.Value, o.Detail = o.Detail, ""
		}
		obs[i] = o
	})
	if ctx.Err() != nil {
		return
	}
	offered := map[string][]string{}
	unknown := map[string]bool{}
	errs := map[string]string{}
	for _, o := range obs {
		switch o.Outcome {
		case OutcomeSupported:
			offered[o.Name] = append(offered[o.Name], o.ProgramType)
		case OutcomeNotSupported:
			unknown[o.Name] = true
		case OutcomeError, OutcomePresent:
			if errs[o.Name] == "" {
				errs[o.Name] = o.ProgramType + ": " + o.Err + strings.TrimPrefix(o.Value, "present, not probed: ")
			}
		}
	}
	r.add(obs...)
	for _, k := range list {
		o := Observation{Kind: result.KindKfunc, Name: k.name, Value: source}
		switch {
		case len(offered[k.name]) > 0:
			o.Outcome = OutcomeSupported
			o.Value = "callable from " + strings.Join(offered[k.name], ", ") + " (listed by " + source + ")"
		case k.id == 0 || unknown[k.name]:
			// Only the table's kfuncs can be missing from the BTF: a
			// tagged one is a FUNC by construction.
			o.Outcome = OutcomeNotSupported
			o.Detail = "no FUNC " + k.name + " in the kernel's BTF"
		case errs[k.name] != "":
			// Listed, and no probe program satisfied the verifier far
			// enough to answer (an argument it checks before the call:
			// an arena pointer, a device-bound program): present, with
			// the first load's error; never supported.
			o.Outcome = OutcomePresent
			o.Value = "present, not probed: listed by " + source + "; no load could be built (" + errs[k.name] + ")"
		case source != kfuncSourceTag:
			// The FUNC exists but no program type may call it: on a
			// kernel without kfunc tags that means it is not a kfunc here.
			o.Outcome = OutcomeNotSupported
			o.Detail = "a kernel function, but no probed program type may call it"
		default:
			// Tagged, but every probed program type was refused: struct_ops
			// kfuncs of other struct_ops types (sched_ext, hid_bpf) and
			// kfuncs filtered by attach type land here.
			o.Outcome = OutcomePresent
			o.Value = "present, not probed: tagged bpf_kfunc in the kernel's BTF; refused by every probed program type (" +
				strings.Join(types, ", ") + ")"
		}
		r.add(o)
	}
}

func (r *runner) probeKfunc(l *loader, j kfuncJob) (Outcome, string, string) {
	r.progMu.Lock()
	vs := r.variants[j.pt]
	r.progMu.Unlock()
	prog := kfuncInsns(j.k.id)
	// The first variant, then the first sleepable one when the verifier
	// asks for a sleepable program: the kfunc hook is per program type, so
	// more attach targets (each a kallsyms lookup) would not change the
	// answer.
	needsSleep, triedSleepable := false, false
	for i, vr := range vs {
		if i > 0 && (!vr.sleepable || !needsSleep || triedSleepable) {
			continue
		}
		triedSleepable = triedSleepable || vr.sleepable
		req := vr.req
		req.insns, req.wantLog, req.logLevel, req.rawLog = prog, true, r.helperLogLevel, true
		verdict, errText := classifyKfuncLoad(l.load(req))
		switch verdict {
		case verdictSupported:
			if vr.desc != vs[0].desc {
				return OutcomeSupported, "", "probed as " + vr.desc
			}
			return OutcomeSupported, "", ""
		case verdictUnknownHelper:
			return OutcomeNotSupported, "", "the kernel does not know " + j.k.name + " as a kfunc"
		case verdictError:
			if j.k.name == "__bpf_trap" && errText == unix.EFAULT.Error() {
				// The verifier refuses every call of __bpf_trap with EFAULT
				// ("unexpected __bpf_trap() due to uninitialized
				// variable?"): clang emits it where a program reads an
				// uninitialised variable. No program can call it.
				return OutcomePresent, "", "present, not probed: every call is refused (EFAULT): clang emits __bpf_trap for a read of an uninitialised variable"
			}
			if strings.Contains(errText, beforeKfuncCall) {
				// The verifier refused an argument it checks before the
				// call (an arena pointer without an arena): this probe
				// cannot build the load; not a yes, not a no.
				return OutcomePresent, "", "present, not probed: " + errText
			}
			return OutcomeError, errText, ""
		case verdictNeedsSleepable:
			needsSleep = true
		case verdictNotOffered:
			return OutcomeNotOffered, "", errText
		}
	}
	if needsSleep {
		return OutcomeSleepableOnly, "", ""
	}
	return OutcomeNotOffered, "", ""
}
