package cli

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	code := ExitCode(err, &stderr)
	return stdout.String(), stderr.String(), code
}

func TestKernelsBadInput(t *testing.T) {
	cache := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"unknown kernel", []string{"kernels", "fetch", "debian-6.2"}, 2, `unknown kernel "debian-6.2" (did you mean debian-6.1, debian-6.12, debian-7.2?)`},
		{"no names", []string{"kernels", "fetch"}, 2, "requires at least 1 arg"},
		{"bad jobs", []string{"kernels", "fetch", "-j", "0", "debian-6.1"}, 2, "--jobs must be at least 1"},
		{"reference's registry not reachable", []string{"kernels", "fetch", "oci:127.0.0.1:1/cilium/ci-kernels:6.1"}, 1, "Error: fetch ci-kernels-6.1: not obtainable here: oci:127.0.0.1:1/cilium/ci-kernels:6.1: pull 127.0.0.1:1/cilium/ci-kernels:6.1: registry 127.0.0.1:1 not reachable (dial tcp 127.0.0.1:1: connect: connection refused)\n"},
		{"build: unknown group", []string{"kernels", "build", "linux-source-6.1", "--config", "bpf-nobtf"}, 2, `unknown config group "bpf-nobtf" (have base, bpf-full, bpf-no-btf, lockdown, no-jit)`},
		{"build: no such tarball", []string{"kernels", "build", "./linux-6.1.tar.xz"}, 2, `bad kernel source "./linux-6.1.tar.xz": not a linux-source-X.Y package name nor a readable tarball`},
		{"build: no source", []string{"kernels", "build"}, 2, "accepts 1 arg(s), received 0"},
		{"registry not reachable", []string{"--oci-registry", "127.0.0.1:1", "kernels", "fetch", "4.4"}, 1, "Error: fetch 4.4: not obtainable here: oci:cilium/ci-kernels:4.4: pull 127.0.0.1:1/cilium/ci-kernels:4.4: registry 127.0.0.1:1 not reachable (dial tcp 127.0.0.1:1: connect: connection refused; set BPFMATRIX_OCI_REGISTRY or --oci-registry to a registry serving cilium/ci-kernels)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{"--cache-dir", cache}, tc.args...)...)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, stderr, tc.inStderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
		})
	}
}

func TestKernelsList(t *testing.T) {
	t.Setenv("BPFMATRIX_OCI_REGISTRY", "")
	stdout, stderr, code := runCLI(t, "--cache-dir", t.TempDir(), "kernels", "list")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	assert.Regexp(t, `^NAME\s+VERSION\s+ARCH\s+SOURCES\s+CACHED\s+OBTAINABLE$`, lines[0])
	assert.Regexp(t, `(?m)^debian-6\.1\s+6\.1\s+x86_64\s+debian:bookworm-security,bookworm\s+no\s+`, stdout)
	// The OCI kernels default to ghcr.io, where cilium/ci-kernels publishes.
	assert.Regexp(t, `(?m)^4\.4\s+4\.4\s+x86_64\s+oci:cilium/ci-kernels:4\.4\s+no\s+yes \(oci ghcr\.io/cilium/ci-kernels:4\.4\)$`, stdout)
}

// TestKernelsListUserCatalog: a user catalog's entries are listed with
// the embedded ones, one of the same name replacing the embedded entry.
func TestKernelsListUserCatalog(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/catalog.json"
	require.NoError(t, os.WriteFile(file, []byte(`{"schema": 1, "kernels": [
  {"name": "debian-6.1", "version": "6.1", "arch": "x86_64", "sources": [{"file": {"image": "bzImage"}}]},
  {"name": "lab-6.6", "version": "6.6", "arch": "arm64", "sources": [{"oci": {"registry": "registry.lab:5000", "repository": "kernels", "tag": "6.6"}}]}
]}`), 0o644))
	t.Setenv("BPFMATRIX_CATALOG", file)
	stdout, stderr, code := runCLI(t, "--cache-dir", t.TempDir(), "kernels", "list")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^debian-6\.1\s+6\.1\s+x86_64\s+file:`+regexp.QuoteMeta(dir)+`/bzImage\s+no\s+no: file: stat `, stdout)
	assert.Regexp(t, `(?m)^lab-6\.6\s+6\.6\s+arm64\s+oci:registry\.lab:5000/kernels:6\.6\s+no\s+yes \(oci registry\.lab:5000/kernels:6\.6\)$`, stdout)
	assert.Regexp(t, `(?m)^debian-6\.12\s`, stdout, "embedded entries stay")
}
