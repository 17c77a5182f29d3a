package observe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// family is one hook family: how its program is loaded, attached and
// triggered, and what it needs.
type family struct {
	name  string
	need  need
	shape func(e *env) progShape
	// attach returns what to close when done (a link, a perf event).
	attach func(e *env, p *ebpf.Program) (io.Closer, error)
	// trigger makes the hooked event happen; l is what attach returned.
	trigger func(e *env, l io.Closer) error
	// attachReason explains an attach failure the need does not (a missing
	// tracefs event); nil falls through to unexplained.
	attachReason func(e *env, err error) *result.Reason
	// silent explains an attached program that did not fire (bpf not among
	// the active LSMs); nil: unexplained.
	silent func(e *env) *result.Reason
}

// trampoline is what fentry, fexit, fmod_ret, LSM and tp_btf need to
// attach: BPF trampolines, which arm64 could attach to kernel functions
// only from 6.4 (features "trampolines").
func trampoline(version, commit string, config ...string) need {
	n := need{version: version, commit: commit, config: append([]string{"CONFIG_DEBUG_INFO_BTF"}, config...)}
	if s, ok := features.Lookup(result.KindMisc, "trampolines"); ok {
		n.arch = s.Arch
	}
	return n
}

// families is the attach-and-observe table, in report order. Versions and
// commits are mainline's first release with the attach path used here.
var families = []family{
	{
		name:    "kprobe",
		need:    need{version: "4.1", commit: "2541517c32be", config: []string{"CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"}},
		shape:   func(*env) progShape { return progShape{typ: ebpf.Kprobe} },
		attach:  func(e *env, p *ebpf.Program) (io.Closer, error) { return link.Kprobe(e.syscallFunc, p, nil) },
		trigger: getpid,
	},
	{
		name:    "kretprobe",
		need:    need{version: "4.1", commit: "2541517c32be", config: []string{"CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"}},
		shape:   func(*env) progShape { return progShape{typ: ebpf.Kprobe} },
		attach:  func(e *env, p *ebpf.Program) (io.Closer, error) { return link.Kretprobe(e.syscallFunc, p, nil) },
		trigger: getpid,
	},
	{
		name:  "kprobe_multi",
		need:  need{version: "5.18", config: []string{"CONFIG_FPROBE"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.Kprobe, attach: ebpf.AttachTraceKprobeMulti} },
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return link.KprobeMulti(p, link.KprobeMultiOptions{Symbols: []string{e.syscallFunc}})
		},
		trigger: getpid,
	},
	// The trampoline families hook security_file_open: Debian's 6.1 refuses
	// fentry on __x64_sys_getpid (EOPNOTSUPP, measured) while kprobes on it
	// work, and security_* functions take fmod_ret without
	// CONFIG_FUNCTION_ERROR_INJECTION, which Debian does not set.
	{
		name: "fentry",
		need: trampoline("5.5", "fec56f5890d9"),
		shape: func(e *env) progShape {
			return progShape{typ: ebpf.Tracing, attach: ebpf.AttachTraceFEntry, attachTo: "security_file_open"}
		},
		attach:  attachTrampoline,
		trigger: openFile,
	},
	{
		name: "fexit",
		need: trampoline("5.5", "fec56f5890d9"),
		shape: func(e *env) progShape {
			return progShape{typ: ebpf.Tracing, attach: ebpf.AttachTraceFExit, attachTo: "security_file_open"}
		},
		attach:  attachTrampoline,
		trigger: openFile,
	},
	{
		// Debian builds without CONFIG_FUNCTION_ERROR_INJECTION, so the
		// syscalls are not error-injectable; security_* functions always
		// accept fmod_ret (check_attach_modify_return, 6ba43b761c41, 5.7).
		name: "fmod_ret",
		need: trampoline("5.7", ""),
		shape: func(*env) progShape {
			return progShape{typ: ebpf.Tracing, attach: ebpf.AttachModifyReturn, attachTo: "security_file_open"}
		},
		attach:  attachTrampoline,
		trigger: openFile,
	},
	{
		name:  "raw_tracepoint",
		need:  need{version: "4.17", commit: "c4f6699dfcb8"},
		shape: func(*env) progShape { return progShape{typ: ebpf.RawTracepoint} },
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p})
		},
		trigger: getpid,
	},
	{
		name: "tp_btf",
		// BTF-typed raw tracepoints attach through bpf_probe_register,
		// not a trampoline: arm64 has them since 5.5 too.
		need: need{version: "5.5", config: []string{"CONFIG_DEBUG_INFO_BTF"}},
		shape: func(*env) progShape {
			return progShape{typ: ebpf.Tracing, attach: ebpf.AttachTraceRawTp, attachTo: "sys_enter"}
		},
		attach:  attachTracing,
		trigger: getpid,
	},
	{
		name:  "tracepoint",
		need:  need{version: "4.7", commit: "98b5c2c65c29", config: []string{"CONFIG_FTRACE_SYSCALLS"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.TracePoint} },
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return link.Tracepoint("syscalls", "sys_enter_getpid", p, nil)
		},
		trigger: getpid,
		attachReason: func(e *env, err error) *result.Reason {
			if errors.Is(err, os.ErrNotExist) {
				return &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_FTRACE_SYSCALLS",
					Detail: "tracefs has no event syscalls/sys_enter_getpid (is tracefs mounted at /sys/kernel/tracing?)"}
			}
			return nil
		},
	},
	{
		name:  "uprobe",
		need:  need{version: "4.3", config: []string{"CONFIG_UPROBES", "CONFIG_UPROBE_EVENTS"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.Kprobe} },
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			if e.exeErr != nil {
				return nil, e.exeErr
			}
			return e.exe.Uprobe("bpfmatrix_uprobe_target", p, &link.UprobeOptions{Address: e.uprobeOffset})
		},
		trigger: callUprobeTarget,
	},
	{
		name:  "uretprobe",
		need:  need{version: "4.3", config: []string{"CONFIG_UPROBES", "CONFIG_UPROBE_EVENTS"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.Kprobe} },
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			if e.exeErr != nil {
				return nil, e.exeErr
			}
			return e.exe.Uretprobe("bpfmatrix_uprobe_target", p, &link.UprobeOptions{Address: e.uprobeOffset})
		},
		trigger: callUprobeTarget,
	},
	{
		name:  "uprobe_multi",
		need:  need{version: "6.6", config: []string{"CONFIG_UPROBES"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.Kprobe, attach: ebpf.AttachTraceUprobeMulti} },
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			if e.exeErr != nil {
				return nil, e.exeErr
			}
			return e.exe.UprobeMulti(nil, p, &link.UprobeMultiOptions{Addresses: []uint64{e.uprobeOffset}})
		},
		trigger: callUprobeTarget,
	},
	{
		name:    "perf_event",
		need:    need{version: "4.9", commit: "0515e5999a46", config: []string{"CONFIG_PERF_EVENTS"}},
		shape:   func(*env) progShape { return progShape{typ: ebpf.PerfEvent} },
		attach:  attachCPUClock,
		trigger: spinCPUClock,
	},
	{
		name:  "xdp_generic",
		need:  need{version: "5.9", config: []string{"CONFIG_NET"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.XDP, ret: 2} }, // XDP_PASS
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return link.AttachXDP(link.XDPOptions{Program: p, Interface: e.lo, Flags: link.XDPGenericMode})
		},
		trigger: sendUDP,
	},
	{
		name:  "xdp_test_run",
		need:  need{version: "4.12", commit: "1cf1cae963c2", config: []string{"CONFIG_NET"}},
		shape: func(*env) progShape { return progShape{typ: ebpf.XDP, ret: 2} },
		// BPF_PROG_TEST_RUN needs no attachment: the program itself is
		// what "attached" holds.
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) { return p, nil },
		trigger: func(e *env, l io.Closer) error {
			_, err := l.(*ebpf.Program).Run(&ebpf.RunOptions{Data: make([]byte, 64)})
			return err
		},
	},
	{
		name:  "tcx",
		need:  need{version: "6.6"},
		shape: func(*env) progShape { return progShape{typ: ebpf.SchedCLS, ret: -1} }, // TCX_NEXT
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return link.AttachTCX(link.TCXOptions{Interface: e.lo, Program: p, Attach: ebpf.AttachTCXIngress})
		},
		trigger: sendUDP,
	},
	{
		name:    "socket_filter",
		need:    need{version: "3.19", commit: "89aa075832b0", config: []string{"CONFIG_NET"}},
		shape:   func(*env) progShape { return progShape{typ: ebpf.SocketFilter, ret: -1} }, // keep the whole packet
		attach:  attachSocketFilter,
		trigger: func(e *env, l io.Closer) error { return l.(*filteredSocket).roundTrip() },
	},
	{
		name: "cgroup_skb",
		need: need{version: "4.10", commit: "0e33661de493", config: []string{"CONFIG_CGROUP_BPF"}},
		shape: func(*env) progShape {
			return progShape{typ: ebpf.CGroupSKB, attach: ebpf.AttachCGroupInetEgress, ret: 1}
		},
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return e.attachCgroup(p, ebpf.AttachCGroupInetEgress)
		},
		trigger: sendUDPInCgroup,
	},
	{
		name: "cgroup_sock_addr",
		need: need{version: "4.17", commit: "4fbac77d2d09", config: []string{"CONFIG_CGROUP_BPF"}},
		shape: func(*env) progShape {
			return progShape{typ: ebpf.CGroupSockAddr, attach: ebpf.AttachCGroupInet4Connect, ret: 1}
		},
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return e.attachCgroup(p, ebpf.AttachCGroupInet4Connect)
		},
		trigger: sendUDPInCgroup,
	},
	{
		name:  "sk_lookup",
		need:  need{version: "5.9", commit: "e9ddbb7707ff", config: []string{"CONFIG_NET", "CONFIG_NET_NS"}},      // attached to a netns by fd
		shape: func(*env) progShape { return progShape{typ: ebpf.SkLookup, attach: ebpf.AttachSkLookup, ret: 1} }, // SK_PASS
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			ns, err := os.Open("/proc/self/ns/net")
			if err != nil {
				return nil, err
			}
			defer ns.Close()
			return link.AttachNetNs(int(ns.Fd()), p)
		},
		trigger: sendUDP,
	},
	{
		name: "lsm",
		need: trampoline("5.7", "fc611f47f218", "CONFIG_BPF_LSM"),
		shape: func(*env) progShape {
			return progShape{typ: ebpf.LSM, attach: ebpf.AttachLSMMac, attachTo: "file_open"}
		},
		attach:  attachTrampoline,
		trigger: openFile,
		silent:  lsmInactive,
	},
	{
		name: "iter_task",
		need: need{version: "5.8", config: []string{"CONFIG_DEBUG_INFO_BTF"}},
		shape: func(*env) progShape {
			return progShape{typ: ebpf.Tracing, attach: ebpf.AttachTraceIter, attachTo: "task"}
		},
		attach: func(e *env, p *ebpf.Program) (io.Closer, error) {
			return link.AttachIter(link.IterOptions{Program: p})
		},
		trigger: func(e *env, l io.Closer) error {
			r, err := l.(*link.Iter).Open()
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(io.Discard, r)
			return err
		},
	},
}

func attachTracing(e *env, p *ebpf.Program) (io.Closer, error) {
	return link.AttachTracing(link.TracingOptions{Program: p})
}

// attachTrampoline attaches an fentry, fexit, fmod_ret or LSM program with
// BPF_RAW_TRACEPOINT_OPEN, the path every kernel since 5.5 has, as a raw
// syscall: cilium/ebpf turns the ENOTSUPP a missing trampoline gives
// (arm64 before 6.4) into ErrNotSupported and the errno is lost.
func attachTrampoline(e *env, p *ebpf.Program) (io.Closer, error) {
	attr := struct {
		name   uint64
		progFD uint32
		_      uint32
	}{progFD: uint32(p.FD())}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_RAW_TRACEPOINT_OPEN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	if errno != 0 {
		return nil, fmt.Errorf("BPF_RAW_TRACEPOINT_OPEN: %w", errno)
	}
	return fdCloser(fd), nil
}

type fdCloser int

func (f fdCloser) Close() error { return unix.Close(int(f)) }

func getpid(*env, io.Closer) error {
	// A raw syscall: nothing in between may cache it.
	unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	return nil
}

func openFile(*env, io.Closer) error {
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		return err
	}
	return f.Close()
}

// bpfmatrix_uprobe_target is what the uprobe families probe, in this very
// binary (the agent, from the initramfs). nosplit: no stack growth and no
// preemption point between entry and return, so a uretprobe's replaced
// return address never meets the Go runtime's stack walker.
//
//go:noinline
//go:nosplit
func uprobeTarget(x uint64) uint64 { return x*3 + 1 }

var uprobeSink uint64

func callUprobeTarget(*env, io.Closer) error {
	uprobeSink += uprobeTarget(uprobeSink)
	return nil
}

// attachCPUClock opens a software cpu-clock perf event on this thread
// (the trigger spins on the same, locked, thread) and attaches p with
// PERF_EVENT_IOC_SET_BPF, the path every kernel since 4.9 has.
func attachCPUClock(e *env, p *ebpf.Program) (io.Closer, error) {
	runtime.LockOSThread()
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample: 200_000, // ns of CPU time between samples
		Bits:   unix.PerfBitDisabled,
	}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("perf_event_open cpu-clock: %w", err)
	}
	pe := &perfEvent{fd: fd}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, p.FD()); err != nil {
		pe.Close()
		return nil, fmt.Errorf("PERF_EVENT_IOC_SET_BPF: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		pe.Close()
		return nil, fmt.Errorf("PERF_EVENT_IOC_ENABLE: %w", err)
	}
	return pe, nil
}

type perfEvent struct{ fd int }

func (p *perfEvent) Close() error {
	err := unix.Close(p.fd)
	runtime.UnlockOSThread()
	return err
}

// spinCPUClock burns CPU on the perf event's thread until its program has
// run, for at most 200 ms.
func spinCPUClock(e *env, _ io.Closer) error {
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		for i := 0; i < 100_000; i++ {
			uprobeSink += uint64(i)
		}
		if n, _ := e.maps.count(e.slot); n > 0 {
			return nil
		}
	}
	return nil
}

// sendUDP sends one datagram to a socket bound on lo and reads it back:
// the packet crosses lo's receive path (XDP, tc, sk_lookup).
func sendUDP(e *env, _ io.Closer) error {
	s, err := newUDPPair()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.roundTrip()
}

type udpPair struct{ rx, tx *net.UDPConn }

func newUDPPair() (*udpPair, error) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen on lo: %w", err)
	}
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		rx.Close()
		return nil, fmt.Errorf("connect on lo: %w", err)
	}
	return &udpPair{rx: rx, tx: tx}, nil
}

func (u *udpPair) roundTrip() error {
	if _, err := u.tx.Write([]byte("bpfmatrix observe")); err != nil {
		return fmt.Errorf("send on lo: %w", err)
	}
	buf := make([]byte, 64)
	u.rx.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := u.rx.Read(buf); err != nil {
		return fmt.Errorf("receive on lo: %w", err)
	}
	return nil
}

func (u *udpPair) Close() error {
	u.tx.Close()
	return u.rx.Close()
}

// filteredSocket is a UDP pair whose receiving socket has the program
// attached with SO_ATTACH_BPF.
type filteredSocket struct{ *udpPair }

func attachSocketFilter(e *env, p *ebpf.Program) (io.Closer, error) {
	u, err := newUDPPair()
	if err != nil {
		return nil, err
	}
	raw, err := u.rx.SyscallConn()
	if err != nil {
		u.Close()
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_BPF, p.FD())
	}); err != nil {
		serr = err
	}
	if serr != nil {
		u.Close()
		return nil, fmt.Errorf("setsockopt SO_ATTACH_BPF: %w", serr)
	}
	return &filteredSocket{u}, nil
}

// cgroupDir is the child cgroup the cgroup families attach to.
const cgroupDir = "bpfmatrix-observe"

func (e *env) attachCgroup(p *ebpf.Program, at ebpf.AttachType) (io.Closer, error) {
	if e.cgroupErr != nil {
		return nil, e.cgroupErr
	}
	return link.AttachCgroup(link.CgroupOptions{Path: e.cgroup, Attach: at, Program: p})
}

// sendUDPInCgroup moves this process into the child cgroup, connects and
// sends a datagram on lo, and moves it back.
func sendUDPInCgroup(e *env, _ io.Closer) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(e.cgroup, "cgroup.procs"), pid, 0); err != nil {
		return fmt.Errorf("enter cgroup: %w", err)
	}
	err := sendUDP(e, nil)
	if err2 := os.WriteFile(filepath.Join(e.cgroupRoot, "cgroup.procs"), pid, 0); err2 != nil && err == nil {
		err = fmt.Errorf("leave cgroup: %w", err2)
	}
	return err
}

// lsmInactive explains a BPF LSM program that attached and never ran: the
// BPF LSM only runs when "bpf" is among the active LSMs, which the boot
// command line (lsm=) or CONFIG_LSM sets.
func lsmInactive(e *env) *result.Reason {
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		return nil
	}
	active := strings.TrimSpace(string(b))
	for _, l := range strings.Split(active, ",") {
		if l == "bpf" {
			return nil
		}
	}
	r := &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_LSM",
		Detail: "bpf is not among the active LSMs (" + active + "): add it to CONFIG_LSM or boot with lsm=...,bpf"}
	if v := e.kernel.Config["CONFIG_LSM"]; v != "" {
		r.Detail += "; CONFIG_LSM=" + v
	}
	return r
}
