package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// sharedCache is the machine's kernel cache (as tests/ uses it), so that
// these real images are downloaded once per machine, not once per run.
func sharedCache(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("BPFMATRIX_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	require.NoError(t, err)
	return filepath.Join(d, "bpfmatrix")
}

// TestInspectRealImages reads Debian's own images: x86 bzImages whose
// payloads are lz4 (6.1) and zstd (6.12) and an arm64 Image. The release
// comes from the image (the boot header, and the same banner in the
// decompressed payload), and IKCONFIG is found exactly when the kernel's
// config says it is built in (Debian's say "# CONFIG_IKCONFIG is not set").
func TestInspectRealImages(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches Debian kernels")
	}
	f, err := New(Options{CacheDir: sharedCache(t)})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, format, compression string
		arch                      catalog.Arch
	}{
		{"debian-6.1", "x86 bzImage, boot protocol 2.15", "lz4", catalog.AMD64},
		{"debian-6.12", "x86 bzImage, boot protocol 2.15", "zstd", catalog.AMD64},
		{"debian-6.1-arm64", "arm64 Image", "", catalog.ARM64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := catalog.Default().Lookup(tc.name)
			require.NoError(t, err)
			k, err := f.Fetch(context.Background(), spec)
			require.NoError(t, err)
			quick, err := InspectImage(k.Image, false)
			require.NoError(t, err)
			assert.Equal(t, k.Release, quick.Release)
			assert.Nil(t, quick.Config, "not looked for")
			info, err := InspectImage(k.Image, true)
			require.NoError(t, err)
			assert.Equal(t, tc.arch, info.Arch)
			assert.Equal(t, tc.format, info.Format)
			assert.Equal(t, k.Release, info.Release)
			assert.Equal(t, spec.Version.Mainline(), info.Version.Mainline())
			cfg, err := os.ReadFile(k.Config)
			require.NoError(t, err)
			assert.Equal(t, strings.Contains(string(cfg), "\nCONFIG_IKCONFIG=y\n"), info.Config != nil)

			// The banner in the decompressed kernel says what the header
			// says: the payload was decompressed whole enough to find it.
			fh, err := os.Open(k.Image)
			require.NoError(t, err)
			defer fh.Close()
			st, err := fh.Stat()
			require.NoError(t, err)
			body, err := kernelBody(fh, st.Size())
			require.NoError(t, err)
			banner, _, _ := scanKernel(body, true, false)
			assert.Equal(t, k.Release, banner)
			if tc.compression != "" {
				assert.Contains(t, string(cfg), "\nCONFIG_KERNEL_"+strings.ToUpper(tc.compression)+"=y\n")
			}
		})
	}
}

// TestInspectRefuses: what is not a bootable kernel with a version string
// wraps ErrNotKernelImage. The bzImage header is real (testdata: the first
// 24 KiB of Debian's 6.1 image); cut there, its payload does not
// decompress.
func TestInspectRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	head, err := os.ReadFile("testdata/vmlinuz-6.1.0-57-cloud-amd64.head")
	require.NoError(t, err)
	armHead, err := os.ReadFile("testdata/vmlinuz-6.1-arm64.head")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"empty", write("empty", nil), "not a kernel image (empty file)"},
		{"text", write("text", []byte("hello\n")), "not a kernel image (6 bytes with no x86 boot header"},
		{"program", "/bin/true", "not a kernel image (x86-64 ELF"},
		{"truncated bzImage payload", write("bzImage", head), "not a kernel image (x86 bzImage, boot protocol 2.15: payload at"},
		{"arm64 Image without a banner", write("Image", armHead), `not a kernel image (arm64 Image without a "Linux version" string)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := InspectImage(tc.path, true)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrNotKernelImage), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// Without the config the payload is not decompressed, but it is
	// still located: a truncated one is refused all the same.
	_, err = InspectImage(write("bzImage2", head), false)
	require.ErrorIs(t, err, ErrNotKernelImage)
	assert.Contains(t, err.Error(), "payload at")
}

// TestScanKernelIKCONFIG reads an IKCONFIG block laid out as
// kernel/configs.c lays it out ("IKCFG_ST", the gzipped .config,
// "IKCFG_ED") around this machine's real config data
// (testdata/ikconfig-6.18.44.config.gz: /proc/config.gz, which serves that
// same gzip member), straddling the scanner's chunk boundary, with the
// banner before or after it. No Debian image has IKCONFIG; an image that
// does (a kernel built here with CONFIG_IKCONFIG=y) is the end-to-end check.
func TestScanKernelIKCONFIG(t *testing.T) {
	gz, err := os.ReadFile("testdata/ikconfig-6.18.44.config.gz")
	require.NoError(t, err)
	want := gunzip(t, gz)
	block := append(append([]byte("IKCFG_ST"), gz...), "IKCFG_ED"...)
	banner := []byte("Linux version 6.18.44-fc-v1045 (root@build) #1 SMP\x00")
	for _, tc := range []struct {
		name   string
		layout [][]byte
	}{
		{"banner first, block across the chunk boundary", [][]byte{banner, make([]byte, 1<<20-100), block, make([]byte, 4096)}},
		{"block first", [][]byte{make([]byte, 300), block, make([]byte, 2<<20), banner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			for _, b := range tc.layout {
				body = append(body, b...)
			}
			rel, cfg, err := scanKernel(bytes.NewReader(body), true, true)
			require.NoError(t, err)
			assert.Equal(t, "6.18.44-fc-v1045", rel)
			assert.Equal(t, want, cfg)
		})
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}
