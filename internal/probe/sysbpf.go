package probe

import (
	"bytes"
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The helper matrix is thousands of loads of a three-instruction program.
// cilium/ebpf's NewProgram allocates a 64 KiB verifier log per load and runs
// its own fix-up passes; for this hot path we issue BPF_PROG_LOAD directly
// with a reused 4 KiB log (growing on ENOSPC) and keep cilium/ebpf for
// everything that needs BTF marshalling (extension targets, global
// functions, spin locks) and for its link probes.

const (
	cmdMapCreate         = 0
	cmdProgLoad          = 5
	cmdProgAttach        = 8
	cmdProgTestRun       = 10
	cmdRawTracepointOpen = 17
	cmdLinkCreate        = 28
	cmdTokenCreate       = 36
)

const (
	flagSleepable = 1 << 4 // BPF_F_SLEEPABLE
	flagMmapable  = 1 << 10
)

// progLoadAttr mirrors union bpf_attr for BPF_PROG_LOAD up to
// attach_prog_fd (5.5); later fields stay zero so older kernels accept it.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
	progBTFFd          uint32
	funcInfoRecSize    uint32
	funcInfo           uint64
	funcInfoCnt        uint32
	lineInfoRecSize    uint32
	lineInfo           uint64
	lineInfoCnt        uint32
	attachBTFID        uint32
	attachProgFd       uint32
	_                  uint32
}

type mapCreateAttr struct {
	mapType    uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	mapFlags   uint32
	innerMapFd uint32
	numaNode   uint32
	mapName    [16]byte
	ifindex    uint32
	btfFd      uint32
	btfKeyID   uint32
	btfValueID uint32
	vmlinuxID  uint32
	mapExtra   uint64
}

// bpfRawSyscall skips the Go scheduler's syscall bookkeeping. The helper
// matrix issues thousands of ~10 µs loads; with the ordinary path the
// runtime hands the P to another thread whenever one takes a little longer,
// which cost ~6,000 context switches and a third of the run on the host.
// Only used for tiny programs without an attach target, whose verification
// cannot take long.
//
// The price: to the runtime a goroutine in RawSyscall is running Go code, so
// once it has run for 10 ms (forcePreemptNS) sysmon sends its thread the
// preemption signal, again and again, and the verifier gives up with EAGAIN
// whenever a signal is pending (do_check's signal_pending(), 4.20+). A load
// that takes milliseconds (a fentry target resolved by kallsyms' linear scan:
// 10 ms under TCG on 5.10) is then interrupted about every second try, so an
// EAGAIN is retried through bpfSyscall, where the thread is known to be in a
// syscall and is not signalled.
func bpfRawSyscall(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno == unix.EAGAIN {
		return bpfSyscall(cmd, attr, size)
	}
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// maxEAGAIN bounds retries: since 4.20 the verifier returns EAGAIN when a
// signal is pending; cilium/ebpf retries the same way. An EAGAIN that
// outlasts the retries is returned and must be read as inconclusive.
const maxEAGAIN = 50

func bpfSyscall(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	for i := 0; ; i++ {
		r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if errno == unix.EAGAIN && i < maxEAGAIN {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

var gplLicense = []byte("GPL\x00")

// insn is one raw BPF instruction.
type insn struct {
	code uint8
	regs uint8 // dst:4 src:4 (little endian)
	off  int16
	imm  int32
}

func insnCall(helper int32) insn           { return insn{code: 0x85, imm: helper} }
func insnMovImm(dst uint8, imm int32) insn { return insn{code: 0xb7, regs: dst, imm: imm} }
func insnExit() insn                       { return insn{code: 0x95} }

// loadRequest is one BPF_PROG_LOAD.
type loadRequest struct {
	progType     uint32
	attachType   uint32
	flags        uint32
	attachBTFID  uint32
	attachProgFd uint32
	kernVersion  uint32
	insns        []insn
	wantLog      bool
	// logLevel is the verifier log level when wantLog is set (default 1).
	logLevel uint32
	// rawLog leaves loadResult.log empty (use raw).
	rawLog bool
}

// loadResult is the kernel's answer to one load.
type loadResult struct {
	err error  // nil: loaded
	log string // verifier log (only when wantLog and the load failed)
	// raw is the log in the loader's buffer, valid until its next load;
	// the helper matrix classifies it without copying.
	raw []byte
}

// attr is the BPF_PROG_LOAD attribute for req, without a log. The caller
// keeps req.insns alive until the syscall returns.
func (req loadRequest) attr() progLoadAttr {
	return progLoadAttr{
		progType:           req.progType,
		insnCnt:            uint32(len(req.insns)),
		insns:              uint64(uintptr(unsafe.Pointer(&req.insns[0]))),
		license:            uint64(uintptr(unsafe.Pointer(&gplLicense[0]))),
		kernVersion:        req.kernVersion,
		progFlags:          req.flags,
		expectedAttachType: req.attachType,
		attachBTFID:        req.attachBTFID,
		attachProgFd:       req.attachProgFd,
	}
}

// loader issues loads with a reusable log buffer; one per goroutine.
type loader struct {
	buf []byte
}

func newLoader() *loader { return &loader{buf: make([]byte, 4096)} }

func (l *loader) load(req loadRequest) loadResult {
	attr := req.attr()
	for {
		if req.wantLog {
			l.buf[0] = 0
			attr.logLevel = max(req.logLevel, 1)
			attr.logSize = uint32(len(l.buf))
			attr.logBuf = uint64(uintptr(unsafe.Pointer(&l.buf[0])))
		}
		sys := bpfSyscall
		if len(req.insns) <= 8 && req.attachBTFID == 0 {
			// An attach target costs a kallsyms lookup for fentry, fexit,
			// fmod_ret and LSM (bpf_check_attach_target): milliseconds.
			sys = bpfRawSyscall
		}
		fd, err := sys(cmdProgLoad, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(req.insns)
		if err == nil {
			unix.Close(int(fd))
			return loadResult{}
		}
		if req.wantLog && errors.Is(err, unix.ENOSPC) && len(l.buf) < 1<<20 {
			l.buf = make([]byte, len(l.buf)*4)
			continue
		}
		var raw []byte
		if req.wantLog {
			if i := bytes.IndexByte(l.buf, 0); i >= 0 {
				raw = l.buf[:i]
			}
		}
		if req.rawLog {
			return loadResult{err: err, raw: raw}
		}
		return loadResult{err: err, log: string(raw), raw: raw}
	}
}

// loadFD loads a program and returns its fd (caller closes).
func (l *loader) loadFD(req loadRequest) (int, loadResult) {
	attr := req.attr()
	fd, err := bpfSyscall(cmdProgLoad, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(req.insns)
	if err != nil {
		return -1, loadResult{err: err}
	}
	return int(fd), loadResult{}
}

func createMap(attr *mapCreateAttr) error {
	fd, err := bpfSyscall(cmdMapCreate, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
	if err != nil {
		return err
	}
	unix.Close(int(fd))
	return nil
}

// progAttachBadFd issues BPF_PROG_ATTACH with an invalid program fd. The
// kernel maps the attach type to a program type first (EINVAL when it does
// not know the attach type) and only then looks up the fd (EBADF): see
// bpf_prog_attach() in kernel/bpf/syscall.c.
func progAttachBadFd(attachType uint32) error {
	attr := struct {
		targetFd    uint32
		attachBpfFd uint32
		attachType  uint32
		attachFlags uint32
		replaceFd   uint32
	}{targetFd: 0, attachBpfFd: ^uint32(0), attachType: attachType}
	_, err := bpfSyscall(cmdProgAttach, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// commandKnown issues cmd with an all-invalid attribute; EBADF (or any error
// but EINVAL) means the kernel dispatched the command.
func commandKnown(cmd int, attr unsafe.Pointer, size uintptr) error {
	fd, err := bpfSyscall(cmd, attr, size)
	if err == nil {
		unix.Close(int(fd))
	}
	return err
}

// rawTracepointOpen attaches a tracing program (fentry, tp_btf, raw_tp) and
// returns the link fd.
func rawTracepointOpen(name []byte, progFd int) (int, error) {
	attr := struct {
		name   uint64
		progFd uint32
		_      uint32
	}{progFd: uint32(progFd)}
	if name != nil {
		attr.name = uint64(uintptr(unsafe.Pointer(&name[0])))
	}
	fd, err := bpfSyscall(cmdRawTracepointOpen, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(name)
	return int(fd), err
}

// progTestRun runs progFd once on data.
func progTestRun(progFd int, data []byte) (uint32, error) {
	attr := struct {
		progFd      uint32
		retval      uint32
		dataSizeIn  uint32
		dataSizeOut uint32
		dataIn      uint64
		dataOut     uint64
		repeat      uint32
		duration    uint32
	}{progFd: uint32(progFd), dataSizeIn: uint32(len(data)), dataIn: uint64(uintptr(unsafe.Pointer(&data[0]))), repeat: 1}
	_, err := bpfSyscall(cmdProgTestRun, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(data)
	return attr.retval, err
}

// linkCreateBadTarget issues BPF_LINK_CREATE for progFd with an invalid
// target fd.
func linkCreateBadTarget(progFd int, attachType uint32) error {
	attr := struct {
		progFd     uint32
		targetFd   uint32
		attachType uint32
		flags      uint32
		_          [4]uint64
	}{progFd: uint32(progFd), targetFd: ^uint32(0), attachType: attachType}
	fd, err := bpfSyscall(cmdLinkCreate, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		unix.Close(int(fd))
	}
	return err
}
