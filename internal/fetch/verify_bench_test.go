package fetch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/stretchr/testify/require"
)

// BenchmarkVerifyBlob measures what a cache hit pays to vouch for a real
// kernel image (debian-6.1, 14 MB): with a fresh stamp (one stat, one small
// read) and when the stamp is stale and the image is hashed again.
//
//	go test ./internal/fetch -run '^$' -bench VerifyBlob
func BenchmarkVerifyBlob(b *testing.B) {
	cache := os.Getenv("BPFMATRIX_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		require.NoError(b, err)
		cache = filepath.Join(d, "bpfmatrix")
	}
	spec, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(b, err)
	real, err := New(Options{CacheDir: cache})
	require.NoError(b, err)
	k, err := real.Fetch(context.Background(), spec)
	require.NoError(b, err)

	f, err := New(Options{CacheDir: b.TempDir()})
	require.NoError(b, err)
	data, err := os.ReadFile(k.Image)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(f.blobPath(k.Digest), data, 0o644))
	ref := &blobRef{Digest: k.Digest, Size: int64(len(data))}
	c := f.blobCheck(spec, "image")

	b.Run("fresh stamp", func(b *testing.B) {
		_, err := f.verifyBlob(ref, c, true)
		require.NoError(b, err)
		for b.Loop() {
			if _, err := f.verifyBlob(ref, c, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rehash", func(b *testing.B) {
		b.SetBytes(ref.Size)
		for b.Loop() {
			os.Remove(f.stampPath(ref.Digest))
			if _, err := f.verifyBlob(ref, c, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Cached", func(b *testing.B) {
		// A whole hit as Fetch sees it: record, image and config.
		_, ok := real.Cached(spec)
		require.True(b, ok)
		for b.Loop() {
			if _, ok := real.Cached(spec); !ok {
				b.Fatal("miss")
			}
		}
	})
}
