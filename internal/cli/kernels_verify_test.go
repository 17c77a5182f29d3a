package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKernelsFetchCorruptCache: a flipped byte in a cached image (in a copy
// of the user's cache) with no reachable source is one error line naming
// the blob and the command that fixes it, exit status 1.
func TestKernelsFetchCorruptCache(t *testing.T) {
	user := defaultCacheDir()
	spec, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	f, err := fetch.New(fetch.Options{CacheDir: user})
	require.NoError(t, err)
	k, err := f.Fetch(context.Background(), spec)
	require.NoError(t, err)

	cache := t.TempDir()
	for _, d := range []string{"kernels/records", "kernels/blobs/sha256"} {
		require.NoError(t, os.MkdirAll(filepath.Join(cache, d), 0o755))
	}
	recs, err := filepath.Glob(filepath.Join(user, "kernels", "records", "debian-6.1-*.json"))
	require.NoError(t, err)
	for _, r := range recs {
		if regexp.MustCompile(`^debian-6\.1-[0-9a-f]{12}\.json$`).MatchString(filepath.Base(r)) {
			copyTo(t, r, filepath.Join(cache, "kernels", "records", filepath.Base(r)))
		}
	}
	blob := filepath.Join(cache, "kernels", "blobs", "sha256", filepath.Base(k.Image))
	copyTo(t, k.Config, filepath.Join(cache, "kernels", "blobs", "sha256", filepath.Base(k.Config)))
	img, err := os.ReadFile(k.Image)
	require.NoError(t, err)
	img[len(img)/2] ^= 1
	require.NoError(t, os.WriteFile(blob, img, 0o644))

	// A mirror nothing listens on: the refetch fails.
	_, stderr, code := runCLI(t, "--cache-dir", cache, "--mirror", "http://127.0.0.1:1", "--security-mirror", "http://127.0.0.1:1", "kernels", "fetch", "debian-6.1")
	assert.Equal(t, 1, code)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
	assert.True(t, strings.HasPrefix(stderr, "Error: fetch debian-6.1: cached image of debian-6.1 is corrupt: "+blob+" hashes to sha256:"), stderr)
	assert.Contains(t, stderr, "`bpfmatrix kernels fetch debian-6.1` fetches it again; fetching it again: ")
}

// TestNotKernelImageIsBadInput: an image fetch refuses as not a kernel is
// exit status 2, one line.
func TestNotKernelImageIsBadInput(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "vmlinuz")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	f, err := fetch.New(fetch.Options{CacheDir: t.TempDir()})
	require.NoError(t, err)
	_, err = badImage(f.Fetch(context.Background(), catalog.KernelSpec{Name: "local", Version: catalog.Version{Major: 6, Minor: 1}, Arch: catalog.AMD64,
		Sources: []catalog.Source{{File: &catalog.FileSource{Image: empty}}}}))
	var stderr bytes.Buffer
	assert.Equal(t, 2, ExitCode(err, &stderr))
	assert.Equal(t, "Error: fetch local: file:"+empty+": not a kernel image (empty file)\n", stderr.String())
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}
