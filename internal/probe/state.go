package probe

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"

	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

var systemFiles = map[string]string{
	"bpf_jit_enable":            "/proc/sys/net/core/bpf_jit_enable",
	"bpf_jit_harden":            "/proc/sys/net/core/bpf_jit_harden",
	"bpf_jit_kallsyms":          "/proc/sys/net/core/bpf_jit_kallsyms",
	"bpf_jit_limit":             "/proc/sys/net/core/bpf_jit_limit",
	"unprivileged_bpf_disabled": "/proc/sys/kernel/unprivileged_bpf_disabled",
	"lockdown":                  "/sys/kernel/security/lockdown",
}

var bracketed = regexp.MustCompile(`\[([a-z]+)\]`)

// probeSystem reads sysctls and the lockdown mode. A missing file is
// "unsupported" (explained by config); an unreadable one is inconclusive.
func (r *runner) probeSystem() {
	for _, s := range SystemState {
		o := Observation{Kind: s.Kind, Name: s.Name}
		raw, err := os.ReadFile(systemFiles[s.Name])
		switch {
		case err == nil:
			o.Outcome, o.Value = OutcomeSupported, strings.TrimSpace(string(raw))
			if m := bracketed.FindStringSubmatch(o.Value); s.Name == "lockdown" && m != nil {
				o.Value = m[1]
			}
		case errors.Is(err, os.ErrNotExist) && s.Name == "lockdown" && !securityfsMounted():
			if v, how := lockdownFromBoot(r.env.Config); v != "" {
				o.Outcome, o.Value, o.Detail = OutcomeSupported, v, how
			} else if r.env.Config != nil && !r.env.Config.Enabled("CONFIG_SECURITYFS") {
				// Nothing to mount: the mode cannot be read on this
				// kernel (explained by the config, not inconclusive).
				o.Outcome, o.Err = OutcomeNotSupported, "no securityfs in this kernel"
			} else {
				o.Outcome, o.Err = OutcomeError, "securityfs is not mounted at /sys/kernel/security"
			}
		case errors.Is(err, os.ErrNotExist):
			o.Outcome, o.Err = OutcomeNotSupported, err.Error()
		default:
			o.Outcome, o.Err = OutcomeError, err.Error()
		}
		r.add(o)
	}
}

func securityfsMounted() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/kernel/security", &st) == nil && st.Type == 0x73636673 // SECURITYFS_MAGIC
}

// attachTargets returns the candidate attach_btf_ids a tracing or LSM
// attach type can use (nil, true for attach types that need none).
func (r *runner) attachTargets(name string) ([]uint32, bool) {
	var list []string
	switch name {
	case "trace_fentry", "trace_fexit":
		list = fentryTargets
	case "modify_return":
		list = fmodRetTargets
	case "lsm_mac":
		list = lsmTargets
	case "trace_iter":
		list = iterTargets
	case "trace_raw_tp":
		list = rawTpTargets
	default:
		return []uint32{0}, true
	}
	var ids []uint32
	for _, n := range list {
		if id := r.kb.id(n); id != 0 {
			ids = append(ids, id)
		}
	}
	return ids, len(ids) > 0
}

func (r *runner) probeAttachTypes(ctx context.Context) {
	linkProbes := map[string]func() error{
		"trace_kprobe_multi":   features.HaveBPFLinkKprobeMulti,
		"trace_uprobe_multi":   features.HaveBPFLinkUprobeMulti,
		"trace_kprobe_session": features.HaveBPFLinkKprobeSession,
	}
	r.parallel(ctx, len(attachTypes), func(l *loader, i int) {
		a := attachTypes[i]
		o := Observation{Kind: a.Kind, Name: a.Name}
		defer func() {
			// An attach type is usable only with its program type.
			if o.Outcome != OutcomeNotInEnum && !r.progOK[a.ProgramType] {
				o.Outcome, o.Requires, o.Err = OutcomeProgramTypeMissing, a.ProgramType, ""
			}
			r.add(o)
		}()
		if has, ok := r.inEnum(a.Spec); ok && !has {
			o.Outcome = OutcomeNotInEnum
			return
		}
		switch a.method {
		case attachByProgAttach:
			err := progAttachBadFd(uint32(a.Value))
			if errors.Is(err, unix.EBADF) {
				o.Outcome = OutcomeSupported
				return
			}
			o.Outcome, o.Err = errOutcome(err)
		case attachByLinkBadTarget:
			spec, _ := LookupSpec(result.KindProgramType, a.ProgramType)
			fd, res := l.loadFD(loadRequest{progType: uint32(spec.Value), insns: retZero, kernVersion: r.kernVersion})
			if res.err != nil {
				o.Outcome, o.Err = errOutcome(res.err)
				return
			}
			err := linkCreateBadTarget(fd, uint32(a.Value))
			unix.Close(fd)
			if errors.Is(err, unix.EBADF) {
				o.Outcome = OutcomeSupported
				return
			}
			o.Outcome, o.Err = errOutcome(err)
		case attachByLink:
			o.Outcome, o.Err = featuresOutcome(linkProbes[a.Name]())
		case attachByLoad:
			spec, _ := LookupSpec(result.KindProgramType, a.ProgramType)
			ids, ok := r.attachTargets(a.Name)
			if !ok {
				o.Outcome, o.Err = OutcomeError, "no attach target for "+a.Name+" in kernel BTF"
				return
			}
			insns := retZero
			if strings.HasPrefix(a.ProgramType, "cgroup_") || a.ProgramType == "sk_lookup" {
				// recvmsg, getpeername and getsockname programs must return 1
				// (the verifier enforces the range per attach type).
				insns = retOne
			}
			// The first target that loads decides; fmod_ret, for one, needs
			// an error-injectable or security_ function.
			var first error
			for _, id := range ids {
				req := loadRequest{progType: uint32(spec.Value), attachType: uint32(a.Value), attachBTFID: id, insns: insns, kernVersion: r.kernVersion}
				err := l.load(req).err
				if err == nil {
					first = nil
					break
				}
				if first == nil {
					first = err
				}
			}
			o.Outcome, o.Err = errOutcome(first)
		}
	})
}

// probeLinkTypes creates a link of each type the kernel's enum declares
// (links.go); the multi-probe links are judged by their attach types.
func (r *runner) probeLinkTypes(ctx context.Context) {
	attach := map[string]Observation{}
	r.mu.Lock()
	for _, o := range r.obs {
		if o.Kind == result.KindAttachType {
			attach[o.Name] = o
		}
	}
	r.mu.Unlock()
	r.parallel(ctx, len(LinkTypes), func(l *loader, i int) {
		s := LinkTypes[i]
		o := Observation{Kind: s.Kind, Name: s.Name}
		defer func() { r.add(o) }()
		if has, ok := r.inEnum(s); ok && !has {
			o.Outcome = OutcomeNotInEnum
			return
		}
		r.progMu.Lock()
		progOK := r.progOK[s.ProgramType]
		r.progMu.Unlock()
		if !progOK {
			o.Outcome, o.Requires = OutcomeProgramTypeMissing, s.ProgramType
			return
		}
		switch {
		case s.Name == "kprobe_multi" || s.Name == "uprobe_multi":
			a := attach["trace_"+s.Name]
			o.Outcome, o.Err, o.Detail = a.Outcome, a.Err, "as the trace_"+s.Name+" attach type"
			if o.Outcome == OutcomeProgramTypeMissing {
				o.Requires = s.ProgramType
			}
		case linkProbes[s.Name] != nil:
			o.Outcome, o.Err = linkProbes[s.Name](r, l, s)
			if o.Outcome == OutcomeSupported && o.Err != "" {
				o.Detail, o.Err = o.Err, ""
			}
		default:
			o.Outcome, o.Err = OutcomeError, "no probe for link type "+s.Name
		}
	})
}

// lockdownFromBoot derives the lockdown mode when securityfs is not mounted:
// the lockdown= boot parameter, else the forced mode from the kernel config
// (CONFIG_LOCK_DOWN_KERNEL_FORCE_*), else "none" when the lockdown LSM is
// built but not forced.
func lockdownFromBoot(cfg KernelConfig) (string, string) {
	if raw, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(raw)) {
			if v, ok := strings.CutPrefix(f, "lockdown="); ok {
				return v, "from the lockdown= boot parameter (securityfs not mounted)"
			}
		}
	}
	if cfg == nil || !cfg.Enabled("CONFIG_SECURITY_LOCKDOWN_LSM") {
		return "", ""
	}
	for _, m := range []string{"CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY", "CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE"} {
		if cfg.Enabled(m) {
			mode := strings.ToLower(strings.TrimPrefix(m, "CONFIG_LOCK_DOWN_KERNEL_FORCE_"))
			return mode, "from " + m + " (securityfs not mounted)"
		}
	}
	return "", ""
}
