package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/verifierlog"
	"golang.org/x/sys/unix"
)

// enoTSUPP is the kernel-internal ENOTSUPP (524), which leaks to user space
// from the verifier and the JIT.
const enoTSUPP = unix.Errno(524)

// Attach targets looked up in the kernel's BTF. The first one present wins.
var (
	fentryTargets = []string{"bpf_fentry_test1", "bpf_modify_return_test", "vfs_read", "do_sys_openat2"}
	// sleepableTargets are fentry.s candidates; each one the kernel accepts
	// becomes a variant. Debian builds without CONFIG_FUNCTION_ERROR_INJECTION
	// (so bpf_modify_return_test, error-injectable before 6.1, is refused),
	// and on its kernels (measured, both arches) bpf_fentry_test1 loads from
	// 6.12 (KF_SLEEPABLE in test_run.c's fmodret set) and syscall entry points
	// from 7.2. x86 syscall entries are __x64_sys_*, but a SYSCALL_DEFINE0
	// one is an alias BTF does not list (__x64_sys_getpid): use close(2).
	sleepableTargets = []string{"bpf_fentry_test1", "__x64_sys_close", "__arm64_sys_close", "bpf_modify_return_test"}
	fmodRetTargets   = []string{"bpf_modify_return_test", "security_file_mprotect"}
	lsmTargets       = []string{"bpf_lsm_file_mprotect", "bpf_lsm_bpf"}
	// lsmSleepable are hooks in the kernel's sleepable set
	// (btf_sleepable_lsm_hooks): 5.10 listed only a few (file_mprotect,
	// bprm_committed_creds); later kernels list many more.
	lsmSleepable = []string{"bpf_lsm_file_mprotect", "bpf_lsm_bprm_committed_creds", "bpf_lsm_bpf"}
	// lsmCgroupTargets: socket_post_create is in
	// bpf_lsm_unlocked_sockopt_hooks, so its lsm_cgroup programs may call
	// bpf_setsockopt.
	lsmCgroupTargets = []string{"bpf_lsm_socket_post_create", "bpf_lsm_socket_bind"}
	// lsmCgroupHelpers are what bpf_lsm_func_proto adds for BPF_LSM_CGROUP
	// (cgroup_common_func_proto and the sockopt helpers), 6.0 to 7.3.
	lsmCgroupHelpers = map[string]bool{"bpf_get_retval": true, "bpf_set_retval": true, "bpf_get_local_storage": true,
		"bpf_setsockopt": true, "bpf_getsockopt": true}
	// iterHelpers are what tracing_prog_func_proto (kernel/trace/bpf_trace.c)
	// offers only when expected_attach_type is BPF_TRACE_ITER, 5.8 to 7.3:
	// the iter variant is tried for these alone. Measured: on 5.10 and
	// 6.12 the iter variant answered for these three and nothing else.
	iterHelpers = map[string]bool{"bpf_seq_printf": true, "bpf_seq_write": true, "bpf_seq_printf_btf": true}
	// noExtraHelpers: a variant that offers no helper its program type's
	// first variant lacks. fexit and tp_btf: tracing_prog_func_proto
	// decides by "has a trampoline" (fentry and fexit alike) or
	// BPF_TRACE_ITER, never fexit or raw_tp alone (bpf_get_func_ret loads
	// from fentry too: the verifier rewrites it to -EOPNOTSUPP there), and
	// bpf_sk_storage_tracing_allowed lets fentry on bpf_fentry_test1 have
	// what tp_btf has. Measured: on 5.10 and 6.12 each answered for no
	// helper in about 100 loads with an attach target, a kallsyms lookup
	// each. They stay variants of the program type.
	noExtraHelpers = map[string]bool{}
	// sockoptHelpers are what cg_sockopt_func_proto (kernel/bpf/cgroup.c)
	// offers to BPF_CGROUP_SETSOCKOPT programs only.
	sockoptHelpers  = map[string]bool{"bpf_setsockopt": true, "bpf_getsockopt": true}
	iterTargets     = []string{"bpf_iter_task"}
	rawTpTargets    = []string{"typedef btf_trace_sched_switch", "typedef btf_trace_sys_enter"}
	kfuncTargets    = []string{"bpf_dynptr_from_skb", "bpf_kfunc_call_test1", "bpf_rcu_read_lock"}
	structOpsTarget = "struct tcp_congestion_ops"
)

var kernelEnums = []string{"bpf_prog_type", "bpf_map_type", "bpf_attach_type", "bpf_link_type", "bpf_func_id"}

func btfNames() []string {
	var out []string
	for _, l := range [][]string{fentryTargets, sleepableTargets, fmodRetTargets, lsmTargets, lsmSleepable, lsmCgroupTargets, iterTargets, rawTpTargets, kfuncTargets} {
		out = append(out, l...)
	}
	out = append(out, structOpsTarget)
	for i, n := range out { // the scanner matches bare names
		_, bare, ok := strings.Cut(n, " ")
		if ok {
			out[i] = bare
		}
	}
	return out
}

// variant is one way to load a program of a given type.
type variant struct {
	req       loadRequest
	sleepable bool
	desc      string
	// only, when set, limits the helpers this variant is tried for: an
	// attach-typed variant whose extra helpers the kernel names (each load
	// with an attach target costs a kallsyms lookup, milliseconds under
	// TCG).
	only map[string]bool
}

// runner holds the state of one probe run.
type runner struct {
	env         Env
	kb          *kernelBTF
	btfErr      error
	kernVersion uint32
	workers     int

	mu  sync.Mutex
	obs []Observation

	// progOK records which program types loaded; variants how to load them.
	progMu   sync.Mutex
	progOK   map[string]bool
	progErr  map[string]bool // program types whose probe was inconclusive
	variants map[string][]variant
	// lostVariant names a variant of a program type whose load was
	// interrupted: the type's helpers cannot be called "not offered".
	lostVariant map[string]string
	// maxHelper is the highest helper ID the kernel knows (helper IDs
	// only grow, so one binary search bounds all of them).
	maxHelper int32

	// helperLogLevel is BPF_LOG_STATS (4, since 5.2): the verifier then
	// prints its errors but not every instruction, 15-20% cheaper per
	// load; 1 on kernels that reject it.
	helperLogLevel uint32
}

// pickHelperLogLevel checks once whether the kernel accepts log level 4.
func (r *runner) pickHelperLogLevel() {
	res := newLoader().load(loadRequest{progType: 1, insns: helperInsns(5), wantLog: true, logLevel: 4})
	r.helperLogLevel = 4
	if res.log == "" {
		r.helperLogLevel = 1
	}
}

func (r *runner) add(o ...Observation) {
	r.mu.Lock()
	r.obs = append(r.obs, o...)
	r.mu.Unlock()
}

func (r *runner) firstID(names []string) (string, uint32) {
	for _, n := range names {
		if id := r.kb.id(n); id != 0 {
			return n, id
		}
	}
	return "", 0
}

// inEnum says whether the kernel declares spec; ok is false without BTF.
func (r *runner) inEnum(s Spec) (has, ok bool) {
	if s.Enum == "" || s.Value < 0 {
		return false, false
	}
	return r.kb.hasEnumValue(s.Enum, s.Value)
}

// parallel runs fn(i) for i in [0,n) on the runner's workers, each with its
// own loader (log buffer).
func (r *runner) parallel(ctx context.Context, n int, fn func(l *loader, i int)) {
	// Workers pull indices from a shared counter: a channel hand-off per
	// load costs as much as the load itself (10-20 µs on the host).
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(r.workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLoader()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(l, i)
			}
		}()
	}
	wg.Wait()
}

var (
	retZero = []insn{insnMovImm(0, 0), insnExit()}
	retOne  = []insn{insnMovImm(0, 1), insnExit()}
)

// progVariants returns the ways to load a program of type s, most common
// first. An empty list with an error means no target could be found.
func (r *runner) progVariants(s Spec) ([]variant, error) {
	base := loadRequest{progType: uint32(s.Value), kernVersion: r.kernVersion}
	v := func(mod func(*loadRequest), sleepable bool, desc string) variant {
		req := base
		if mod != nil {
			mod(&req)
		}
		if sleepable {
			req.flags |= flagSleepable
		}
		return variant{req: req, sleepable: sleepable, desc: desc}
	}
	withTarget := func(at uint32, id uint32) func(*loadRequest) {
		return func(q *loadRequest) { q.attachType, q.attachBTFID = at, id }
	}
	switch s.Name {
	case "kprobe":
		// Sleepable kprobe programs (uprobe.s) load since 6.x; older kernels
		// reject the flag and the variant is simply not used.
		return []variant{v(nil, false, "kprobe"), v(nil, true, "uprobe.s")}, nil
	case "cgroup_sock_addr":
		return []variant{v(withTarget(10, 0), false, "cgroup/connect4")}, nil
	case "cgroup_sockopt":
		// bpf_setsockopt and bpf_getsockopt are offered to
		// BPF_CGROUP_SETSOCKOPT programs only (cg_sockopt_func_proto).
		set := v(withTarget(22, 0), false, "cgroup/setsockopt")
		set.only = sockoptHelpers
		return []variant{v(withTarget(21, 0), false, "cgroup/getsockopt"), set}, nil
	case "cgroup_device":
		// The expected attach types libbpf sets for these section names:
		// with attach type 0 (BPF_CGROUP_INET_INGRESS) the kernel withholds
		// bpf_get_retval and bpf_set_retval (cgroup_common_func_proto, 5.18).
		return []variant{v(withTarget(6, 0), false, "cgroup/dev")}, nil
	case "cgroup_sysctl":
		return []variant{v(withTarget(18, 0), false, "cgroup/sysctl")}, nil
	case "cgroup_sock":
		return []variant{v(withTarget(2, 0), false, "cgroup/sock_create")}, nil
	case "sock_ops":
		return []variant{v(withTarget(3, 0), false, "sockops")}, nil
	case "sk_lookup":
		return []variant{v(withTarget(36, 0), false, "sk_lookup")}, nil
	case "netfilter":
		return []variant{v(withTarget(45, 0), false, "netfilter")}, nil
	case "syscall":
		return []variant{v(nil, true, "syscall")}, nil
	case "tracing":
		if r.kb == nil {
			return nil, fmt.Errorf("no kernel BTF for an attach target: %w", r.btfErr)
		}
		name, id := r.firstID(fentryTargets)
		if id == 0 {
			return nil, fmt.Errorf("no fentry target among %v in kernel BTF", fentryTargets)
		}
		fexit := v(withTarget(25, id), false, "fexit/"+name)
		fexit.only = noExtraHelpers
		out := []variant{v(withTarget(24, id), false, "fentry/"+name), fexit}
		if iname, iid := r.firstID(iterTargets); iid != 0 {
			it := v(withTarget(28, iid), false, "iter/"+strings.TrimPrefix(iname, "bpf_iter_"))
			it.only = iterHelpers
			out = append(out, it)
		}
		if tname, tid := r.firstID(rawTpTargets); tid != 0 {
			tp := v(withTarget(23, tid), false, "tp_btf/"+strings.TrimPrefix(tname, "typedef btf_trace_"))
			tp.only = noExtraHelpers
			out = append(out, tp)
		}
		// fentry.s needs a target the verifier lets sleep (an error-injectable
		// function, a KF_SLEEPABLE fmodret one, or, since 7.x, a syscall):
		// offer each candidate; the ones that do not load are dropped.
		for _, sname := range sleepableTargets {
			if sid := r.kb.id(sname); sid != 0 {
				out = append(out, v(withTarget(24, sid), true, "fentry.s/"+sname))
			}
		}
		return out, nil
	case "lsm":
		if r.kb == nil {
			return nil, fmt.Errorf("no kernel BTF for an attach target: %w", r.btfErr)
		}
		name, id := r.firstID(lsmTargets)
		if id == 0 {
			return nil, fmt.Errorf("no LSM hook among %v in kernel BTF", lsmTargets)
		}
		out := []variant{v(withTarget(27, id), false, "lsm/"+strings.TrimPrefix(name, "bpf_lsm_"))}
		// lsm_cgroup programs (6.0) get cgroup helpers (bpf_get_retval,
		// bpf_set_retval, bpf_get_local_storage) and, on socket hooks,
		// bpf_setsockopt/bpf_getsockopt, which lsm_mac programs do not
		// (bpf_lsm_func_proto).
		if cname, cid := r.firstID(lsmCgroupTargets); cid != 0 {
			vc := v(withTarget(43, cid), false, "lsm_cgroup/"+strings.TrimPrefix(cname, "bpf_lsm_"))
			vc.only = lsmCgroupHelpers
			out = append(out, vc)
		}
		for _, sname := range lsmSleepable {
			if sid := r.kb.id(sname); sid != 0 {
				out = append(out, v(withTarget(27, sid), true, "lsm.s/"+strings.TrimPrefix(sname, "bpf_lsm_")))
			}
		}
		return out, nil
	case "struct_ops":
		if r.kb == nil {
			return nil, fmt.Errorf("no kernel BTF for an attach target: %w", r.btfErr)
		}
		id := r.kb.id(structOpsTarget)
		idx := -1
		for i, m := range r.kb.members[structOpsTarget] {
			if m == "ssthresh" {
				idx = i
			}
		}
		if id == 0 || idx < 0 {
			return nil, errors.New("no tcp_congestion_ops.ssthresh in kernel BTF")
		}
		return []variant{v(withTarget(uint32(idx), id), false, "tcp_congestion_ops:ssthresh")}, nil
	}
	return []variant{v(nil, false, s.Name)}, nil
}

// errOutcome maps a load or create error with no verifier verdict.
func errOutcome(err error) (Outcome, string) {
	switch {
	case err == nil:
		return OutcomeSupported, ""
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.E2BIG), errors.Is(err, unix.EOPNOTSUPP):
		return OutcomeNotSupported, err.Error()
	case errors.Is(err, unix.EPERM):
		return OutcomePrivilege, err.Error()
	}
	return OutcomeError, err.Error()
}

// needsBTF are the program types whose probes need an attach target from
// the kernel's BTF; the others are probed while the BTF is still being read.
var needsBTF = map[string]bool{"tracing": true, "lsm": true, "struct_ops": true, "ext": true}

func progTypesWhere(btf bool) []Spec {
	var out []Spec
	for _, s := range ProgramTypes {
		if needsBTF[s.Name] == btf {
			out = append(out, s)
		}
	}
	return out
}

func (r *runner) probeProgramTypes(ctx context.Context, types []Spec) {
	mu := &r.progMu
	r.parallel(ctx, len(types), func(l *loader, i int) {
		s := types[i]
		o := Observation{Kind: s.Kind, Name: s.Name}
		defer func() { r.add(o) }()
		if has, ok := r.inEnum(s); ok && !has {
			o.Outcome = OutcomeNotInEnum
			return
		}
		if s.Name == "ext" {
			o.Outcome, o.Err = r.probeExtType()
			mu.Lock()
			r.progOK[s.Name] = o.Outcome == OutcomeSupported
			mu.Unlock()
			return
		}
		vs, err := r.progVariants(s)
		if err != nil {
			o.Outcome, o.Err = OutcomeError, err.Error()
			if r.kb == nil && errors.Is(r.btfErr, os.ErrNotExist) {
				// No /sys/kernel/btf/vmlinux: the type cannot get an attach
				// target; explained by CONFIG_DEBUG_INFO_BTF (or version).
				o.Outcome = OutcomeNotSupported
			}
			mu.Lock()
			r.progErr[s.Name] = o.Outcome == OutcomeError
			mu.Unlock()
			return
		}
		// The type is supported when any variant loads (a sandbox may
		// refuse fentry but allow tp_btf); helpers are probed with the
		// variants that loaded.
		var usable []variant
		var firstErr error
		var firstDesc, lost string
		for _, vr := range vs {
			vr.req.insns = retZero
			res := l.load(vr.req)
			if res.err == nil {
				usable = append(usable, vr)
			} else if firstErr == nil {
				firstErr, firstDesc = res.err, vr.desc
			}
			if interrupted(res.err) && lost == "" {
				lost = vr.desc + ": " + res.err.Error()
			}
		}
		if len(usable) > 0 {
			o.Outcome = OutcomeSupported
			if usable[0].desc != vs[0].desc {
				o.Detail = "loads as " + usable[0].desc + "; " + firstDesc + ": " + firstErr.Error()
			}
		} else {
			o.Outcome, o.Err = errOutcome(firstErr)
			o.Detail = "load " + firstDesc + ": " + firstErr.Error()
		}
		if s.Name == "struct_ops" && o.Outcome != OutcomeSupported {
			// Without BPF_JIT or the tcp_congestion_ops type, fall back to
			// cilium/ebpf's probe: ENOTSUPP means the type is known.
			res := l.load(loadRequest{progType: uint32(s.Value), insns: retZero})
			if errors.Is(res.err, enoTSUPP) {
				o.Outcome, o.Err, o.Detail = OutcomeSupported, "", "known to the kernel; no struct_ops target loads"
			}
		}
		mu.Lock()
		r.progOK[s.Name] = o.Outcome == OutcomeSupported
		r.progErr[s.Name] = o.Outcome == OutcomeError
		r.variants[s.Name] = usable
		r.lostVariant[s.Name] = lost
		mu.Unlock()
	})
}

// interrupted says whether a load ended without the kernel's verdict.
func interrupted(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}

func (r *runner) probeMapTypes(ctx context.Context) {
	page := uint32(os.Getpagesize())
	r.parallel(ctx, len(MapTypes), func(_ *loader, i int) {
		s := MapTypes[i]
		o := Observation{Kind: s.Kind, Name: s.Name}
		defer func() { r.add(o) }()
		if has, ok := r.inEnum(s); ok && !has {
			o.Outcome = OutcomeNotInEnum
			return
		}
		attr := mapCreateAttr{mapType: uint32(s.Value), keySize: 4, valueSize: 4, maxEntries: 1}
		okErr := error(nil) // an error that still proves the type is known
		switch s.Name {
		case "stack_trace":
			attr.valueSize = 8
		case "lpm_trie":
			attr.keySize, attr.valueSize, attr.mapFlags = 8, 8, 1
		case "array_of_maps", "hash_of_maps":
			attr.innerMapFd, okErr = ^uint32(0), unix.EBADF
		case "cgroup_storage", "percpu_cgroup_storage":
			attr.keySize, attr.maxEntries = 8+uint32(unsafe.Sizeof(int(0))), 0
		case "queue", "stack", "bloom_filter":
			attr.keySize = 0
		case "sk_storage", "inode_storage", "task_storage", "cgrp_storage":
			// A value larger than BPF_LOCAL_STORAGE_MAX_VALUE_SIZE fails in
			// the type's map_alloc_check with E2BIG, after the kernel found
			// the type (EINVAL otherwise). Creating a real storage map
			// costs a synchronize_rcu() on free: ~25 ms each.
			attr.maxEntries, attr.mapFlags, attr.valueSize = 0, 1, 1<<30
			attr.btfKeyID, attr.btfValueID, attr.btfFd = 1, 1, ^uint32(0)
			okErr = unix.E2BIG
		case "struct_ops":
			attr.vmlinuxID, okErr = 1, enoTSUPP
		case "ringbuf", "user_ringbuf":
			attr.keySize, attr.valueSize, attr.maxEntries = 0, 0, page
		case "arena":
			attr.keySize, attr.valueSize, attr.mapFlags = 0, 0, flagMmapable
		}
		err := createMap(&attr)
		if okErr != nil && errors.Is(err, okErr) {
			err = nil
		}
		o.Outcome, o.Err = errOutcome(err)
	})
}

// helperVerdict interprets the verifier's answer to a one-call program.
type helperVerdict int

const (
	verdictSupported helperVerdict = iota
	verdictUnknownHelper
	verdictNotOffered
	verdictNeedsSleepable
	verdictError
)

var (
	msgInvalidFunc  = []byte("invalid func ")
	msgCannotUse    = []byte("cannot use helper")
	msgUnknownFunc  = []byte("unknown func ")
	msgNotForType   = []byte("not supported for program type")
	msgNonSleepable = []byte("non-sleepable")
	// msgExtension starts the refusals of an extension program by its
	// target (bpf_check_attach_target): "Extension program changes packet
	// data, while original does not" (6.13+, also in Debian's 6.12), made
	// before the verifier looks at a single instruction.
	msgExtension = []byte("Extension program ")
)

// classifyHelperLoad reads the verifier's answer to helperInsns from the
// errno and the verifier's own messages about the helper, wherever they are
// in the log: "invalid func" (no such helper), "unknown func" / "program of
// this type cannot use helper" / "not supported for program type" (not
// offered), "non-sleepable" (sleepable programs only). "Yes" needs the
// verifier to have walked the call (its "processed N insns" count is not
// 0) and then complained about something else (an argument, the
// uninitialised R7 the program reads next), with EACCES or EINVAL (or
// ENOTSUPP). Anything else is inconclusive, never "supported": EAGAIN or
// EINTR from an interrupted verification, ENOMEM, ENOSPC, a refusal before
// the first instruction (an extension its target rejects), or a log that
// holds nothing but the statistics print_verification_stats adds to every
// answer, whatever shape a kernel gives those.
func classifyHelperLoad(res loadResult) (helperVerdict, string) {
	return classifyCallLoad(res, func(log []byte) (helperVerdict, string, bool) {
		switch {
		case bytes.Contains(log, msgInvalidFunc):
			return verdictUnknownHelper, "", true
		case bytes.Contains(log, msgCannotUse), bytes.Contains(log, msgUnknownFunc), bytes.Contains(log, msgNotForType):
			return verdictNotOffered, "", true
		case bytes.Contains(log, msgNonSleepable):
			return verdictNeedsSleepable, "", true
		}
		return 0, "", false
	}, func(log []byte) bool { return bytes.Contains(log, msgExtension) }, beforeHelperCall)
}

const beforeHelperCall = " before the helper call was checked: "

// classifyCallLoad is what classifyHelperLoad and classifyKfuncLoad share:
// a load that succeeded is a yes and one the verifier abandoned an error;
// then the verifier's own messages about the call's availability, wherever
// they are in the log (availability); then "yes" only for EACCES, EINVAL
// or ENOTSUPP with a verifier complaint made after the verifier walked the
// call. A refusal before it reached the call (nothing processed, or
// refusedEarly) is an error whose text carries before and the complaint.
func classifyCallLoad(res loadResult, availability func(log []byte) (helperVerdict, string, bool), refusedEarly func(log []byte) bool, before string) (helperVerdict, string) {
	if res.err == nil {
		return verdictSupported, ""
	}
	if interrupted(res.err) {
		return verdictError, "verification interrupted: " + res.err.Error()
	}
	log := res.raw
	if log == nil && res.log != "" {
		log = []byte(res.log)
	}
	if v, text, ok := availability(log); ok {
		return v, text
	}
	if !errors.Is(res.err, unix.EACCES) && !errors.Is(res.err, unix.EINVAL) && !errors.Is(res.err, enoTSUPP) {
		return verdictError, res.err.Error()
	}
	complaint := verifierlog.Complaint(log)
	if complaint == nil {
		// No verifier log, or only its statistics: the load failed before
		// or outside the availability check.
		return verdictError, res.err.Error() + " without a verifier complaint"
	}
	if n, ok := verifierlog.Processed(log); (ok && n == 0) || refusedEarly(log) {
		// Refused before the verifier reached the call.
		return verdictError, res.err.Error() + before + string(complaint)
	}
	// Any other verifier complaint (argument types, unreleased references,
	// "not allowed in probe") comes after the availability check passed.
	return verdictSupported, ""
}

type helperJob struct {
	prog Spec
	h    helper
}

// findMaxHelper binary-searches the highest helper ID the verifier does not
// call "invalid func" (8 loads instead of one per program type and helper).
func (r *runner) findMaxHelper() {
	l := newLoader()
	lo, hi := int32(0), int32(len(helpers)) // lo known, hi+1 unknown
	for lo < hi {
		mid := (lo + hi + 1) / 2
		v, _ := classifyHelperLoad(l.load(loadRequest{progType: 1, insns: helperInsns(mid), wantLog: true, logLevel: r.helperLogLevel}))
		switch v {
		case verdictUnknownHelper:
			hi = mid - 1
		case verdictError:
			// No answer: bound nothing, every helper gets its own load.
			r.maxHelper = int32(len(helpers))
			return
		default:
			lo = mid
		}
	}
	r.maxHelper = lo
}

func (r *runner) probeHelpers(ctx context.Context, types []Spec) {
	var jobs []helperJob
	for _, p := range types {
		for _, h := range helpers {
			if h.ID > r.maxHelper {
				r.add(Observation{Kind: result.KindHelper, Name: h.Name, ProgramType: p.Name, Outcome: OutcomeNotSupported,
					Detail: fmt.Sprintf("invalid func: the kernel's highest helper is #%d", r.maxHelper)})
				continue
			}
			r.progMu.Lock()
			ok := r.progOK[p.Name]
			r.progMu.Unlock()
			if !ok {
				o := Observation{Kind: result.KindHelper, Name: h.Name, ProgramType: p.Name, Outcome: OutcomeProgramTypeMissing}
				r.progMu.Lock()
				if r.progErr[p.Name] {
					// An inconclusive program type leaves its helpers inconclusive.
					o.Outcome, o.Err = OutcomeError, "program type "+p.Name+" inconclusive"
				}
				r.progMu.Unlock()
				r.add(o)
				continue
			}
			if p.Name == "ext" {
				continue // probed through cilium/ebpf below
			}
			jobs = append(jobs, helperJob{p, h})
		}
	}
	if r.progOK["ext"] && slices.ContainsFunc(types, func(s Spec) bool { return s.Name == "ext" }) {
		r.probeExtHelpers(ctx)
	}
	r.parallel(ctx, len(jobs), func(l *loader, i int) {
		j := jobs[i]
		o := Observation{Kind: result.KindHelper, Name: j.h.Name, ProgramType: j.prog.Name}
		o.Outcome, o.Err, o.Detail = r.probeHelper(l, j)
		r.add(o)
	})
}

// helperInsns calls the helper and then reads the uninitialised R7, so
// that every load fails right after the verifier decided about the helper:
// nothing is JITed, allocated as executable memory or freed through RCU
// (25% cheaper per load than a program that loads), and the program
// type's return-value rules never come into play.
func helperInsns(id int32) []insn {
	return []insn{insnCall(id), {code: 0xbf, regs: 0x70}, insnExit()} // call; r0 = r7; exit
}

func (r *runner) probeHelper(l *loader, j helperJob) (Outcome, string, string) {
	prog := helperInsns(j.h.ID)
	vs := r.variants[j.prog.Name]
	if len(vs) == 0 {
		return OutcomeError, "no loadable variant of program type " + j.prog.Name, ""
	}
	needsSleep, triedSleepable := false, false
	for _, vr := range vs {
		if vr.only != nil && !vr.only[j.h.Name] {
			continue
		}
		if vr.sleepable && !vs[0].sleepable {
			// Sleepable variants come last and answer for helpers every
			// other variant refused: all of them when the verifier said
			// "needs a sleepable program", else the first one, because
			// before 6.1 the verifier did not offer sleepable-only helpers
			// to other programs at all ("unknown func bpf_copy_from_user"
			// from 5.10's bpf_tracing_func_proto).
			if !needsSleep && triedSleepable {
				continue
			}
			triedSleepable = true
		}
		req := vr.req
		req.insns, req.wantLog, req.logLevel, req.rawLog = prog, true, r.helperLogLevel, true
		verdict, errText := classifyHelperLoad(l.load(req))
		switch verdict {
		case verdictSupported:
			if vr.desc != vs[0].desc {
				return OutcomeSupported, "", "probed as " + vr.desc
			}
			return OutcomeSupported, "", ""
		case verdictUnknownHelper:
			return OutcomeNotSupported, "", "the kernel does not know " + j.h.Name
		case verdictError:
			return OutcomeError, errText, ""
		case verdictNeedsSleepable:
			needsSleep = true
		case verdictNotOffered:
		}
	}
	if lost := r.lostVariant[j.prog.Name]; lost != "" {
		// The variant that might offer it was never tried.
		return OutcomeError, "load " + lost, ""
	}
	if needsSleep {
		hasSleepable := false
		for _, vr := range vs {
			hasSleepable = hasSleepable || vr.sleepable
		}
		if !hasSleepable {
			return OutcomeSleepableOnly, "", ""
		}
		// The sleepable variant also refused it.
	}
	return OutcomeNotOffered, "", ""
}

// Options configure a probe run.
type Options struct {
	// Release overrides uname -r (tests).
	Release string
	// ConfigPath is the kernel config file; "" tries /boot/config-$(uname -r)
	// and /proc/config.gz.
	ConfigPath string
	// BTFPath defaults to /sys/kernel/btf/vmlinux.
	BTFPath string
	// BpftoolPath, when set, runs `bpftool feature probe -j` for the
	// cross-check.
	BpftoolPath string
	// Workers defaults to the number of CPUs.
	Workers int
	// Phase, when set, is called at the end of each probe phase with its
	// name and wall time (`bpfmatrix-agent probe --timing`), to see where
	// a kernel's probe time goes. Phases overlap (the BTF scan runs beside
	// the plain program types; misc, attach, link and undeclared members
	// beside the BTF-targeted helpers), and Phase may be called from two
	// goroutines at once.
	Phase func(name string, took time.Duration)
}

// Observe runs every probe against the running kernel and returns the raw
// observations and the environment needed to explain them.
func Observe(ctx context.Context, opts Options) ([]Observation, Env, KernelConfig, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, Env{}, nil, fmt.Errorf("uname: %w", err)
	}
	release := opts.Release
	if release == "" {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	v, err := catalog.ParseVersion(release)
	if err != nil {
		return nil, Env{}, nil, err
	}
	v = v.Mainline()
	if opts.ConfigPath != "" {
		if _, err := os.Stat(opts.ConfigPath); err != nil {
			return nil, Env{}, nil, fmt.Errorf("read kernel config: %w", err)
		}
	}
	// The config (gunzip of /proc/config.gz) is read alongside the probes:
	// only explanations and system state need it.
	var cfg KernelConfig
	var cfgErr error
	cfgDone := make(chan struct{})
	go func() {
		defer close(cfgDone)
		cfg, cfgErr = kconfig.Find(opts.ConfigPath, release)
	}()
	r := &runner{env: Env{Version: v, Arch: string(catalog.ArchOf(runtime.GOARCH))}, workers: opts.Workers,
		obs: make([]Observation, 0, len(ProgramTypes)*len(helpers)+len(MapTypes)+len(attachTypes)+len(LinkTypes)+len(MiscFeatures)+len(SystemState))}
	if r.workers <= 0 {
		r.workers = runtime.NumCPU()
	}
	r.kernVersion = kernelVersionCode(release)
	btfPath := opts.BTFPath
	if btfPath == "" {
		btfPath = "/sys/kernel/btf/vmlinux"
	}

	// Program types gate helpers, attach and link types and need the
	// BTF; maps and system state need neither and overlap with the scan.
	// Most program types and their helpers need no BTF: they run while
	// the BTF is scanned. Then the BTF-targeted types and their helpers,
	// misc features (some need targets), attach and link types.
	r.progOK, r.progErr, r.variants, r.lostVariant = map[string]bool{}, map[string]bool{}, map[string][]variant{}, map[string]string{}
	btfDone := make(chan struct{})
	var kb *kernelBTF
	var btfErr error
	go func() {
		defer close(btfDone)
		start := time.Now()
		kb, btfErr = loadKernelBTF(btfPath, kernelEnums, btfNames())
		if opts.Phase != nil {
			opts.Phase("BTF scan (beside plain types)", time.Since(start))
		}
	}()
	// The whole-BTF index for the kfunc, struct_ops and BTF probes
	// (dimensions.go) is read alongside the helper matrix.
	idxDone := make(chan struct{})
	var idx *btfIndex
	go func() {
		defer close(idxDone)
		idx, _ = loadBTFIndex(btfPath)
	}()
	phase := func(name string, f func()) {
		start := time.Now()
		f()
		if opts.Phase != nil {
			opts.Phase(name, time.Since(start))
		}
	}
	phase("helper log level, max helper", func() { r.pickHelperLogLevel(); r.findMaxHelper() })
	plain := progTypesWhere(false)
	phase("program types (plain)", func() { r.probeProgramTypes(ctx, plain) })
	phase("helpers (plain types)", func() { r.probeHelpers(ctx, plain) })
	phase("wait: BTF scan, config", func() {
		<-btfDone
		<-cfgDone
	})
	r.kb, r.btfErr = kb, btfErr
	if cfgErr != nil && opts.ConfigPath != "" {
		return nil, Env{}, nil, cfgErr
	}
	r.env.Config = cfg
	phase("map types", func() { r.probeMapTypes(ctx) })
	phase("system state", r.probeSystem)
	withBTF := progTypesWhere(true)
	phase("program types (BTF targets)", func() { r.probeProgramTypes(ctx, withBTF) })
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		phase("misc", func() { r.probeMisc(ctx) })
		phase("attach types", func() { r.probeAttachTypes(ctx) })
		phase("link types", func() { r.probeLinkTypes(ctx) })
		phase("undeclared enum members", func() { r.probeUndeclared(ctx) })
	}()
	phase("helpers (BTF-targeted types)", func() { r.probeHelpers(ctx, withBTF) })
	wg.Wait()
	phase("kfuncs, BTF features, struct_ops", func() { <-idxDone; r.probeDimensions(ctx, idx) })
	if err := ctx.Err(); err != nil {
		return nil, Env{}, nil, fmt.Errorf("probe: %w", err)
	}
	return r.obs, r.env, cfg, nil
}

// kernelVersionCode is KERNEL_VERSION(a,b,c) for the kprobe kern_version
// field, which kernels before 5.0 check.
func kernelVersionCode(release string) uint32 {
	var a, b, c uint32
	fmt.Sscanf(release, "%d.%d.%d", &a, &b, &c)
	return a<<16 | b<<8 | min(c, 255)
}
