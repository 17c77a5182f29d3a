package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/bpfmatrix/bpfmatrix/internal/digest"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/kbuild"
	"github.com/spf13/pflag"
)

// What --kernel and --kernels accept, in the order tried:
//
//   - oci:REGISTRY/REPO:TAG or oci:REGISTRY/REPO@sha256:DIGEST, an image
//     pulled through internal/fetch's OCI path (for the host's
//     architecture) before anything boots;
//   - a name in the catalog: the embedded one with the user's
//     (--catalog, BPFMATRIX_CATALOG) merged over it;
//   - a path to a kernel image (anything with a '/' in it, or an existing
//     file): its architecture from its format, its release and version
//     from its own version string, its config from --kernel-config or
//     from its IKCONFIG. It is named after its release.
//
// Anything else, and every input that cannot be a kernel (not a kernel
// image, another architecture's, unreadable, empty, a malformed reference,
// a bad catalog), is refused with one line and exit status 2 before any VM
// boots.

// kernelUsage is --kernel's help.
const kernelUsage = "kernel to boot: a catalog name (see 'bpfmatrix kernels list'), a kernel image path, or oci:REGISTRY/REPO:TAG"

// kernelConfigFlag registers --kernel-config.
func kernelConfigFlag(fl *pflag.FlagSet, p *string) {
	fl.StringVar(p, "kernel-config", "", "kernel config `FILE` for a kernel given by path (default: the image's embedded IKCONFIG, if any)")
}

// catalogLayers are the catalog files merged over the embedded catalog,
// later ones winning: today only the user's (--catalog, else
// BPFMATRIX_CATALOG). Kernels recorded by other commands (built ones)
// belong in a layer before the user's, so that a user entry of the same
// name still wins.
func (g *globals) catalogLayers() []string {
	if g.catalogFile == "" {
		return nil
	}
	return []string{g.catalogFile}
}

// catalog is the embedded catalog with catalogLayers merged over it. A
// catalog file that cannot be read or parsed is bad input.
func (g *globals) catalog() (*catalog.Catalog, error) {
	// Kernels built by `kernels build` first, the user's catalogs over them.
	cat, err := kbuild.WithBuilt(catalog.Default(), g.cacheDir)
	if err != nil {
		return nil, usageError("%v", err)
	}
	for _, file := range g.catalogLayers() {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageError("read catalog: %v", err)
		}
		layer, err := catalog.ParseFile(file, data)
		if err != nil {
			return nil, usageError("%v", err)
		}
		cat = cat.Merge(layer)
	}
	return cat, nil
}

// resolveKernel resolves one --kernel value (resolveKernels).
func (g *globals) resolveKernel(ctx context.Context, arg, kernelConfig string) (catalog.KernelSpec, error) {
	if arg == "" {
		return catalog.KernelSpec{}, usageError("--kernel is required (a catalog name, a kernel image path or oci:REGISTRY/REPO:TAG; see 'bpfmatrix kernels list')")
	}
	specs, err := g.resolveKernels(ctx, []string{arg}, kernelConfig, false)
	if err != nil {
		return catalog.KernelSpec{}, err
	}
	return specs[0], nil
}

// resolveKernels turns --kernel/--kernels values into specs. OCI
// references are pulled into the cache now (so that an image that is no
// kernel is refused before anything boots, and the version is known),
// unless offline, which leaves their version to the image.
func (g *globals) resolveKernels(ctx context.Context, args []string, kernelConfig string, offline bool) ([]catalog.KernelSpec, error) {
	cat, err := g.catalog()
	if err != nil {
		return nil, err
	}
	paths := 0
	for _, a := range args {
		if isKernelPath(cat, a) {
			paths++
		}
	}
	if kernelConfig != "" && paths != 1 {
		return nil, usageError("--kernel-config %s: applies to exactly one kernel given by path, and %d are", kernelConfig, paths)
	}
	var f *fetch.Fetcher
	specs := make([]catalog.KernelSpec, 0, len(args))
	used := map[string]bool{}
	for _, a := range args {
		var spec catalog.KernelSpec
		switch {
		case strings.HasPrefix(a, catalog.OCIPrefix):
			src, err := catalog.ParseOCIRef(a)
			if err != nil {
				return nil, usageError("%v", err)
			}
			spec = catalog.KernelSpec{Name: ociName(src), Arch: catalog.ArchOf(runtime.GOARCH), Sources: []catalog.Source{{OCI: src}}}
			if !offline {
				if f == nil {
					if f, err = g.fetcher(nil); err != nil {
						return nil, err
					}
				}
				if _, err := badImage(f.Fetch(ctx, spec)); err != nil {
					return nil, err
				}
			}
		case !isKernelPath(cat, a):
			s, err := cat.Lookup(a)
			if err != nil {
				return nil, usageError("%v (a kernel is a catalog name, a kernel image path or oci:REGISTRY/REPO:TAG)", err)
			}
			if spec, err = pinFiles(s); err != nil {
				return nil, usageError("kernel %s: %v", s.Name, err)
			}
		default:
			if spec, err = pathSpec(a, kernelConfig); err != nil {
				return nil, err
			}
		}
		if used[spec.Name] {
			// Two images with one release (or a release that is also a
			// catalog name): tell them apart by content.
			spec.Name += "-" + shortDigest(spec)
		}
		if used[spec.Name] {
			return nil, usageError("kernel %s given twice", a)
		}
		used[spec.Name] = true
		specs = append(specs, spec)
	}
	return specs, nil
}

// isKernelPath says whether a names a file rather than a catalog entry:
// catalog names win, then anything with a path separator or that exists.
func isKernelPath(cat *catalog.Catalog, a string) bool {
	if strings.HasPrefix(a, catalog.OCIPrefix) {
		return false
	}
	if _, err := cat.Lookup(a); err == nil {
		return false
	}
	if strings.ContainsRune(a, filepath.Separator) {
		return true
	}
	_, err := os.Lstat(a)
	return err == nil
}

// pathSpec describes the kernel image at p: arch, release and version from
// the image itself, never from its file name; the image is pinned by its
// digest so that a rebuilt image at the same path is a new kernel.
func pathSpec(p, kernelConfig string) (catalog.KernelSpec, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return catalog.KernelSpec{}, usageError("kernel %s: %v", p, err)
	}
	config := ""
	if kernelConfig != "" {
		if config, err = checkKernelConfig(kernelConfig); err != nil {
			return catalog.KernelSpec{}, err
		}
	}
	// The config is not read here: fetch reads IKCONFIG once, when the
	// image enters the cache, and never again on a hit.
	info, err := fetch.InspectImage(abs, false)
	if err != nil {
		return catalog.KernelSpec{}, usageError("kernel %s: %v", p, err)
	}
	digest, err := sha256File(abs)
	if err != nil {
		return catalog.KernelSpec{}, usageError("kernel %s: %v", p, err)
	}
	src := &catalog.FileSource{Image: abs, Config: config, Digest: digest}
	return catalog.KernelSpec{
		Name: releaseName(info.Release), Version: info.Version, Arch: info.Arch,
		Sources: []catalog.Source{{File: src}},
	}, nil
}

// checkKernelConfig refuses a --kernel-config that is not a kernel config:
// unreadable, empty, or without a CONFIG_ line.
func checkKernelConfig(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", usageError("--kernel-config %s: %v", p, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", usageError("--kernel-config %v", err)
	}
	if !st.Mode().IsRegular() {
		return "", usageError("--kernel-config %s: not a regular file", p)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return "", usageError("--kernel-config %v", err)
	}
	if !bytes.Contains(data, []byte("CONFIG_")) {
		return "", usageError("--kernel-config %s: not a kernel config (no CONFIG_ lines in %d bytes)", p, len(data))
	}
	return abs, nil
}

// pinFiles pins a catalog entry's file sources to their current content,
// so that the cache serves a changed file as the new kernel it is. A file
// that is missing is left for Fetch to report (another source may work).
func pinFiles(spec catalog.KernelSpec) (catalog.KernelSpec, error) {
	srcs := make([]catalog.Source, len(spec.Sources))
	for i, s := range spec.Sources {
		srcs[i] = s
		if s.File == nil || s.File.Digest != "" {
			continue
		}
		if _, err := os.Stat(s.File.Image); errors.Is(err, os.ErrNotExist) {
			continue
		}
		d, err := sha256File(s.File.Image)
		if err != nil {
			return spec, err
		}
		fs := *s.File
		fs.Digest = d
		srcs[i].File = &fs
	}
	spec.Sources = srcs
	return spec, nil
}

// releaseName makes a kernel name (catalog.ValidName) of a release:
// 6.12.117+deb13-cloud-amd64 -> 6.12.117-deb13-cloud-amd64.
func releaseName(release string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(release) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	name := strings.Trim(b.String(), "-.")
	if !catalog.ValidName(name) {
		return "kernel"
	}
	return name
}

// ociName names a kernel given by reference: the repository's last
// component and the tag (ci-kernels-6.1), or the digest's first 12 digits.
func ociName(src *catalog.OCISource) string {
	repo := src.Repository[strings.LastIndexByte(src.Repository, '/')+1:]
	if src.Digest != "" {
		return releaseName(repo + "-" + strings.TrimPrefix(src.Digest, "sha256:")[:12])
	}
	return releaseName(repo + "-" + src.Tag)
}

// shortDigest is 8 hex digits identifying spec's first source's content.
func shortDigest(spec catalog.KernelSpec) string {
	h := sha256.Sum256([]byte(spec.Sources[0].String()))
	if f := spec.Sources[0].File; f != nil && f.Digest != "" {
		return strings.TrimPrefix(f.Digest, "sha256:")[:8]
	}
	return hex.EncodeToString(h[:4])
}

// sha256File is the "sha256:"-prefixed digest the catalog pins a file by.
func sha256File(p string) (string, error) {
	d, err := digest.File(p)
	if err != nil {
		return "", err
	}
	return "sha256:" + d, nil
}
