package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKernelArgBadInput: a kernel given by path, OCI reference or user
// catalog that cannot be one is refused by every command that takes
// kernels, with one line and exit status 2, before anything is fetched or
// booted (the cache stays empty of kernels).
func TestKernelArgBadInput(t *testing.T) {
	tmp := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	empty := write("vmlinuz-6.1.0-57-cloud-amd64", nil)
	text := write("bzImage", []byte("not a kernel\n"))
	// The first 24 KiB of Debian's 6.1 bzImage (internal/fetch/testdata):
	// a real boot header whose payload is cut off.
	head, err := os.ReadFile("../../internal/fetch/testdata/vmlinuz-6.1.0-57-cloud-amd64.head")
	require.NoError(t, err)
	truncated := write("truncated-bzImage", head)
	config := write("config", []byte("CONFIG_BPF=y\n"))
	badCatalog := write("catalog.json", []byte("{\n \"schema\": 1,\n \"kernels\": [\n  {\"name\": \"mine\", \"version\": \"6.1\", \"arch\": \"mips\", \"sources\": [{\"file\": {\"image\": \"bzImage\"}}]}\n ]\n}\n"))
	emptyCatalog := write("empty.json", nil)
	loop := filepath.Join(objects, "loop.o")
	for _, tc := range []struct {
		name     string
		args     []string
		inStderr string
	}{
		{"fetch: empty image", []string{"kernels", "fetch", empty}, "kernel " + empty + ": not a kernel image (empty file)"},
		{"fetch: text file", []string{"kernels", "fetch", text}, "kernel " + text + ": not a kernel image (13 bytes with no x86 boot header"},
		{"fetch: truncated bzImage", []string{"kernels", "fetch", truncated}, "kernel " + truncated + ": not a kernel image (x86 bzImage, boot protocol 2.15: payload at"},
		{"fetch: a program", []string{"kernels", "fetch", "/bin/true"}, "kernel /bin/true: not a kernel image (x86-64 ELF"},
		{"fetch: directory", []string{"kernels", "fetch", tmp + "/"}, "not a regular file"},
		{"fetch: missing path", []string{"kernels", "fetch", filepath.Join(tmp, "nope", "bzImage")}, "no such file or directory"},
		{"fetch: malformed oci ref", []string{"kernels", "fetch", "oci:ghcr.io/cilium/ci-kernels"}, `malformed OCI reference "oci:ghcr.io/cilium/ci-kernels": no tag or digest`},
		{"fetch: oci ref without registry", []string{"kernels", "fetch", "oci:cilium/ci-kernels:6.1"}, `registry "cilium" is not a host[:port]`},
		{"fetch: --kernel-config without a path", []string{"kernels", "fetch", "--kernel-config", config, "debian-6.1"}, "applies to exactly one kernel given by path, and 0 are"},
		{"fetch: bad catalog", []string{"--catalog", badCatalog, "kernels", "fetch", "mine"}, "catalog " + badCatalog + ":4: kernel mine: unknown arch \"mips\""},
		{"fetch: empty catalog", []string{"--catalog", emptyCatalog, "kernels", "fetch", "debian-6.1"}, "catalog " + emptyCatalog + ": empty file"},
		{"fetch: missing catalog", []string{"--catalog", filepath.Join(tmp, "none.json"), "kernels", "fetch", "debian-6.1"}, "read catalog: open " + filepath.Join(tmp, "none.json") + ": no such file or directory"},
		{"list: bad catalog", []string{"--catalog", badCatalog, "kernels", "list"}, ":4: kernel mine: unknown arch"},
		{"exec: text file", []string{"exec", "--kernel", text, "/bin/true"}, "kernel " + text + ": not a kernel image"},
		{"exec: --kernel-config not a config", []string{"exec", "--kernel", truncated, "--kernel-config", text, "/bin/true"}, "--kernel-config " + text + ": not a kernel config (no CONFIG_ lines in 13 bytes)"},
		{"exec: --kernel-config empty", []string{"exec", "--kernel", truncated, "--kernel-config", empty, "/bin/true"}, "not a kernel config (no CONFIG_ lines in 0 bytes)"},
		{"exec: malformed oci ref", []string{"exec", "--kernel", "oci:ghcr.io/x@sha256:12", "/bin/true"}, `digest "sha256:12" is not sha256:<64 hex digits>`},
		{"run: empty image", []string{"run", "--kernels", "debian-6.1," + empty, "--out", filepath.Join(tmp, "report")}, "not a kernel image (empty file)"},
		{"run: --kernel-config with the default set", []string{"run", "--kernel-config", config, "--out", filepath.Join(tmp, "report")}, "applies to a kernel given by path, and none is"},
		{"check: text file", []string{"check", "--kernels", text, loop}, "not a kernel image"},
		{"check: bad catalog", []string{"check", "--catalog", badCatalog, "--kernels", "mine", loop}, "unknown arch"},
		{"repro: empty image", []string{"repro", "--kernel", empty, loop}, "not a kernel image (empty file)"},
		{"repro --shell: text file", []string{"repro", "--shell", "--kernel", text}, "not a kernel image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv("BPFMATRIX_CATALOG", "")
			stdout, stderr, code := runCLI(t, append([]string{"--cache-dir", cache}, tc.args...)...)
			assert.Equal(t, 2, code, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.inStderr)
			assert.True(t, strings.HasPrefix(stderr, "Error: "), stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
			blobs, _ := os.ReadDir(filepath.Join(cache, "kernels", "blobs", "sha256"))
			assert.Empty(t, blobs, "nothing fetched")
		})
	}
}

// TestReleaseName: a kernel given by path is named after its release,
// made a valid kernel name.
func TestReleaseName(t *testing.T) {
	for in, want := range map[string]string{
		"6.1.0-57-cloud-amd64":       "6.1.0-57-cloud-amd64",
		"6.12.117+deb13-cloud-amd64": "6.12.117-deb13-cloud-amd64",
		"6.1.158+":                   "6.1.158",
		"+++":                        "kernel",
	} {
		assert.Equal(t, want, releaseName(in), in)
	}
}
