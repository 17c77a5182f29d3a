package fetch

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// ErrNotKernelImage is wrapped by Fetch (and by a cache hit) when a kernel
// image is not one QEMU could boot for the catalog entry's architecture: an
// empty file, a program, a truncated header, an image for another
// architecture. It is bad input, found before anything boots; nothing
// enters the cache.
var ErrNotKernelImage = errors.New("not a kernel image")

// checkImageFile runs checkImage on the file at p.
func checkImageFile(p string) (arch, format string, err error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", "", err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return "", "", err
	}
	return checkImage(fh, st.Size())
}

// checkImage says which architecture a kernel image boots on and in which
// format, from its header only (a few hundred bytes; gzip: the first 64
// decompressed bytes), or returns an error wrapping ErrNotKernelImage. It
// accepts what QEMU's -kernel loads for the catalog's architectures:
//
//   - x86 bzImage: boot sector flag 0xAA55 at 0x1fe and "HdrS" at 0x202
//     (Documentation/arch/x86/boot.rst), with a protected-mode part after
//     the setup sectors the header declares (QEMU: "invalid kernel header"
//     otherwise); 64-bit unless xloadflags (protocol 2.12+) says not;
//   - arm64 Image: magic "ARM\x64" at 56 (Documentation/arch/arm64/booting.rst),
//     plain or gzip-compressed (Debian's arm64 vmlinuz; QEMU unpacks it);
//   - an EFI zboot image ("MZ", "zimg" at 4; drivers/firmware/efi/libstub/zboot-header.S)
//     whose PE machine is arm64;
//   - an ELF vmlinux for arm64, or for x86-64 with the PVH entry note
//     (XEN_ELFNOTE_PHYS32_ENTRY) QEMU needs to boot an ELF on x86.
func checkImage(r io.ReaderAt, size int64) (arch, format string, err error) {
	if size == 0 {
		return "", "", fmt.Errorf("%w (empty file)", ErrNotKernelImage)
	}
	hdr := make([]byte, min(size, 0x400))
	if _, err := r.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return "", "", fmt.Errorf("read image header: %w", err)
	}
	switch {
	case len(hdr) >= 0x240 && string(hdr[0x202:0x206]) == "HdrS" && hdr[0x1fe] == 0x55 && hdr[0x1ff] == 0xaa:
		setupSects := int64(hdr[0x1f1])
		if setupSects == 0 {
			setupSects = 4
		}
		if (setupSects+1)*512 >= size {
			return "", "", fmt.Errorf("%w (x86 boot header declares %d bytes of setup code; the file has %d: truncated)", ErrNotKernelImage, (setupSects+1)*512, size)
		}
		version := binary.LittleEndian.Uint16(hdr[0x206:])
		arch := string(catalog.AMD64)
		if version >= 0x20c && hdr[0x236]&1 == 0 { // XLF_KERNEL_64
			arch = "i386"
		}
		return arch, fmt.Sprintf("x86 bzImage, boot protocol %d.%02d", version>>8, version&0xff), nil
	case len(hdr) >= 64 && string(hdr[56:60]) == "ARM\x64":
		return string(catalog.ARM64), "arm64 Image", nil
	case len(hdr) >= 3 && hdr[0] == 0x1f && hdr[1] == 0x8b && hdr[2] == 8:
		zr, err := gzip.NewReader(io.NewSectionReader(r, 0, size))
		if err != nil {
			return "", "", fmt.Errorf("%w (gzip: %v)", ErrNotKernelImage, err)
		}
		inner := make([]byte, 64)
		if _, err := io.ReadFull(zr, inner); err != nil {
			return "", "", fmt.Errorf("%w (gzip: %v)", ErrNotKernelImage, err)
		}
		if string(inner[56:60]) == "ARM\x64" {
			return string(catalog.ARM64), "arm64 Image, gzip", nil
		}
		return "", "", fmt.Errorf("%w (gzip file without an arm64 Image header inside)", ErrNotKernelImage)
	case len(hdr) >= 0x40 && string(hdr[0:2]) == "MZ" && string(hdr[4:8]) == "zimg":
		pe := int64(binary.LittleEndian.Uint32(hdr[0x3c:]))
		sig := make([]byte, 6)
		if pe <= 0 || pe > size-6 {
			return "", "", fmt.Errorf("%w (EFI zboot header without a PE header)", ErrNotKernelImage)
		}
		if _, err := r.ReadAt(sig, pe); err != nil || string(sig[:4]) != "PE\x00\x00" {
			return "", "", fmt.Errorf("%w (EFI zboot header without a PE header)", ErrNotKernelImage)
		}
		switch m := binary.LittleEndian.Uint16(sig[4:]); m {
		case 0xaa64:
			return string(catalog.ARM64), "arm64 EFI zboot image", nil
		default:
			return fmt.Sprintf("PE machine %#x", m), "EFI zboot image", nil
		}
	case len(hdr) >= 4 && string(hdr[:4]) == "\x7fELF":
		return checkELFImage(r, size)
	}
	return "", "", fmt.Errorf("%w (%d bytes with no x86 boot header, arm64 Image header, EFI zboot or ELF signature)", ErrNotKernelImage, size)
}

// checkELFImage accepts an arm64 ELF vmlinux, or an x86-64 one carrying the
// PVH entry note: without it QEMU refuses the ELF ("Error loading
// uncompressed kernel without PVH ELF Note").
func checkELFImage(r io.ReaderAt, size int64) (string, string, error) {
	ef, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return "", "", fmt.Errorf("%w (ELF: %v)", ErrNotKernelImage, err)
	}
	defer ef.Close()
	switch ef.Machine {
	case elf.EM_AARCH64:
		return string(catalog.ARM64), "arm64 ELF vmlinux", nil
	case elf.EM_X86_64:
		if hasPVHNote(ef) {
			return string(catalog.AMD64), "x86-64 ELF vmlinux with PVH entry", nil
		}
		return "", "", fmt.Errorf("%w (x86-64 ELF %s without the PVH entry note QEMU needs; use the bzImage)", ErrNotKernelImage, ef.Type)
	}
	return "", "", fmt.Errorf("%w (ELF %s for %s)", ErrNotKernelImage, ef.Type, ef.Machine)
}

// hasPVHNote looks for the Xen note XEN_ELFNOTE_PHYS32_ENTRY (type 18,
// include/xen/interface/elfnote.h) in the ELF's PT_NOTE segments.
func hasPVHNote(ef *elf.File) bool {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			continue
		}
		for len(b) >= 12 {
			namesz := int(ef.ByteOrder.Uint32(b[0:]))
			descsz := int(ef.ByteOrder.Uint32(b[4:]))
			typ := ef.ByteOrder.Uint32(b[8:])
			nameEnd := 12 + (namesz+3)&^3
			end := nameEnd + (descsz+3)&^3
			if namesz < 0 || descsz < 0 || nameEnd > len(b) || end > len(b) || end < nameEnd {
				break
			}
			if typ == 18 && bytes.Equal(bytes.TrimRight(b[12:12+namesz], "\x00"), []byte("Xen")) {
				return true
			}
			b = b[end:]
		}
	}
	return false
}
