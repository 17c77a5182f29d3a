package run

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func TestCacheKey(t *testing.T) {
	a := cacheKey("kernel=sha256:1", "agent=2")
	assert.Equal(t, a, cacheKey("kernel=sha256:1", "agent=2"))
	assert.NotEqual(t, a, cacheKey("kernel=sha256:1", "agent=3"))
	// Parts are length-prefixed: moving a boundary changes the key.
	assert.NotEqual(t, cacheKey("ab", "c"), cacheKey("a", "bc"))
}

func TestResultCache(t *testing.T) {
	c := resultCache{dir: t.TempDir()}
	key := cacheKey("k")
	_, ok := c.load(key)
	assert.False(t, ok)
	assert.False(t, c.has(key))

	kr := &result.KernelResult{Schema: result.SchemaVersion, Kernel: result.Kernel{Name: "debian-6.1"},
		Features: []result.Feature{{Kind: result.KindMapType, Name: "ringbuf", Status: result.Supported}}}
	require.NoError(t, c.store(key, kr))
	assert.True(t, c.has(key))
	got, ok := c.load(key)
	require.True(t, ok)
	assert.Equal(t, kr.Features, got.Features)

	// An entry from another schema version, or a damaged one, is a miss.
	require.NoError(t, os.WriteFile(c.path(key), []byte(`{"schema":999}`), 0o644))
	_, ok = c.load(key)
	assert.False(t, ok)
	require.NoError(t, os.WriteFile(c.path(key), []byte(`{"schema":1,`), 0o644))
	_, ok = c.load(key)
	assert.False(t, ok)

	// No directory: no cache.
	_, ok = resultCache{}.load(key)
	assert.False(t, ok)
	assert.NoError(t, resultCache{}.store(key, kr))
}

func TestFileDigestFollowsChanges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent")
	require.NoError(t, os.WriteFile(p, []byte("one"), 0o755))
	d1, err := fileDigest(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte("two, longer"), 0o755))
	d2, err := fileDigest(p)
	require.NoError(t, err)
	assert.NotEqual(t, d1, d2, "a rebuilt agent must change the cache key")
}

// keyFixture is a kernel (a real kernel config, the one in internal/kconfig's
// testdata, and an executable standing in for the image: only its bytes
// matter to the key), an agent and a bpftool with one library, in a
// temporary directory.
type keyFixture struct {
	kernel                  *fetch.Kernel
	agent, bpftool, library string
}

func newKeyFixture(t *testing.T) keyFixture {
	t.Helper()
	dir := t.TempDir()
	gz, err := os.Open("../kconfig/testdata/config-6.18.44-fc.gz")
	require.NoError(t, err)
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	require.NoError(t, err)
	config, err := io.ReadAll(zr)
	require.NoError(t, err)
	exe, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	f := keyFixture{
		kernel:  &fetch.Kernel{Name: "k", Image: filepath.Join(dir, "vmlinuz"), Config: filepath.Join(dir, "config"), Digest: "sha256:recorded"},
		agent:   filepath.Join(dir, "agent"),
		bpftool: filepath.Join(dir, "bpftool"),
		library: filepath.Join(dir, "libelf.so.1"),
	}
	for _, p := range []string{f.kernel.Image, f.agent, f.bpftool, f.library} {
		require.NoError(t, os.WriteFile(p, append([]byte(filepath.Base(p)), exe...), 0o755))
	}
	require.NoError(t, os.WriteFile(f.kernel.Config, config, 0o644))
	return f
}

func (f keyFixture) key(t *testing.T, opts Options) string {
	t.Helper()
	libs := map[string]string{"/lib/libelf.so.1": f.library}
	_, key, _, err := buildJob(f.kernel, f.agent, f.bpftool, libs, opts)
	require.NoError(t, err)
	return key
}

// rewrite replaces path's content and returns a function that restores it.
func rewrite(t *testing.T, path string, edit func([]byte) []byte) (restore func()) {
	t.Helper()
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, edit(bytes.Clone(orig)), 0o644))
	return func() { require.NoError(t, os.WriteFile(path, orig, 0o644)) }
}

// TestCacheKeyCoversInputs: changing any input that decides a result gives
// another key (a fresh run), and restoring it gives the original key back
// (the original result, still cached). Files are edited in place, size
// kept where it can be, as an edit in the cache would be.
func TestCacheKeyCoversInputs(t *testing.T) {
	f := newKeyFixture(t)
	opts := Options{CPUs: 1, Memory: 512}
	base := f.key(t, opts)
	assert.Equal(t, base, f.key(t, opts), "the key is deterministic")

	flipByte := func(b []byte) []byte { b[len(b)/2] ^= 1; return b }
	for _, tc := range []struct {
		name string
		path func() string
		edit func([]byte) []byte
	}{
		{"config option turned off, same size", func() string { return f.kernel.Config }, func(b []byte) []byte {
			return bytes.Replace(b, []byte("CONFIG_BPF_LSM=y"), []byte("CONFIG_BPF_LSM=n"), 1)
		}},
		{"config byte", func() string { return f.kernel.Config }, flipByte},
		{"kernel image", func() string { return f.kernel.Image }, flipByte},
		{"agent", func() string { return f.agent }, flipByte},
		{"bpftool", func() string { return f.bpftool }, flipByte},
		{"bpftool library", func() string { return f.library }, flipByte},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The memo of fileDigest keys on size and mtime; a fresh
			// process would hash anew, so forget it here too.
			digests.Clear()
			restore := rewrite(t, tc.path(), tc.edit)
			changed := f.key(t, opts)
			assert.NotEqual(t, base, changed)
			restore()
			digests.Clear()
			assert.Equal(t, base, f.key(t, opts), "restoring the input restores the key")
		})
	}

	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"verifier corpus run too", Options{CPUs: 1, Memory: 512, Verifier: true}},
		{"memory", Options{CPUs: 1, Memory: 256}},
		{"cpus", Options{CPUs: 2, Memory: 512}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.NotEqual(t, base, f.key(t, tc.opts))
		})
	}

	t.Run("recorded digest is not trusted", func(t *testing.T) {
		k := *f.kernel
		k.Digest = "sha256:other"
		_, key, _, err := buildJob(&k, f.agent, f.bpftool, map[string]string{"/lib/libelf.so.1": f.library}, opts)
		require.NoError(t, err)
		assert.Equal(t, base, key, "the key follows the image's bytes, not the cache record's claim")
	})
}

// TestConfigChangeMissesCache: a result cached under a kernel's config is
// not returned once the config changes on disk (even with the same size and
// within one process), and is returned again once the config is restored.
func TestConfigChangeMissesCache(t *testing.T) {
	f := newKeyFixture(t)
	c := resultCache{dir: t.TempDir()}
	opts := Options{CPUs: 1, Memory: 512}
	key := f.key(t, opts)
	kr := &result.KernelResult{Schema: result.SchemaVersion, Kernel: result.Kernel{Name: "k"},
		Features: []result.Feature{{Kind: result.KindProgramType, Name: "lsm", Status: result.Supported}}}
	require.NoError(t, c.store(key, kr))

	restore := rewrite(t, f.kernel.Config, func(b []byte) []byte {
		return bytes.Replace(b, []byte("CONFIG_BPF_LSM=y"), []byte("CONFIG_BPF_LSM=n"), 1)
	})
	_, ok := c.load(f.key(t, opts))
	assert.False(t, ok, "a changed config must run the kernel again")
	restore()
	got, ok := c.load(f.key(t, opts))
	require.True(t, ok, "the restored config finds the original result")
	assert.Equal(t, kr.Features, got.Features)
}

// TestCorpusDigest: the corpus part of the key follows every file's path
// and bytes (a case's expectation lives in manifest.json, its program in
// corpus/NAME.o).
func TestCorpusDigest(t *testing.T) {
	d, err := corpusDigest()
	require.NoError(t, err)
	assert.Len(t, d, 64)

	manifest, err := fs.ReadFile(bpf.Files(), "manifest.json")
	require.NoError(t, err)
	base := fstest.MapFS{"manifest.json": {Data: manifest}, "corpus/a.o": {Data: []byte("obj")}}
	want, err := fsDigest(base)
	require.NoError(t, err)
	for name, fsys := range map[string]fstest.MapFS{
		"manifest edited": {"manifest.json": {Data: bytes.Replace(manifest, []byte(`"since": "5.3"`), []byte(`"since": "5.4"`), 1)}, "corpus/a.o": {Data: []byte("obj")}},
		"object edited":   {"manifest.json": {Data: manifest}, "corpus/a.o": {Data: []byte("obJ")}},
		"object renamed":  {"manifest.json": {Data: manifest}, "corpus/b.o": {Data: []byte("obj")}},
		"object added":    {"manifest.json": {Data: manifest}, "corpus/a.o": {Data: []byte("obj")}, "corpus/b.o": {Data: nil}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := fsDigest(fsys)
			require.NoError(t, err)
			assert.NotEqual(t, want, got)
		})
	}
}
