package object

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// ErrInvalid is wrapped by every error about input that is not a loadable
// BPF object.
var ErrInvalid = errors.New("invalid BPF object")

// invalid is an input error: its message is the whole story, one line.
type invalid struct{ msg string }

func (e *invalid) Error() string        { return e.msg }
func (e *invalid) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalid{msg: fmt.Sprintf(format, args...)}
}

// Object is a parsed BPF ELF object.
type Object struct {
	Path string
	// Spec is nil when cilium/ebpf cannot read the object (CiliumUnreadable).
	Spec *ebpf.CollectionSpec
	// CiliumUnreadable, when set, says why cilium/ebpf cannot load this
	// object though libbpf can (a libbpf-only feature: weak symbols of
	// usdt.bpf.h, a typedef'd LINUX_KERNEL_VERSION): it is loaded with
	// libbpf. Programs and Maps then come from the ELF symbols.
	CiliumUnreadable string
	// Relaxed is, when Spec is nil, cilium/ebpf's reading of a copy of the
	// object whose weak symbols are made global (the one thing it refuses
	// in usdt.bpf.h's objects): instructions, maps and BTF as the kernel
	// would see them after libbpf's load, for host-side analysis
	// (internal/needs). It is never loaded. nil when even that copy cannot
	// be read.
	Relaxed *ebpf.CollectionSpec
	// Programs are the object's program names, sorted.
	Programs []string
	// Maps are the object's map names (.data, .rodata, .bss included), sorted.
	Maps []string
}

// Open reads and checks the BPF object at path. The kernels bpfmatrix boots
// (x86_64, arm64) are little-endian, so a big-endian object is invalid. An
// object with maps and no programs is valid (its maps are checked); one
// with neither is not.
//
// Open does not panic on any input: a crash of the ELF or BTF reader is an
// invalid object too.
func Open(path string) (o *Object, err error) {
	defer func() {
		if v := recover(); v != nil {
			o, err = nil, invalidf("%s: parse BPF object: the reader crashed on it (a bug in bpfmatrix or cilium/ebpf): %v", path, oneLine(fmt.Sprint(v)))
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, invalidf("open %s: %v", path, pe.Err)
		}
		return nil, invalidf("open %s: %v", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, invalidf("open %s: %v", path, err)
	}
	if fi.IsDir() {
		return nil, invalidf("%s: is a directory, not a BPF object", path)
	}
	var ident [elf.EI_NIDENT]byte
	if n, _ := io.ReadFull(f, ident[:]); n < 4 || !bytes.Equal(ident[:4], []byte(elf.ELFMAG)) {
		return nil, invalidf("%s: not an ELF file (compile BPF C with clang -target bpf -c)", path)
	}
	if end := sectionTableEnd(f, ident); end > fi.Size() {
		return nil, invalidf("%s: truncated: its section headers end at byte %d but the file has %d bytes", path, end, fi.Size())
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, invalidf("%s: truncated or corrupt ELF: %v", path, err)
	}
	if ef.Machine != elf.EM_BPF {
		return nil, invalidf("%s: ELF for %s, not BPF (EM_BPF)", path, machineName(ef.Machine))
	}
	if ef.Class != elf.ELFCLASS64 {
		return nil, invalidf("%s: %s BPF object, want ELFCLASS64", path, ef.Class)
	}
	if ef.ByteOrder != binary.LittleEndian {
		return nil, invalidf("%s: big-endian BPF object (clang -target bpfeb); the kernels are little-endian: build with -target bpf", path)
	}
	if end := dataEnd(ef); end > fi.Size() {
		return nil, invalidf("%s: truncated: its sections end at byte %d but the file has %d bytes", path, end, fi.Size())
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(f)
	if err != nil {
		if !LibbpfOnly(err) {
			return nil, invalidf("%s: parse BPF object: %v", path, err)
		}
		o = &Object{Path: path, CiliumUnreadable: "cilium/ebpf: " + oneLine(err.Error())}
		o.Programs, o.Maps = elfNames(ef)
		o.Relaxed = relaxedSpec(f, ef, fi.Size())
		if len(o.Programs) == 0 && len(o.Maps) == 0 {
			return nil, invalidf("%s: no BPF programs or maps in the object (are they in SEC(\"...\") sections?)", path)
		}
		return o, nil
	}
	if len(spec.Programs) == 0 && len(spec.Maps) == 0 {
		return nil, invalidf("%s: no BPF programs or maps in the object (are they in SEC(\"...\") sections?)", path)
	}
	o = &Object{Path: path, Spec: spec, CiliumUnreadable: CiliumCannotLoad(spec)}
	for name := range spec.Programs {
		o.Programs = append(o.Programs, name)
	}
	slices.Sort(o.Programs)
	for name := range spec.Maps {
		o.Maps = append(o.Maps, name)
	}
	slices.Sort(o.Maps)
	return o, nil
}

// AnalysisSpec is the reading host-side analysis uses: Spec, or Relaxed
// for an object cilium/ebpf refuses; nil when there is neither.
func (o *Object) AnalysisSpec() *ebpf.CollectionSpec {
	if o.Spec != nil {
		return o.Spec
	}
	return o.Relaxed
}

// relaxedSpec reads a copy of the object in which every STB_WEAK symbol is
// STB_GLOBAL. usdt.bpf.h declares its helpers (bpf_usdt_arg, ...) and maps
// (__bpf_usdt_specs, __bpf_usdt_ip_to_spec_id) __weak so that several
// objects of one skeleton can each carry them and the linker keeps one;
// in a single object each is defined once, so reading it as global
// changes nothing of the code. nil when the copy cannot be read either.
func relaxedSpec(f io.ReaderAt, ef *elf.File, size int64) *ebpf.CollectionSpec {
	raw := make([]byte, size)
	if _, err := f.ReadAt(raw, 0); err != nil {
		return nil
	}
	changed := false
	for _, sec := range ef.Sections {
		if sec.Type != elf.SHT_SYMTAB || sec.Entsize != elf.Sym64Size {
			continue
		}
		end := sec.Offset + sec.Size
		if end > uint64(size) || end < sec.Offset {
			continue
		}
		// st_info is the byte after the 4-byte st_name (elf.Sym64).
		for off := sec.Offset; off+elf.Sym64Size <= end; off += elf.Sym64Size {
			info := raw[off+4]
			if elf.ST_BIND(info) == elf.STB_WEAK {
				raw[off+4] = byte(elf.STB_GLOBAL)<<4 | info&0xf
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	return spec
}

// oneLine keeps an error one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// sectionTableEnd reads where a 64-bit ELF's section header table ends
// (e_shoff + e_shnum * e_shentsize); 0 if the header is unreadable.
func sectionTableEnd(f *os.File, ident [elf.EI_NIDENT]byte) int64 {
	if elf.Class(ident[elf.EI_CLASS]) != elf.ELFCLASS64 {
		return 0
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if elf.Data(ident[elf.EI_DATA]) == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	var h [64]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return 0
	}
	return int64(bo.Uint64(h[0x28:])) + int64(bo.Uint16(h[0x3a:]))*int64(bo.Uint16(h[0x3c:]))
}

// dataEnd is where the last section's or the section header table's bytes end.
func dataEnd(ef *elf.File) int64 {
	var end int64
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		end = max(end, int64(s.Offset+s.FileSize))
	}
	return end
}

func machineName(m elf.Machine) string {
	s := m.String()
	if d, ok := strings.CutPrefix(s, "EM_"); ok {
		return d + " (" + s + ")"
	}
	return s
}

// Select checks that every name is a program of o; empty names select all.
func (o *Object) Select(names ...string) error {
	for _, n := range names {
		if n == "" {
			continue
		}
		if !slices.Contains(o.Programs, n) {
			return invalidf("%s: no program %q (programs: %s)", o.Path, n, strings.Join(o.Programs, ", "))
		}
	}
	return nil
}

// LibbpfOnly says whether err, cilium/ebpf's answer to parsing an object,
// names a feature only libbpf has (the object is then loaded with libbpf):
// weak symbols, which usdt.bpf.h declares (bpf_usdt_* helpers and the
// __bpf_usdt_* maps: "unsupported binding: STB_WEAK"), and struct_ops maps
// in the plain .struct_ops section (cilium/ebpf reads .struct_ops.link
// only: "got '.struct_ops' section: not supported").
func LibbpfOnly(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unsupported binding") || strings.Contains(msg, "'.struct_ops' section")
}

// CiliumCannotLoad says why cilium/ebpf would refuse to load spec though
// libbpf loads it ("" when it would not): LINUX_KERNEL_VERSION declared
// through a typedef (libbpf-tools' "extern __u32 LINUX_KERNEL_VERSION
// __kconfig"; cilium/ebpf wants the plain integer), in cilium/ebpf's words.
func CiliumCannotLoad(spec *ebpf.CollectionSpec) string {
	// cilium/ebpf keeps .kconfig out of spec.Maps (it makes the map at
	// load time from the BTF Datasec).
	var ds *btf.Datasec
	if spec.Types == nil || spec.Types.TypeByName(".kconfig", &ds) != nil {
		return ""
	}
	for _, vsi := range ds.Vars {
		v, ok := vsi.Type.(*btf.Var)
		if !ok || v.Name != "LINUX_KERNEL_VERSION" {
			continue
		}
		if i, ok := v.Type.(*btf.Int); !ok || i.Size != 4 {
			return fmt.Sprintf("cilium/ebpf: variable LINUX_KERNEL_VERSION must be a 32 bits integer, got %s", v.Type)
		}
	}
	return ""
}

// elfNames lists the programs and maps of an object cilium/ebpf cannot
// parse, the way libbpf names them: a program is a function symbol in an
// executable section other than .text; a map is an object symbol in .maps,
// or a data section (.rodata, .data, .bss, .kconfig and their suffixed
// forms) named as cilium/ebpf names it.
func elfNames(ef *elf.File) (progs, maps []string) {
	syms, _ := ef.Symbols()
	for _, s := range syms {
		i := int(s.Section)
		if i <= 0 || i >= len(ef.Sections) {
			continue
		}
		sec := ef.Sections[i]
		switch {
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC && sec.Flags&elf.SHF_EXECINSTR != 0 && sec.Name != ".text":
			progs = append(progs, s.Name)
		case elf.ST_TYPE(s.Info) == elf.STT_OBJECT && sec.Name == ".maps":
			maps = append(maps, s.Name)
		}
	}
	for _, sec := range ef.Sections {
		for _, p := range []string{".rodata", ".data", ".bss", ".kconfig"} {
			if sec.Name == p || strings.HasPrefix(sec.Name, p+".") {
				maps = append(maps, sec.Name)
			}
		}
	}
	slices.Sort(progs)
	slices.Sort(maps)
	return slices.Compact(progs), slices.Compact(maps)
}
