package fetch

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// debData returns the decompressed data.tar stream of a .deb (an ar archive:
// debian-binary, control.tar.*, data.tar.*; see deb(5)).
func debData(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, nil, fmt.Errorf("not an ar archive")
	}
	for {
		hdr := make([]byte, 60)
		if _, err := io.ReadFull(br, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("no data.tar member")
			}
			return nil, nil, fmt.Errorf("read ar header: %w", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, nil, fmt.Errorf("malformed ar header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return nil, nil, fmt.Errorf("malformed ar member size %q", hdr[48:58])
		}
		body := io.LimitReader(br, size)
		if strings.HasPrefix(name, "data.tar") {
			return decompress(name, body)
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil, nil, fmt.Errorf("read ar member %s: %w", name, err)
		}
		if size%2 == 1 {
			if _, err := br.Discard(1); err != nil {
				return nil, nil, fmt.Errorf("read ar padding: %w", err)
			}
		}
	}
}

func decompress(name string, r io.Reader) (io.Reader, func(), error) {
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(bufio.NewReaderSize(r, 1<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", name, err)
		}
		return xr, func() {}, nil
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", name, err)
		}
		return zr, zr.Close, nil
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", name, err)
		}
		return gr, func() { gr.Close() }, nil
	case name == "data.tar":
		return r, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unsupported compression in %s", name)
}

type fileRole int

const (
	roleNone fileRole = iota
	roleImage
	roleConfig
	roleSystemMap
)

var (
	// Debian up to 6.12: /boot/vmlinuz-<release>, /boot/config-<release>.
	bootRE = regexp.MustCompile(`^boot/(vmlinuz|config|System\.map)-(.+)$`)
	// Debian linux-binary-*/linux-base-* (7.x): /usr/lib/modules/<release>/vmlinuz.
	modulesRE = regexp.MustCompile(`^(?:usr/)?lib/modules/([^/]+)/(vmlinuz|config|System\.map)$`)
	// cilium/ci-kernels: /boot/vmlinuz and optionally /boot/config.
	plainBootRE = regexp.MustCompile(`^boot/(vmlinuz|config|System\.map)$`)
	// little-vm-helper kernel images: /data/kernels/<tag version>/boot/vmlinuz-<release>
	// (lvh cmd/lvh/kernels/pull.go extracts data/kernels/<v>).
	lvhRE = regexp.MustCompile(`^data/kernels/[^/]+/(boot/.+)$`)
)

// classify maps an archive path (already cleaned, relative) to the kernel
// file it holds and the kernel release the path names ("" if none).
func classify(name string) (fileRole, string) {
	if m := lvhRE.FindStringSubmatch(name); m != nil {
		name = m[1]
	}
	var kind, rel string
	if m := bootRE.FindStringSubmatch(name); m != nil {
		kind, rel = m[1], m[2]
	} else if m := modulesRE.FindStringSubmatch(name); m != nil {
		kind, rel = m[2], m[1]
	} else if m := plainBootRE.FindStringSubmatch(name); m != nil {
		kind = m[1]
	} else {
		return roleNone, ""
	}
	switch kind {
	case "vmlinuz":
		return roleImage, rel
	case "config":
		return roleConfig, rel
	default:
		return roleSystemMap, rel
	}
}

// cleanEntryName returns the entry's path relative to the archive root, or an
// integrity error when it is absolute or escapes the root through "..".
func cleanEntryName(name string) (string, error) {
	if path.IsAbs(name) {
		return "", &IntegrityError{What: "tar entry " + strconv.Quote(name), Err: errors.New("absolute path escapes its directory")}
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", &IntegrityError{What: "tar entry " + strconv.Quote(name), Err: errors.New("path escapes its directory")}
	}
	return c, nil
}

// tempBlob is an extracted file waiting in the cache's tmp dir.
type tempBlob struct {
	Path   string
	Digest string // sha256:<hex>
	Size   int64
}

// kernelFiles is what an archive yielded, per release.
type kernelFiles struct {
	Release   string
	Image     *tempBlob
	Config    *tempBlob
	SystemMap *tempBlob
}

func (k *kernelFiles) remove() {
	for _, b := range []*tempBlob{k.Image, k.Config, k.SystemMap} {
		if b != nil {
			os.Remove(b.Path)
		}
	}
}

// extractKernel reads a tar stream and writes the kernel image, config and
// System.map it finds into tmpDir. Every entry name is checked before
// anything else happens to it. wantRelease restricts the search to one
// release ("" accepts any). Reading stops once image and config of one
// release are in and the archive has moved past their directory (or
// System.map is in too): Debian packages list /boot first, so the modules
// tree after it (tens of megabytes) is never decompressed.
func extractKernel(r io.Reader, tmpDir, wantRelease string, needImage bool) (*kernelFiles, error) {
	found := map[string]*kernelFiles{}
	cleanup := func() {
		for _, k := range found {
			k.remove()
		}
	}
	tr := tar.NewReader(r)
	var done *kernelFiles
	var doneDir string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("read tar: %w", err)
		}
		name, err := cleanEntryName(hdr.Name)
		if err != nil {
			cleanup()
			return nil, err
		}
		if done != nil && path.Dir(name) != doneDir {
			// Image and config are in; the directory that held them is
			// finished (Debian's System.map there is only a stub anyway).
			break
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		role, rel := classify(name)
		if role == roleNone || (wantRelease != "" && rel != "" && rel != wantRelease) {
			continue
		}
		b, err := writeTemp(tmpDir, tr)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("extract %s: %w", name, err)
		}
		if role == roleSystemMap && isPlaceholderSystemMap(b.Path) {
			// linux-base-* ships a one-line stub pointing at the -dbg package.
			os.Remove(b.Path)
			continue
		}
		k := found[rel]
		if k == nil {
			k = &kernelFiles{Release: rel}
			found[rel] = k
		}
		slot := map[fileRole]**tempBlob{roleImage: &k.Image, roleConfig: &k.Config, roleSystemMap: &k.SystemMap}[role]
		if *slot != nil {
			os.Remove((*slot).Path)
		}
		*slot = b
		if k.Image != nil && k.Config != nil {
			if k.SystemMap != nil {
				break
			}
			done, doneDir = k, path.Dir(name)
		}
	}
	var pick *kernelFiles
	for _, k := range found {
		if needImage && k.Image == nil {
			continue
		}
		if !needImage && k.Config == nil && k.SystemMap == nil {
			continue
		}
		if pick != nil {
			cleanup()
			return nil, fmt.Errorf("archive holds kernels for several releases (%s, %s)", pick.Release, k.Release)
		}
		pick = k
	}
	for _, k := range found {
		if k != pick {
			k.remove()
		}
	}
	if pick == nil {
		if needImage {
			return nil, errors.New("no kernel image (boot/vmlinuz*, usr/lib/modules/*/vmlinuz) in archive")
		}
		return &kernelFiles{Release: wantRelease}, nil
	}
	if pick.Release == "" {
		pick.Release = wantRelease
	}
	return pick, nil
}

func writeTemp(dir string, r io.Reader) (*tempBlob, error) {
	f, err := os.CreateTemp(dir, "extract-*")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return &tempBlob{Path: f.Name(), Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

func isPlaceholderSystemMap(p string) bool {
	st, err := os.Stat(p)
	if err != nil || st.Size() > 4096 {
		return false
	}
	b, _ := os.ReadFile(p)
	return bytes.Contains(b, []byte("The real System.map is in"))
}
