package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch/fetchtest"
)

// TestKernelSources boots Debian's 6.1 kernel given three ways other than
// its catalog name: by path (under a file name that names another
// version), by OCI reference (a loopback registry serving it in
// cilium/ci-kernels' layout), and by a user catalog's file entry. Each
// gets its version from the image, records digest and source, and boots.
func TestKernelSources(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	k := fetchKernel(t, "debian-6.1")
	bin := buildStatic(t, "../cmd/bpfmatrix", "bpfmatrix")
	buildStatic(t, "../cmd/bpfmatrix-init", "bpfmatrix-init")

	dir := t.TempDir()
	image := filepath.Join(dir, "vmlinuz-5.4.0-99-amd64") // a misleading name
	config := filepath.Join(dir, "config-5.4.0-99-amd64")
	copyFile(t, k.Image, image)
	copyFile(t, k.Config, config)
	catalogFile := filepath.Join(dir, "catalog.json")
	require.NoError(t, os.WriteFile(catalogFile, []byte(`{"schema": 1, "kernels": [
  {"name": "my-6.1", "version": "6.1", "arch": "x86_64",
   "sources": [{"file": {"image": "vmlinuz-5.4.0-99-amd64", "config": "config-5.4.0-99-amd64"}}]}
]}
`), 0o644))

	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	image61, err := os.ReadFile(k.Image)
	require.NoError(t, err)
	config61, err := os.ReadFile(k.Config)
	require.NoError(t, err)
	fetchtest.PushImage(t, host+"/cilium/ci-kernels:6.1", map[string][]byte{"boot/vmlinuz": image61, "boot/config": config61})
	ociRef := "oci:" + host + "/cilium/ci-kernels:6.1"

	cache := t.TempDir() // kernels by path and reference enter a cache of their own
	run := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--catalog", catalogFile}, args...)...)
		cmd.Env = append(os.Environ(), "BPFMATRIX_CACHE="+cache, "TMPDIR="+t.TempDir())
		cmd.Dir = t.TempDir()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if err != nil {
			code = exitCode(t, err)
		}
		return stdout.String(), stderr.String(), code
	}

	for _, tc := range []struct {
		name, kernel, wantName, wantSource string
		args                               []string
	}{
		{"path", image, k.Release, "file " + image, nil},
		{"path with --kernel-config", image, k.Release, "file " + image, []string{"--kernel-config", config}},
		{"oci reference", ociRef, "ci-kernels-6.1", "oci " + host + "/cilium/ci-kernels:6.1@sha256:", nil},
		{"user catalog", "my-6.1", "my-6.1", "file " + image, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, append([]string{"kernels", "fetch", tc.kernel}, tc.args...)...)
			require.Equal(t, 0, code, stderr)
			fields := strings.Fields(stdout)
			require.GreaterOrEqual(t, len(fields), 5, stdout)
			assert.Equal(t, tc.wantName, fields[0])
			assert.Equal(t, k.Release, fields[2], "release from the image, not the file name")
			assert.Equal(t, k.Digest, fields[3])
			assert.True(t, strings.HasPrefix(strings.Join(fields[4:], " "), tc.wantSource), stdout)

			args := append([]string{"exec", "--kernel", tc.kernel}, tc.args...)
			args = append(args, "--dir", "", "--", "/bin/busybox", "sh", "-c", "uname -r; echo $BPFMATRIX_KERNEL")
			stdout, stderr, code = run(t, args...)
			require.Equal(t, 0, code, stderr)
			assert.Equal(t, k.Release+"\n"+tc.wantName+"\n", stdout)
		})
	}

	t.Run("check records digest, source and version", func(t *testing.T) {
		loop, err := filepath.Abs("testdata/objects/loop.o")
		require.NoError(t, err)
		stdout, stderr, code := run(t, "check", "--json", "--kernels", image+","+ociRef+",my-6.1", loop)
		var rep check.Report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "exit %d: %s", code, stderr)
		require.Len(t, rep.Kernels, 3)
		for i, want := range []struct{ name, source string }{
			{k.Release, "file " + image},
			{"ci-kernels-6.1", "oci " + host + "/cilium/ci-kernels:6.1@sha256:"},
			{"my-6.1", "file " + image},
		} {
			kc := rep.Kernels[i]
			assert.Equal(t, want.name, kc.Name)
			assert.Empty(t, kc.Error)
			assert.Equal(t, k.Digest, kc.Digest)
			assert.True(t, strings.HasPrefix(kc.Source, want.source), kc.Source)
			assert.Regexp(t, regexp.MustCompile(`^6\.1(\.\d+)?$`), kc.Version, "version from the image")
			assert.Equal(t, k.Release, kc.Release)
		}
	})

	t.Run("arm64 image for an x86_64 program", func(t *testing.T) {
		arm := fetchKernel(t, "debian-6.1-arm64")
		armImage := filepath.Join(dir, "bzImage") // misleading again
		copyFile(t, arm.Image, armImage)
		stdout, stderr, code := run(t, "exec", "--kernel", armImage, "--", "/bin/busybox", "true")
		assert.Equal(t, 2, code, stderr)
		assert.Empty(t, stdout)
		assert.Regexp(t, `^Error: /bin/busybox cannot run in the guest: it is built for x86_64 \(EM_X86_64\) and the kernel is arm64 \(EM_AARCH64\)\n$`, stderr)
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o644))
}
