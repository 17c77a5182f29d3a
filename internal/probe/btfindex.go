package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// btfIndex is a walk of every type in the kernel's BTF, kept as offsets
// into the raw bytes: the kfunc, struct_ops and BTF-feature probes ask for
// things the targeted scan in kbtf.go does not keep (every FUNC carrying
// the bpf_kfunc decl tag, every struct_ops value type and its members). It
// costs one more read of the BTF (4-6 MB, tens of milliseconds under TCG),
// paid once, after the helper matrix.
type btfIndex struct {
	raw   []byte
	types []byte
	strs  []byte
	// kinds, infos and offs hold each type's kind, info word and offset in
	// types (index = type ID; 0 is void).
	kinds []uint8
	infos []uint32
	offs  []uint32
	// kindCount counts the types of each kind: a kernel that declares a
	// kind in its own BTF accepts it in loaded BTF.
	kindCount map[uint8]int
	// structs maps a struct name to its first type ID.
	structs map[string]uint32
	// kfuncTags lists the FUNC type IDs tagged "bpf_kfunc" (pahole 1.26's
	// decl_tag_kfuncs, which kernels from 6.10 ask for), in BTF order.
	kfuncTags []uint32
}

// loadBTFIndex reads and indexes path.
func loadBTFIndex(path string) (*btfIndex, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel btf: %w", err)
	}
	return parseBTFIndex(raw)
}

func parseBTFIndex(raw []byte) (*btfIndex, error) {
	types, strs, layout, err := btfSections(raw)
	if err != nil {
		return nil, fmt.Errorf("index kernel btf: %w", err)
	}
	le := binary.LittleEndian
	x := &btfIndex{raw: raw, types: types, strs: strs,
		kinds: []uint8{0}, infos: []uint32{0}, offs: []uint32{0}, kindCount: map[uint8]int{}, structs: map[string]uint32{}}
	kfuncName := []byte("bpf_kfunc")
	for off := 0; off+12 <= len(types); {
		id := uint32(len(x.kinds))
		nameOff, info := le.Uint32(types[off:]), le.Uint32(types[off+4:])
		kind, vlen := uint8((info>>24)&0x1f), int(info&0xffff)
		extra, ok := btfTypeExtra(uint32(kind), vlen, layout)
		if !ok {
			// A kind this walk cannot size: keep what was read.
			return x, nil
		}
		if off+12+extra > len(types) {
			return nil, errors.New("index kernel btf: truncated type")
		}
		x.kinds, x.infos, x.offs = append(x.kinds, kind), append(x.infos, info), append(x.offs, uint32(off))
		x.kindCount[kind]++
		switch kind {
		case btfKindStruct:
			n := string(x.name(nameOff))
			if _, dup := x.structs[n]; !dup && n != "" {
				x.structs[n] = id
			}
		case btfKindDeclTag:
			// component_idx -1 tags the function itself.
			if int32(le.Uint32(types[off+12:])) == -1 && bytes.Equal(x.name(nameOff), kfuncName) {
				x.kfuncTags = append(x.kfuncTags, le.Uint32(types[off+8:]))
			}
		}
		off += 12 + extra
	}
	return x, nil
}

func (x *btfIndex) name(off uint32) []byte { return btfString(x.strs, off) }

// typeName returns the name of type id.
func (x *btfIndex) typeName(id uint32) string {
	if id == 0 || int(id) >= len(x.kinds) {
		return ""
	}
	return string(x.name(binary.LittleEndian.Uint32(x.types[x.offs[id]:])))
}

// kind returns the kind of type id (0 for void or an ID out of range).
func (x *btfIndex) kind(id uint32) uint8 {
	if int(id) >= len(x.kinds) {
		return 0
	}
	return x.kinds[id]
}

// ref returns the size_or_type field of id: the type a PTR, TYPEDEF,
// modifier, FUNC or DECL_TAG refers to.
func (x *btfIndex) ref(id uint32) uint32 {
	return binary.LittleEndian.Uint32(x.types[x.offs[id]+8:])
}

// skipMods follows typedefs and modifiers.
func (x *btfIndex) skipMods(id uint32) uint32 {
	for i := 0; i < 32; i++ {
		switch x.kind(id) {
		case btfKindTypedef, btfKindVolatile, btfKindConst, btfKindRestrict, btfKindTypeTag:
			id = x.ref(id)
		default:
			return id
		}
	}
	return id
}

// structMember is one member of a struct.
type structMember struct {
	name string
	// funcPtr: a pointer to a function prototype, i.e. an op a struct_ops
	// program can implement.
	funcPtr bool
}

// members returns the members of struct id.
func (x *btfIndex) members(id uint32) []structMember {
	if x.kind(id) != btfKindStruct {
		return nil
	}
	le := binary.LittleEndian
	vlen := int(x.infos[id] & 0xffff)
	base := int(x.offs[id]) + 12
	out := make([]structMember, 0, vlen)
	for i := 0; i < vlen; i++ {
		m := x.types[base+i*12:]
		t := x.skipMods(le.Uint32(m[4:]))
		fp := x.kind(t) == btfKindPtr && x.kind(x.skipMods(x.ref(t))) == btfKindFuncProto
		out = append(out, structMember{name: string(x.name(le.Uint32(m))), funcPtr: fp})
	}
	return out
}
