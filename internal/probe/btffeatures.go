package probe

import (
	"encoding/binary"
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

const (
	cmdBTFLoad       = 18
	cmdObjGetInfoFd  = 15
	btfFuncGlobal    = 1
	btfVarGlobalData = 1
)

// btfBlob builds a BTF object from raw type words and a string section, as
// libbpf's probes do (libbpf_internal.h's BTF_TYPE_ENC helpers).
func btfBlob(types []uint32, strs string) []byte {
	le := binary.LittleEndian
	tlen := uint32(len(types) * 4)
	b := make([]byte, 24, 24+int(tlen)+len(strs))
	le.PutUint16(b[0:], 0xeb9f)
	b[2] = 1 // version
	le.PutUint32(b[4:], 24)
	le.PutUint32(b[8:], 0)     // type_off
	le.PutUint32(b[12:], tlen) // type_len
	le.PutUint32(b[16:], tlen) // str_off
	le.PutUint32(b[20:], uint32(len(strs)))
	for _, w := range types {
		b = le.AppendUint32(b, w)
	}
	return append(b, strs...)
}

func btfInfo(kind, vlen uint32) uint32 { return kind<<24 | vlen }

// btfIntWords is "int": BTF_TYPE_INT_ENC(name, BTF_INT_SIGNED, 0, 32, 4).
func btfIntWords(name uint32) []uint32 {
	return []uint32{name, btfInfo(btfKindInt, 0), 4, 1<<24 | 32}
}

// btfFeatureBlobs are libbpf's FEAT_BTF_* probe objects (features.c), one
// per row of features.BTFFeatures but module_btf.
var btfFeatureBlobs = map[string][]byte{
	"btf": btfBlob(btfIntWords(1), "\x00int\x00"),
	// A FUNC's arguments must be named (btf_func_check).
	"func": btfBlob(append(btfIntWords(1),
		0, btfInfo(btfKindFuncProto, 1), 1, 5, 1, // FUNC_PROTO int (int x)
		7, btfInfo(btfKindFunc, 0), 2), // FUNC a, static
		"\x00int\x00x\x00a\x00"),
	"func_linkage": btfBlob(append(btfIntWords(1),
		0, btfInfo(btfKindFuncProto, 1), 1, 5, 1,
		7, btfInfo(btfKindFunc, btfFuncGlobal), 2),
		"\x00int\x00x\x00a\x00"),
	"datasec": btfBlob(append(btfIntWords(1),
		5, btfInfo(btfKindVar, 0), 1, btfVarGlobalData, // VAR x
		7, btfInfo(btfKindDatasec, 1), 4, 2, 0, 4), // DATASEC .data
		"\x00int\x00x\x00.data\x00"),
	"qmark_datasec": btfBlob(append(btfIntWords(1),
		5, btfInfo(btfKindVar, 0), 1, btfVarGlobalData,
		7, btfInfo(btfKindDatasec, 1), 4, 2, 0, 4),
		"\x00int\x00x\x00?.data\x00"),
	"float": btfBlob([]uint32{1, btfInfo(btfKindFloat, 0), 4}, "\x00float\x00"),
	"decl_tag": btfBlob(append(btfIntWords(1),
		5, btfInfo(btfKindVar, 0), 1, btfVarGlobalData,
		7, btfInfo(btfKindDeclTag, 0), 2, 0xffffffff), // DECL_TAG on the VAR
		"\x00int\x00x\x00tag\x00"),
	"type_tag": btfBlob(append(btfIntWords(1),
		5, btfInfo(btfKindTypeTag, 0), 1, // TYPE_TAG tag -> int
		0, btfInfo(btfKindPtr, 0), 2), // PTR -> tag
		"\x00int\x00tag\x00"),
	"enum64": btfBlob([]uint32{1, btfInfo(btfKindEnum64, 1), 8, 3, 0, 1}, // ENUM64 e { a = 1<<32 }
		"\x00e\x00a\x00"),
}

// loadBTF issues BPF_BTF_LOAD and returns the fd.
func loadBTF(blob []byte) (int, error) {
	attr := struct {
		btf         uint64
		btfLogBuf   uint64
		btfSize     uint32
		btfLogSize  uint32
		btfLogLevel uint32
		_           uint32
	}{btf: uint64(uintptr(unsafe.Pointer(&blob[0]))), btfSize: uint32(len(blob))}
	fd, err := bpfSyscall(cmdBTFLoad, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(blob)
	return int(fd), err
}

// btfInfoHasName asks BPF_OBJ_GET_INFO_BY_FD for a BTF object's name, which
// module BTF brought (5.11): older kernels refuse the non-zero tail with
// E2BIG (bpf_check_uarg_tail_zero).
func btfInfoHasName(fd int) error {
	name := make([]byte, 64)
	info := struct {
		btf       uint64
		btfSize   uint32
		id        uint32
		name      uint64
		nameLen   uint32
		kernelBTF uint32
	}{name: uint64(uintptr(unsafe.Pointer(&name[0]))), nameLen: uint32(len(name))}
	attr := struct {
		fd      uint32
		infoLen uint32
		info    uint64
	}{fd: uint32(fd), infoLen: uint32(unsafe.Sizeof(info)), info: uint64(uintptr(unsafe.Pointer(&info)))}
	_, err := bpfSyscall(cmdObjGetInfoFd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(name)
	runtime.KeepAlive(&info)
	return err
}

// probeBTFFeatures loads one BTF blob per feature (ten syscalls, no
// verifier): the kernel's own BTF is not evidence, since a kernel may
// accept a kind its build never emitted.
func (r *runner) probeBTFFeatures() {
	for name, blob := range btfFeatureBlobs {
		o := Observation{Kind: result.KindBTF, Name: name}
		fd, err := loadBTF(blob)
		if err == nil {
			unix.Close(fd)
		}
		o.Outcome, o.Err = errOutcome(err)
		r.add(o)
	}
	o := Observation{Kind: result.KindBTF, Name: "module_btf"}
	fd, err := loadBTF(btfFeatureBlobs["btf"])
	if err != nil {
		o.Outcome, o.Err = errOutcome(err)
		r.add(o)
		return
	}
	err = btfInfoHasName(fd)
	unix.Close(fd)
	if errors.Is(err, unix.E2BIG) {
		o.Outcome, o.Detail = OutcomeNotSupported, "BTF object info has no name (E2BIG)"
	} else {
		o.Outcome, o.Err = errOutcome(err)
	}
	if o.Outcome == OutcomeSupported && r.env.Config != nil && !r.env.Config.Enabled("CONFIG_DEBUG_INFO_BTF_MODULES") {
		// The syscall knows module BTF, the build makes none.
		o.Outcome, o.Detail = OutcomeNotSupported, "BTF object info has names, but the kernel builds no module BTF"
	}
	r.add(o)
}
