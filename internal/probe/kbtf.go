package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// kernelBTF is what the probes need from the kernel's BTF: the members of a
// few enums (which the kernel declares exactly for the features it was built
// with) and the type IDs of attach targets. cilium/ebpf's btf package decodes
// far more than that; scanning the raw type section for a handful of names
// takes a few milliseconds instead of ~45 ms on the host, which matters for a
// probe run that must beat bpftool's 60-180 ms.
type kernelBTF struct {
	// enums maps an enum name to its members (name -> value).
	enums map[string]map[string]int64
	// ids maps a wanted FUNC name (or "struct NAME", "typedef NAME") to its
	// type ID.
	ids map[string]uint32
	// members lists the member names of wanted structs.
	members map[string][]string
	// partial says why the scan stopped early (a BTF kind this parser does
	// not know and the BTF does not describe); what was read before stays
	// usable, and enums not reached read as unknown, not as empty.
	partial string
}

const (
	btfKindInt = iota + 1
	btfKindPtr
	btfKindArray
	btfKindStruct
	btfKindUnion
	btfKindEnum
	btfKindFwd
	btfKindTypedef
	btfKindVolatile
	btfKindConst
	btfKindRestrict
	btfKindFunc
	btfKindFuncProto
	btfKindVar
	btfKindDatasec
	btfKindFloat
	btfKindDeclTag
	btfKindTypeTag
	btfKindEnum64
)

// loadKernelBTF reads path (normally /sys/kernel/btf/vmlinux) and keeps the
// enums and type names listed.
func loadKernelBTF(path string, enums []string, names []string) (*kernelBTF, error) {
	// Since 6.16 the kernel lets vmlinux BTF be mmapped: no 5 MB copy on
	// the Go heap (and no GC cycle for it). Older kernels: read it.
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Size() > 0 {
			if raw, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
				defer unix.Munmap(raw)
				return parseKernelBTF(raw, enums, names)
			}
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel btf: %w", err)
	}
	return parseKernelBTF(raw, enums, names)
}

func parseKernelBTF(raw []byte, enums []string, names []string) (*kernelBTF, error) {
	types, strs, layout, err := btfSections(raw)
	if err != nil {
		return nil, fmt.Errorf("parse kernel btf: %w", err)
	}
	le := binary.LittleEndian
	name := func(off uint32) []byte { return btfString(strs, off) }
	wantEnum := make(map[string]bool, len(enums))
	for _, e := range enums {
		wantEnum[e] = true
	}
	wantName := make(map[string]bool, len(names))
	for _, n := range names {
		wantName[n] = true
	}
	kb := &kernelBTF{enums: map[string]map[string]int64{}, ids: map[string]uint32{}, members: map[string][]string{}}
	id := uint32(1)
	for off := 0; off+12 <= len(types); id++ {
		nameOff, info := le.Uint32(types[off:]), le.Uint32(types[off+4:])
		kind, vlen := (info>>24)&0x1f, int(info&0xffff)
		off += 12
		extra, ok := btfTypeExtra(kind, vlen, layout)
		if !ok {
			// Without a size for the kind the rest cannot be walked: keep
			// what was read (a future kernel must not lose every BTF probe
			// to one new kind).
			kb.partial = fmt.Sprintf("unknown BTF kind %d at type %d", kind, id)
			return kb, nil
		}
		if off+extra > len(types) {
			return nil, errors.New("parse kernel btf: truncated type")
		}
		switch kind {
		case btfKindFunc, btfKindStruct, btfKindTypedef:
			if n := name(nameOff); wantName[string(n)] {
				key := btfKindPrefix[kind] + string(n)
				if _, dup := kb.ids[key]; !dup {
					kb.ids[key] = id
					if kind == btfKindStruct {
						var ms []string
						for i := 0; i < vlen; i++ {
							ms = append(ms, string(name(le.Uint32(types[off+i*12:]))))
						}
						kb.members[key] = ms
					}
				}
			}
		case btfKindEnum, btfKindEnum64:
			if n := name(nameOff); wantEnum[string(n)] {
				vals := make(map[string]int64, vlen)
				step := 8
				if kind == btfKindEnum64 {
					step = 12
				}
				for i := 0; i < vlen; i++ {
					m := types[off+i*step:]
					v := int64(int32(le.Uint32(m[4:])))
					if kind == btfKindEnum64 {
						v = int64(uint64(le.Uint32(m[4:])) | uint64(le.Uint32(m[8:]))<<32)
					}
					vals[string(name(le.Uint32(m)))] = v
				}
				kb.enums[string(n)] = vals
			}
		}
		off += extra
	}
	return kb, nil
}

// hasEnumValue reports whether enum declares value (by number). ok is false
// when the enum is not in the BTF at all.
func (kb *kernelBTF) hasEnumValue(enum string, value int64) (has, ok bool) {
	if kb == nil {
		return false, false
	}
	vals, ok := kb.enums[enum]
	if !ok {
		return false, false
	}
	for n, v := range vals {
		if v == value && !strings.HasPrefix(n, "__") {
			return true, true
		}
	}
	return false, true
}

var btfKindPrefix = map[uint32]string{btfKindFunc: "", btfKindStruct: "struct ", btfKindTypedef: "typedef "}

// id returns the type ID of a FUNC; "struct NAME" and "typedef NAME" select
// the other kinds (bpf_iter_task is both a function and a struct).
func (kb *kernelBTF) id(name string) uint32 {
	if kb == nil {
		return 0
	}
	return kb.ids[name]
}

// btfSections checks raw's header (little-endian BTF only) and returns its
// type and string sections, and its kind layout section when the header
// has one: a header longer than the 24 bytes known here may describe the
// size of every kind (per kind, a u8 size of its info and a u8 size of each
// of its vlen elements), which lets a walk skip kinds it does not know.
func btfSections(raw []byte) (types, strs, layout []byte, err error) {
	le := binary.LittleEndian
	if len(raw) < 24 || le.Uint16(raw) != 0xeb9f {
		return nil, nil, nil, errors.New("bad magic (only little-endian BTF is supported)")
	}
	hdrLen := le.Uint32(raw[4:])
	typeOff, typeLen := le.Uint32(raw[8:]), le.Uint32(raw[12:])
	strOff, strLen := le.Uint32(raw[16:]), le.Uint32(raw[20:])
	tstart, sstart := uint64(hdrLen)+uint64(typeOff), uint64(hdrLen)+uint64(strOff)
	if tstart+uint64(typeLen) > uint64(len(raw)) || sstart+uint64(strLen) > uint64(len(raw)) {
		return nil, nil, nil, errors.New("truncated")
	}
	types, strs = raw[tstart:tstart+uint64(typeLen)], raw[sstart:sstart+uint64(strLen)]
	if hdrLen >= 32 {
		lOff, lLen := le.Uint32(raw[24:]), le.Uint32(raw[28:])
		if lstart := uint64(hdrLen) + uint64(lOff); lLen > 0 && lstart+uint64(lLen) <= uint64(len(raw)) {
			layout = raw[lstart : lstart+uint64(lLen)]
		}
	}
	return types, strs, layout, nil
}

// btfTypeExtra returns how many bytes follow a type's 12-byte header for
// its kind and vlen (from the kind layout section for a kind not known
// here); false when nothing says.
func btfTypeExtra(kind uint32, vlen int, layout []byte) (int, bool) {
	switch kind {
	case btfKindInt, btfKindVar, btfKindDeclTag:
		return 4, true
	case btfKindArray:
		return 12, true
	case btfKindStruct, btfKindUnion, btfKindDatasec, btfKindEnum64:
		return 12 * vlen, true
	case btfKindEnum, btfKindFuncProto:
		return 8 * vlen, true
	case btfKindPtr, btfKindFwd, btfKindTypedef, btfKindVolatile, btfKindConst,
		btfKindRestrict, btfKindFunc, btfKindFloat, btfKindTypeTag:
		return 0, true
	}
	if i := int(kind) * 4; i+4 <= len(layout) {
		return int(layout[i]) + vlen*int(layout[i+1]), true
	}
	return 0, false
}

// btfString returns the NUL-terminated string at off in a string section.
func btfString(strs []byte, off uint32) []byte {
	if uint64(off) >= uint64(len(strs)) {
		return nil
	}
	s := strs[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
