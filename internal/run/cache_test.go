package run

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
