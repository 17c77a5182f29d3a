package probe

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Link types are probed the way a user creates one (cilium/ebpf's link
// package and features probes do the same): load a program of the link's
// type and create the link, against a live object where the guest has one
// (lo, the guest's network namespace, a sockmap, a tracepoint), then ask
// the kernel what it made (BPF_OBJ_GET_INFO_BY_FD: bpf_link_info.type).
// Where no object can be named without side effects, the kernel's routing
// is the answer: BPF_LINK_CREATE dispatches on the program type and looks
// the target up only in the link type's own attach function, so the error
// for an invalid target (EBADF, ENODEV) proves the link type exists while
// EINVAL says it does not. Membership in enum bpf_link_type alone proves
// nothing: 6.1 declares BPF_LINK_TYPE_STRUCT_OPS for the kernel's internal
// use, while BPF_LINK_CREATE for struct_ops maps came in 6.4 (68b04864ca42).

const (
	cmdObjGetInfoByFD = 15
	flagLink          = 1 << 13 // BPF_F_LINK (struct_ops maps, 6.4)
)

// linkCreateAttr mirrors the head of union bpf_attr for BPF_LINK_CREATE;
// extra holds the per-link-type union (netfilter's pf, hooknum, priority).
type linkCreateAttr struct {
	progFd     uint32
	target     uint32 // target_fd or target_ifindex
	attachType uint32
	flags      uint32
	extra      [4]uint32
	_          [2]uint64
}

func linkCreate(attr *linkCreateAttr) (int, error) {
	fd, err := bpfSyscall(cmdLinkCreate, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
	return int(fd), err
}

// linkType asks the kernel which link type fd is (bpf_link_info.type).
func linkType(fd int) (uint32, error) {
	var info [4]uint32
	attr := struct {
		fd      uint32
		infoLen uint32
		info    uint64
	}{fd: uint32(fd), infoLen: uint32(unsafe.Sizeof(info)), info: uint64(uintptr(unsafe.Pointer(&info[0])))}
	_, err := bpfSyscall(cmdObjGetInfoByFD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(&info)
	return info[0], err
}

// createdLink judges a created link: its kernel type must be want.
func createdLink(fd int, err error, want int64) (Outcome, string) {
	if err != nil {
		return errOutcome(err)
	}
	defer unix.Close(fd)
	got, err := linkType(fd)
	if err != nil {
		// Before 5.8 BPF_RAW_TRACEPOINT_OPEN returned a file that is not
		// a bpf_link: the link type did not exist.
		return OutcomeNotSupported, "created, but not a bpf_link: " + err.Error()
	}
	if int64(got) != want {
		return OutcomeError, "created a link of type " + strconv.Itoa(int(got)) + ", not " + strconv.FormatInt(want, 10)
	}
	return OutcomeSupported, ""
}

// routed judges a BPF_LINK_CREATE with an invalid target: the errors in
// want come from the link type's own attach function.
func routed(err error, want ...unix.Errno) (Outcome, string) {
	for _, w := range want {
		if errors.Is(err, w) {
			return OutcomeSupported, ""
		}
	}
	if err == nil {
		return OutcomeError, "link created against an invalid target"
	}
	return errOutcome(err)
}

// progFor loads a minimal program of the named type (with the attach type
// and BTF target given) and returns its fd.
func (r *runner) progFor(l *loader, progType string, attachType, btfID uint32, insns []insn) (int, error) {
	spec, _ := LookupSpec(result.KindProgramType, progType)
	fd, res := l.loadFD(loadRequest{progType: uint32(spec.Value), attachType: attachType, attachBTFID: btfID, insns: insns, kernVersion: r.kernVersion})
	return fd, res.err
}

// linkProbes create each link type; a missing entry is "present, not
// probed".
var linkProbes = map[string]func(r *runner, l *loader, s Spec) (Outcome, string){
	"raw_tracepoint": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "raw_tracepoint", 0, 0, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		lfd, err := rawTracepointOpen([]byte("sched_switch\x00"), fd)
		return createdLink(lfd, err, s.Value)
	},
	"tracing": func(r *runner, l *loader, s Spec) (Outcome, string) {
		vs := r.tracingVariants()
		if len(vs) == 0 {
			return OutcomeError, "no loadable fentry program"
		}
		fd, res := l.loadFD(vs[0].req)
		if res.err != nil {
			return errOutcome(res.err)
		}
		defer unix.Close(fd)
		lfd, err := rawTracepointOpen(nil, fd)
		if errors.Is(err, enoTSUPP) {
			// arm64 before 6.4: no ftrace direct calls for the trampoline.
			return OutcomeNotSupported, "attach " + vs[0].desc + ": " + err.Error()
		}
		return createdLink(lfd, err, s.Value)
	},
	"cgroup": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "cgroup_skb", 0, 0, retOne)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		_, err = linkCreate(&linkCreateAttr{progFd: uint32(fd), target: ^uint32(0), attachType: 0})
		return routed(err, unix.EBADF) // cgroup_get_from_fd
	},
	"iter": func(r *runner, l *loader, s Spec) (Outcome, string) {
		_, id := r.firstID(iterTargets)
		if id == 0 {
			return OutcomeError, "no iterator target in kernel BTF"
		}
		fd, err := r.progFor(l, "tracing", 28, id, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		lfd, err := linkCreate(&linkCreateAttr{progFd: uint32(fd), attachType: 28})
		return createdLink(lfd, err, s.Value)
	},
	"netns": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "flow_dissector", 17, 0, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		ns, err := os.Open("/proc/self/ns/net")
		if errors.Is(err, os.ErrNotExist) {
			// No network namespaces (CONFIG_NET_NS): nothing a netns link
			// could name; the spec's config gate explains it.
			return OutcomeNotSupported, err.Error()
		}
		if err != nil {
			return OutcomeError, err.Error()
		}
		defer ns.Close()
		lfd, err := linkCreate(&linkCreateAttr{progFd: uint32(fd), target: uint32(ns.Fd()), attachType: 17})
		return createdLink(lfd, err, s.Value)
	},
	"xdp": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "xdp", 37, 0, []insn{insnMovImm(0, 2), insnExit()}) // XDP_PASS
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		lfd, err := linkCreate(&linkCreateAttr{progFd: uint32(fd), target: loopbackIfindex, attachType: 37})
		return createdLink(lfd, err, s.Value)
	},
	"perf_event": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "perf_event", 0, 0, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		_, err = linkCreate(&linkCreateAttr{progFd: uint32(fd), target: ^uint32(0), attachType: 41})
		return routed(err, unix.EBADF) // perf_event_get
	},
	"struct_ops": func(r *runner, l *loader, s Spec) (Outcome, string) {
		// A link-capable struct_ops map: BPF_F_LINK came with
		// BPF_LINK_CREATE for struct_ops (68b04864ca42, 6.4); earlier
		// kernels refuse any flag (EINVAL). With a value type the kernel
		// has no struct_ops for, a kernel that took the flag fails in
		// bpf_struct_ops_map_alloc with ENOTSUPP.
		attr := mapCreateAttr{mapType: 26, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: flagLink, vmlinuxID: 1}
		err := createMap(&attr)
		if errors.Is(err, enoTSUPP) {
			return OutcomeSupported, "BPF_F_LINK struct_ops map accepted"
		}
		if err == nil {
			return OutcomeError, "struct_ops map created without a struct_ops value type"
		}
		return errOutcome(err)
	},
	"netfilter": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "netfilter", 45, 0, []insn{insnMovImm(0, 1), insnExit()}) // NF_ACCEPT
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		// NFPROTO_IPV4, NF_INET_LOCAL_OUT, priority 1.
		lfd, err := linkCreate(&linkCreateAttr{progFd: uint32(fd), attachType: 45, extra: [4]uint32{2, 3, 1, 0}})
		return createdLink(lfd, err, s.Value)
	},
	"tcx": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "sched_cls", 0, 0, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		lfd, err := linkCreate(&linkCreateAttr{progFd: uint32(fd), target: loopbackIfindex, attachType: 46})
		return createdLink(lfd, err, s.Value)
	},
	"netkit": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "sched_cls", 0, 0, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		// As cilium/ebpf's haveNetkit: netkit_link_attach looks the
		// device up (ENODEV) only on kernels that have netkit links.
		_, err = linkCreate(&linkCreateAttr{progFd: uint32(fd), target: ^uint32(0), attachType: 54})
		return routed(err, unix.ENODEV)
	},
	"sockmap": func(r *runner, l *loader, s Spec) (Outcome, string) {
		fd, err := r.progFor(l, "sk_skb", 38, 0, retZero)
		if err != nil {
			return errOutcome(err)
		}
		defer unix.Close(fd)
		attr := mapCreateAttr{mapType: 15, keySize: 4, valueSize: 4, maxEntries: 1}
		mfd, err := bpfSyscall(cmdMapCreate, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		if err != nil {
			return OutcomeError, "create sockmap: " + err.Error()
		}
		defer unix.Close(int(mfd))
		lfd, err := linkCreate(&linkCreateAttr{progFd: uint32(fd), target: uint32(mfd), attachType: 38})
		return createdLink(lfd, err, s.Value)
	},
}

// loopbackIfindex is lo, which every network namespace has first.
const loopbackIfindex = 1
