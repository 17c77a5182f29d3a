package fetch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// ModuleIndexSchema versions ModuleIndex.
const ModuleIndexSchema = 1

// ModuleIndex says which BPF kfuncs and struct_ops types of a kernel live
// in a loadable module rather than in vmlinux: a program that uses one is
// rejected by a kernel without that module loaded (the guest loads none),
// which is no verdict on the program.
type ModuleIndex struct {
	Schema int `json:"schema"`
	// Release is the modules' kernel release (lib/modules/<release>).
	Release string `json:"release"`
	// Package is the verified .deb the modules were read from.
	Package string `json:"package"`
	// Modules is how many modules were read.
	Modules int `json:"modules"`
	// Kfuncs maps a kfunc to the module that defines it.
	Kfuncs map[string]string `json:"kfuncs"`
	// StructOps maps a struct_ops type (the struct a BPF struct_ops map's
	// value is, such as hid_bpf_ops) to the module that registers it.
	StructOps map[string]string `json:"struct_ops"`
}

// ErrNoModuleIndex: the kernel's source carries no modules this package
// can read (OCI and file kernels; Debian kernels are read from their .deb).
var ErrNoModuleIndex = errors.New("no module index for this kernel")

// moduleRE matches a module in a Debian kernel package.
var moduleRE = regexp.MustCompile(`^(?:usr/)?lib/modules/([^/]+)/kernel/.*/([^/]+)\.ko(\.xz|\.zst|\.gz)?$`)

// maxModule bounds one decompressed module (the largest Debian cloud
// module, amdgpu aside, is a few MB).
const maxModule = 256 << 20

// indexModules reads every module of a package's data.tar: the kfuncs each
// defines and the struct_ops types each registers.
//
// A kfunc is a function a module lists in a BTF ID set: BTF_ID(func, name)
// and BTF_ID_FLAGS leave a local symbol __BTF_ID__func__<name>__<n> in
// .BTF_ids (include/linux/btf_ids.h), which Debian's modules keep (they are
// stripped of debug sections only). Only names the module itself defines
// as a function count: a set may name a vmlinux function too. A struct_ops
// type is registered with register_bpf_struct_ops(), which looks up the
// wrapper struct bpf_struct_ops_<type> in the module's BTF (6.9,
// kernel/bpf/bpf_struct_ops.c); the module's split BTF only holds strings
// vmlinux lacks, so that name in its string table is its own.
func indexModules(data io.Reader) (*ModuleIndex, error) {
	idx := &ModuleIndex{Schema: ModuleIndexSchema, Kfuncs: map[string]string{}, StructOps: map[string]string{}}
	tr := tar.NewReader(data)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		name, err := cleanEntryName(hdr.Name)
		if err != nil {
			return nil, err
		}
		m := moduleRE.FindStringSubmatch(name)
		if m == nil || hdr.Typeflag != tar.TypeReg {
			continue
		}
		raw, err := readModule(tr, m[3])
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w", name, err)
		}
		// The kernel's module names use _ where file names may use -.
		mod := strings.ReplaceAll(m[2], "-", "_")
		kfuncs, structOps, err := moduleBPF(raw)
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w", name, err)
		}
		idx.Release = m[1]
		idx.Modules++
		for _, k := range kfuncs {
			if prev, ok := idx.Kfuncs[k]; !ok || mod < prev {
				idx.Kfuncs[k] = mod
			}
		}
		for _, s := range structOps {
			if prev, ok := idx.StructOps[s]; !ok || mod < prev {
				idx.StructOps[s] = mod
			}
		}
	}
	return idx, nil
}

// readModule reads one module file, decompressing it as its suffix says
// (Debian compresses modules with xz since 6.x in trixie).
func readModule(r io.Reader, suffix string) ([]byte, error) {
	switch suffix {
	case ".xz":
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = xr
	case ".zst":
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case ".gz":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer gr.Close()
		r = gr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxModule+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModule {
		return nil, fmt.Errorf("over %d bytes", maxModule)
	}
	return b, nil
}

// moduleBPF returns the kfuncs a module defines and the struct_ops types it
// registers, sorted.
func moduleBPF(raw []byte) (kfuncs, structOps []string, err error) {
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	syms, err := ef.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, nil, err
	}
	defined := map[string]bool{}
	var listed []string
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			defined[s.Name] = true
		}
		if rest, ok := strings.CutPrefix(s.Name, "__BTF_ID__func__"); ok {
			// __BTF_ID__func__<name>__<counter>: the name may hold "__".
			if i := strings.LastIndex(rest, "__"); i > 0 {
				listed = append(listed, rest[:i])
			}
		}
	}
	for _, n := range listed {
		if defined[n] {
			kfuncs = append(kfuncs, n)
		}
	}
	if sec := ef.Section(".BTF"); sec != nil {
		if b, err := sec.Data(); err == nil {
			for _, s := range btfStrings(b, ef.ByteOrder) {
				if t, ok := strings.CutPrefix(s, "bpf_struct_ops_"); ok && t != "" {
					structOps = append(structOps, t)
				}
			}
		}
	}
	slices.Sort(kfuncs)
	slices.Sort(structOps)
	return slices.Compact(kfuncs), slices.Compact(structOps), nil
}

// btfStrings returns the strings of a raw BTF blob's string section
// (struct btf_header, include/uapi/linux/btf.h); nil when it is malformed.
func btfStrings(b []byte, bo binary.ByteOrder) []string {
	if len(b) < 24 || bo.Uint16(b) != 0xeb9f {
		return nil
	}
	hdrLen := uint64(bo.Uint32(b[4:]))
	strOff, strLen := uint64(bo.Uint32(b[16:])), uint64(bo.Uint32(b[20:]))
	start := hdrLen + strOff
	if start > uint64(len(b)) || strLen > uint64(len(b))-start {
		return nil
	}
	var out []string
	for _, s := range bytes.Split(b[start:start+strLen], []byte{0}) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

// ModuleIndex returns the module index of spec's kernel, fetching the
// kernel first if needed. It is built once per kernel, from the same
// Debian package the kernel came from (downloaded again, and verified as
// at fetch: signed InRelease, Packages index, the .deb's size and SHA256),
// and kept as a blob named in the kernel's record, verified on every use
// as the image is. A kernel not from a Debian package has none
// (ErrNoModuleIndex).
func (f *Fetcher) ModuleIndex(ctx context.Context, spec catalog.KernelSpec) (*ModuleIndex, error) {
	k, err := f.Fetch(ctx, spec)
	if err != nil {
		return nil, err
	}
	if k.Modules == "" {
		unlock, err := f.lock(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("module index of %s: %w", spec.Name, err)
		}
		defer unlock()
		if k, err = f.Fetch(ctx, spec); err != nil {
			return nil, err
		}
		if k.Modules == "" {
			if k.Modules, err = f.buildModuleIndex(ctx, spec); err != nil {
				return nil, fmt.Errorf("module index of %s: %w", spec.Name, err)
			}
		}
	}
	data, err := os.ReadFile(k.Modules)
	if err != nil {
		return nil, fmt.Errorf("module index of %s: %w", spec.Name, err)
	}
	var idx ModuleIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("module index of %s: %w", spec.Name, err)
	}
	if idx.Schema != ModuleIndexSchema {
		return nil, fmt.Errorf("module index of %s: schema %d, want %d", spec.Name, idx.Schema, ModuleIndexSchema)
	}
	return &idx, nil
}

// buildModuleIndex downloads the package spec's record names, indexes its
// modules, stores the index as a blob and adds it to the record. The
// caller holds the kernel's lock.
func (f *Fetcher) buildModuleIndex(ctx context.Context, spec catalog.KernelSpec) (string, error) {
	data, err := os.ReadFile(f.recordPath(spec))
	if err != nil {
		return "", err
	}
	r, err := parseRecord(data)
	if err != nil {
		return "", err
	}
	// "debian <suite> <package> <version>[ + companion][ (fell back ...)]"
	fs := strings.Fields(r.Source)
	if len(fs) < 4 || fs[0] != "debian" {
		return "", fmt.Errorf("%w (its source is %q)", ErrNoModuleIndex, r.Source)
	}
	suite, pkg, ver := fs[1], fs[2], fs[3]
	base, _ := f.mirrorFor(suite)
	if base == "" {
		return "", f.errNoMirror(suite)
	}
	arch := spec.Arch.DebianArch()
	index, err := f.debianIndex(ctx, base, suite, arch)
	if err != nil {
		return "", err
	}
	cands, err := selectPackages(index, func(n string) bool { return n == pkg }, arch)
	if err != nil {
		return "", err
	}
	var p *debPackage
	for i := range cands {
		if cands[i].Version.String() == ver {
			p = &cands[i]
		}
	}
	if p == nil {
		return "", fmt.Errorf("%s %s is no longer in %s: %w", pkg, ver, suite, errNotServed)
	}
	idx, err := f.downloadModuleIndex(ctx, spec.Name, base, *p)
	if err != nil {
		return "", err
	}
	idx.Package = fmt.Sprintf("debian %s %s %s", suite, pkg, ver)
	if idx.Release != "" && r.Release != "" && idx.Release != r.Release {
		return "", fmt.Errorf("%s holds modules for %s, not %s", pkg, idx.Release, r.Release)
	}
	js, err := json.MarshalIndent(idx, "", " ")
	if err != nil {
		return "", err
	}
	b, err := writeTemp(f.tmpDir(), bytes.NewReader(append(js, '\n')))
	if err != nil {
		return "", err
	}
	defer os.Remove(b.Path)
	ref, _, err := f.putBlob(b, f.blobCheck(spec, "module index"))
	if err != nil {
		return "", err
	}
	r.Modules = ref
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(f.recordPath(spec), append(out, '\n'), true); err != nil {
		return "", fmt.Errorf("store record: %w", err)
	}
	return f.verifyBlob(ref, f.blobCheck(spec, "module index"), false)
}

// downloadModuleIndex downloads p, checks it against the index and reads
// its modules.
func (f *Fetcher) downloadModuleIndex(ctx context.Context, kernel, base string, p debPackage) (*ModuleIndex, error) {
	tmp, err := f.downloadDeb(ctx, kernel, base, p, f.tmpDir())
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	data, closeData, err := debData(tmp)
	if err != nil {
		return nil, fmt.Errorf("unpack deb: %w", err)
	}
	defer closeData()
	return indexModules(data)
}
