package fetch

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
	xi2xz "github.com/xi2/xz"
)

// ImageInfo is what a kernel image says about itself.
type ImageInfo struct {
	// Arch is the architecture the image boots on, from its format.
	Arch catalog.Arch
	// Format describes the image ("x86 bzImage, boot protocol 2.15").
	Format string
	// Release is the kernel's `uname -r`, from the image's own version
	// string: the x86 boot header's kernel_version, else the
	// "Linux version ..." banner in the (decompressed) kernel.
	Release string
	// Version is Release's mainline version.
	Version catalog.Version
	// Config is the kernel's .config from its embedded IKCONFIG
	// (CONFIG_IKCONFIG), nil when the image has none.
	Config []byte
}

// InspectImage reads a kernel image: its architecture and format
// (checkImage), its release and version, and its embedded config. Whatever
// is not a bootable x86_64 or arm64 kernel, or carries no version string,
// wraps ErrNotKernelImage. It decompresses the payload (gzip, xz, lzma,
// zstd, lz4, bzip2; what the kernel's own build offers) to find the banner
// and the IKCONFIG block, so it costs up to a second for a large image.
//
// Without withConfig, Config is left nil and an x86 bzImage's payload is
// only located, not decompressed (its header has the version string).
func InspectImage(p string, withConfig bool) (*ImageInfo, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	arch, format, err := checkImage(fh, st.Size())
	if err != nil {
		return nil, err
	}
	if arch != string(catalog.AMD64) && arch != string(catalog.ARM64) {
		return nil, fmt.Errorf("%w (%s, which boots on %s; want %s or %s)", ErrNotKernelImage, format, arch, catalog.AMD64, catalog.ARM64)
	}
	info := &ImageInfo{Arch: catalog.Arch(arch), Format: format, Release: bzImageRelease(fh, st.Size())}
	var (
		banner  string
		config  []byte
		scanErr error
	)
	// Finding the payload and its compression is cheap and refuses a
	// truncated image; decompressing it is not, and is done only when
	// the header has no version string or the config is wanted.
	body, err := kernelBody(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNotKernelImage, format, err)
	}
	if info.Release == "" || withConfig {
		banner, config, scanErr = scanKernel(body, info.Release == "", withConfig)
	}
	if info.Release == "" {
		info.Release = banner
	}
	if info.Release == "" {
		if scanErr != nil {
			return nil, fmt.Errorf("%w (%s without a version string: decompress: %v)", ErrNotKernelImage, format, scanErr)
		}
		return nil, fmt.Errorf("%w (%s without a \"Linux version\" string)", ErrNotKernelImage, format)
	}
	if info.Version, err = catalog.ParseVersion(info.Release); err != nil {
		return nil, fmt.Errorf("%w (%s with version string %q)", ErrNotKernelImage, format, info.Release)
	}
	info.Config = config
	return info, nil
}

// bzImageRelease reads the x86 boot header's kernel_version string
// (Documentation/arch/x86/boot.rst: a pointer at 0x20e, 0x200 less than
// the string's offset), "" for other formats.
func bzImageRelease(r io.ReaderAt, size int64) string {
	hdr := make([]byte, 0x210)
	if _, err := r.ReadAt(hdr, 0); err != nil || string(hdr[0x202:0x206]) != "HdrS" {
		return ""
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	if off >= size {
		return ""
	}
	buf := make([]byte, 256)
	n, _ := r.ReadAt(buf, off)
	s := string(buf[:n])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if fs := strings.Fields(s); len(fs) > 0 {
		return fs[0]
	}
	return ""
}

// kernelBody returns the uncompressed kernel inside an image: a bzImage's
// payload (payload_offset and payload_length, boot protocol 2.08+), an
// EFI zboot image's payload (drivers/firmware/efi/libstub/zboot-header.S:
// offset and size at 8 and 12), a gzip-compressed arm64 Image, or the file
// itself (arm64 Image, ELF vmlinux).
func kernelBody(r io.ReaderAt, size int64) (io.Reader, error) {
	hdr := make([]byte, min(size, 0x400))
	if _, err := r.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case len(hdr) >= 0x250 && string(hdr[0x202:0x206]) == "HdrS":
		if binary.LittleEndian.Uint16(hdr[0x206:]) < 0x208 {
			return nil, errors.New("boot protocol before 2.08 has no payload fields")
		}
		setup := int64(hdr[0x1f1])
		if setup == 0 {
			setup = 4
		}
		start := (setup+1)*512 + int64(binary.LittleEndian.Uint32(hdr[0x248:]))
		length := int64(binary.LittleEndian.Uint32(hdr[0x24c:]))
		if start >= size || start+length > size || length == 0 {
			return nil, fmt.Errorf("payload at %d+%d outside the %d-byte file", start, length, size)
		}
		return decompressPayload(io.NewSectionReader(r, start, length))
	case len(hdr) >= 0x20 && string(hdr[0:2]) == "MZ" && string(hdr[4:8]) == "zimg":
		start := int64(binary.LittleEndian.Uint32(hdr[8:]))
		length := int64(binary.LittleEndian.Uint32(hdr[12:]))
		if start >= size || start+length > size || length == 0 {
			return nil, fmt.Errorf("zboot payload at %d+%d outside the %d-byte file", start, length, size)
		}
		return decompressPayload(io.NewSectionReader(r, start, length))
	case len(hdr) >= 2 && hdr[0] == 0x1f && hdr[1] == 0x8b:
		return decompressPayload(io.NewSectionReader(r, 0, size))
	}
	return io.NewSectionReader(r, 0, size), nil
}

// decompressPayload picks the decompressor by the payload's magic number. The
// kernel's lz4 is the legacy frame format (lib/decompress_unlz4.c), which
// pierrec/lz4's reader detects; its lzma is the "alone" format.
func decompressPayload(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(false)
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		// The kernel's xz payload carries the x86 (or arm) BCJ filter
		// (scripts/xz_wrap.sh), which ulikunitz/xz does not decode: its
		// output would be the kernel with call targets rewritten, IKCONFIG's
		// gzip stream damaged. xi2/xz, a port of XZ Embedded (the decoder the
		// kernel itself uses), decodes the filters.
		zr, err := xi2xz.NewReader(br, 0)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0x02, 0x21, 0x4c, 0x18}), bytes.HasPrefix(magic, []byte{0x04, 0x22, 0x4d, 0x18}):
		return lz4.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0x5d, 0, 0}):
		zr, err := lzma.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("lzma: %w", err)
		}
		return zr, nil
	}
	return nil, fmt.Errorf("payload compressed in an unknown format (magic % x)", magic)
}

var (
	bannerMarker = []byte("Linux version ")
	// kernel/configs.c wraps the gzipped .config in these markers.
	ikconfigStart = []byte("IKCFG_ST")
)

// scanKernel streams the uncompressed kernel looking for the version
// banner (when wantBanner) and the IKCONFIG block (when wantConfig); it
// stops once both are found. err is the stream's error when it ended
// early: a damaged payload, or the trailing size word the kernel's build
// appends, which the zstd and lz4 readers reject after the kernel itself.
func scanKernel(r io.Reader, wantBanner, wantConfig bool) (banner string, config []byte, err error) {
	const chunk = 1 << 20
	// keep is what is carried over between chunks so a marker or the
	// banner's text straddling a boundary is still seen whole.
	const keep = 512
	buf := make([]byte, 0, chunk+keep)
	for {
		n, rerr := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		eof := rerr != nil
		if wantBanner && banner == "" {
			banner = findBanner(buf, eof)
		}
		if wantConfig && config == nil {
			if i := bytes.Index(buf, ikconfigStart); i >= 0 {
				// A bufio.Reader is an io.ByteReader, so gzip reads
				// exactly its member and the scan can go on after it.
				rest := bufio.NewReader(io.MultiReader(bytes.NewReader(buf[i+len(ikconfigStart):]), r))
				if config, err = gunzipConfig(rest); err != nil {
					return banner, nil, fmt.Errorf("read IKCONFIG: %w", err)
				}
				if !wantBanner || banner != "" {
					return banner, config, nil
				}
				r, buf, eof = rest, buf[:0], false
				continue
			}
		}
		if (!wantBanner || banner != "") && (!wantConfig || config != nil) {
			return banner, config, nil
		}
		if eof {
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				rerr = nil
			}
			return banner, config, rerr
		}
		copy(buf, buf[len(buf)-keep:])
		buf = buf[:keep]
	}
}

// findBanner returns the release in the first "Linux version <release> "
// of b whose release starts with a digit; a match too close to b's end to
// be whole is left for the next chunk unless eof.
func findBanner(b []byte, eof bool) string {
	for off := 0; ; {
		i := bytes.Index(b[off:], bannerMarker)
		if i < 0 {
			return ""
		}
		start := off + i + len(bannerMarker)
		end := min(len(b), start+200)
		if end-start < 200 && !eof && bytes.IndexAny(b[start:end], " \x00\n") < 0 {
			return ""
		}
		if fs := strings.Fields(string(b[start:end])); len(fs) > 0 && fs[0][0] >= '0' && fs[0][0] <= '9' {
			r := fs[0]
			if j := strings.IndexByte(r, 0); j >= 0 {
				r = r[:j]
			}
			return r
		}
		off = start
	}
}

// gunzipConfig reads the one gzip member that follows IKCFG_ST, at most
// 16 MiB of config.
func gunzipConfig(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	cfg, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return nil, err
	}
	return cfg, nil
}
