package fetch_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// userCache is the kernel cache tests/ and vmtest use ($BPFMATRIX_CACHE or
// the user cache directory), so that a real kernel is downloaded once per
// machine. Tests here only read it: every corruption happens in a copy.
func userCache(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("BPFMATRIX_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	require.NoError(t, err)
	return filepath.Join(d, "bpfmatrix")
}

var realKernelOnce sync.Mutex

// realKernel returns debian-6.1 from the user's cache, fetching it there
// first if needed (one download per machine, as tests/ do).
func realKernel(t *testing.T) (catalog.KernelSpec, *fetch.Kernel) {
	t.Helper()
	realKernelOnce.Lock()
	defer realKernelOnce.Unlock()
	spec, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	f, err := fetch.New(fetch.Options{CacheDir: userCache(t)})
	require.NoError(t, err)
	k, err := f.Fetch(context.Background(), spec)
	require.NoError(t, err)
	return spec, k
}

// copyEntry copies k's record (named like spec's) and blobs from the user
// cache into a new cache directory and returns it. Stamps are not copied:
// the copies are new files, which is the point of the stamp's identity.
func copyEntry(t *testing.T, spec catalog.KernelSpec, k *fetch.Kernel) string {
	t.Helper()
	src := filepath.Join(userCache(t), "kernels")
	dst := filepath.Join(t.TempDir(), "cache")
	for _, d := range []string{"records", "blobs/sha256"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dst, "kernels", d), 0o755))
	}
	recs, err := filepath.Glob(filepath.Join(src, "records", spec.Name+"-*.json"))
	require.NoError(t, err)
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(spec.Name) + `-[0-9a-f]{12}\.json$`)
	n := 0
	for _, r := range recs {
		if re.MatchString(filepath.Base(r)) {
			copyFile(t, r, filepath.Join(dst, "kernels", "records", filepath.Base(r)))
			n++
		}
	}
	require.Equal(t, 1, n, "one record of %s in %s", spec.Name, src)
	for _, b := range []string{k.Image, k.Config, k.Modules} {
		if b != "" {
			copyFile(t, b, filepath.Join(dst, "kernels", "blobs", "sha256", filepath.Base(b)))
		}
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}

// flipByte flips one bit in the middle of p (the compressed payload of a
// bzImage), keeping its size.
func flipByte(t *testing.T, p string) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_RDWR, 0)
	require.NoError(t, err)
	defer fh.Close()
	st, err := fh.Stat()
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = fh.ReadAt(b, st.Size()/2)
	require.NoError(t, err)
	b[0] ^= 0x10
	_, err = fh.WriteAt(b, st.Size()/2)
	require.NoError(t, err)
}

func blobIn(cache, image string) string {
	return filepath.Join(cache, "kernels", "blobs", "sha256", filepath.Base(image))
}

func quarantined(t *testing.T, cache string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(cache, "kernels", "quarantine"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, filepath.Join(cache, "kernels", "quarantine", e.Name()))
	}
	return out
}

func offlineFetcher(t *testing.T, cache string) *fetch.Fetcher {
	t.Helper()
	// No apt sources and no network: nothing can be fetched again.
	f, err := fetch.New(fetch.Options{CacheDir: cache, AptDir: t.TempDir(), HTTPClient: &http.Client{Transport: noNetwork{t}}})
	require.NoError(t, err)
	return f
}

// localSpec is a file-source kernel whose image and config are pristine
// copies of k's, outside the cache: a source that can always refetch.
func localSpec(t *testing.T, name string, k *fetch.Kernel) catalog.KernelSpec {
	t.Helper()
	dir := t.TempDir()
	img, cfg := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "config")
	copyFile(t, k.Image, img)
	copyFile(t, k.Config, cfg)
	return catalog.KernelSpec{Name: name, Version: k.Version, Arch: k.Arch,
		Sources: []catalog.Source{{File: &catalog.FileSource{Image: img, Config: cfg}}}}
}

// TestCorruptImage flips one byte of a cached kernel image (in a copy of
// the cache) and checks that it is never returned: quarantined and fetched
// again where a source allows, otherwise one error line that names the
// blob and the command that fixes it.
func TestCorruptImage(t *testing.T) {
	ctx := context.Background()
	spec, k := realKernel(t)

	t.Run("no source reachable", func(t *testing.T) {
		cache := copyEntry(t, spec, k)
		f := offlineFetcher(t, cache)
		_, ok := f.Cached(spec)
		require.True(t, ok, "the intact copy is a hit")
		blob := blobIn(cache, k.Image)
		flipByte(t, blob)

		_, ok = f.Cached(spec)
		assert.False(t, ok)
		assert.FileExists(t, blob, "Cached reports, Fetch repairs")

		_, err := f.Fetch(ctx, spec)
		require.Error(t, err)
		var ce *fetch.CorruptBlobError
		require.ErrorAs(t, err, &ce)
		assert.ErrorIs(t, err, fetch.ErrNotObtainable)
		msg := err.Error()
		assert.NotContains(t, msg, "\n")
		assert.True(t, strings.HasPrefix(msg, "fetch debian-6.1: cached image of debian-6.1 is corrupt: "+blob+" hashes to sha256:"), msg)
		assert.Contains(t, msg, "`bpfmatrix kernels fetch debian-6.1` fetches it again")
		assert.Contains(t, msg, "no Debian mirror configured")
		q := quarantined(t, cache)
		require.Len(t, q, 1)
		assert.Contains(t, msg, "moved to "+q[0])
		assert.Equal(t, ce.Quarantine, q[0])
		assert.NoFileExists(t, blob)
		assert.Equal(t, k.Digest, "sha256:"+strings.SplitN(filepath.Base(q[0]), ".", 2)[0], "the quarantined file keeps the digest in its name")
		assert.NotEqual(t, k.Digest, fileDigest(t, q[0]), "it is the corrupt file")
	})

	t.Run("file source refetches", func(t *testing.T) {
		cache := copyEntry(t, spec, k)
		local := localSpec(t, "local-6.1", k)
		f := offlineFetcher(t, cache)
		k1, err := f.Fetch(ctx, local)
		require.NoError(t, err)
		assert.Empty(t, k1.Repaired, "the copied blobs were hashed and kept")
		blob := blobIn(cache, k.Image)
		flipByte(t, blob)

		k2, err := f.Fetch(ctx, local)
		require.NoError(t, err)
		require.Len(t, k2.Repaired, 1)
		assert.Contains(t, k2.Repaired[0], "cached image of local-6.1 is corrupt: "+blob+" hashes to ")
		assert.Equal(t, k.Digest, k2.Digest)
		assert.Equal(t, k.Digest, fileDigest(t, k2.Image))
		require.Len(t, quarantined(t, cache), 1)
		k3, ok := f.Cached(local)
		require.True(t, ok)
		assert.Empty(t, k3.Repaired)
	})

	t.Run("concurrent repairs", func(t *testing.T) {
		cache := copyEntry(t, spec, k)
		local := localSpec(t, "local-6.1", k)
		_, err := offlineFetcher(t, cache).Fetch(ctx, local)
		require.NoError(t, err)
		flipByte(t, blobIn(cache, k.Image))
		const n = 4
		got := make([]*fetch.Kernel, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Separate Fetchers: separate flock descriptions, as separate processes have.
				fi, err := fetch.New(fetch.Options{CacheDir: cache, AptDir: t.TempDir()})
				if err != nil {
					errs[i] = err
					return
				}
				got[i], errs[i] = fi.Fetch(ctx, local)
			}()
		}
		wg.Wait()
		repaired := 0
		for i := range n {
			require.NoError(t, errs[i])
			assert.Equal(t, k.Digest, got[i].Digest)
			repaired += len(got[i].Repaired)
		}
		assert.Equal(t, 1, repaired, "one process moved the corrupt blob aside and says so")
		assert.Len(t, quarantined(t, cache), 1)
		assert.Equal(t, k.Digest, fileDigest(t, blobIn(cache, k.Image)))
	})
}

// TestCorruptBlobWithoutRecord: a corrupt blob whose record is gone (or
// that no record names) is not kept by the next fetch of the same content
// because it has the right name and size: it is hashed and replaced.
func TestCorruptBlobWithoutRecord(t *testing.T) {
	spec, k := realKernel(t)
	cache := copyEntry(t, spec, k)
	blob := blobIn(cache, k.Image)
	flipByte(t, blob)
	recs, err := filepath.Glob(filepath.Join(cache, "kernels", "records", "*.json"))
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, os.Remove(r))
	}
	f := offlineFetcher(t, cache)
	kl, err := f.Fetch(context.Background(), localSpec(t, "local-6.1", k))
	require.NoError(t, err)
	assert.Equal(t, k.Digest, fileDigest(t, blob))
	assert.Equal(t, blob, kl.Image)
	require.Len(t, kl.Repaired, 1)
	assert.Contains(t, kl.Repaired[0], "cached image of local-6.1 is corrupt: "+blob+" hashes to ")
	require.Len(t, quarantined(t, cache), 1)
}

type stampFile struct {
	Digest   string `json:"digest"`
	Identity struct {
		Ino     uint64 `json:"ino"`
		Size    int64  `json:"size"`
		MtimeNS int64  `json:"mtime_ns"`
	} `json:"identity"`
	Kernel string `json:"kernel"`
}

func readStampFile(t *testing.T, cache, digest string) (stampFile, time.Time) {
	t.Helper()
	p := filepath.Join(cache, "kernels", "stamps", strings.TrimPrefix(digest, "sha256:")+".json")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var s stampFile
	require.NoError(t, json.Unmarshal(b, &s))
	st, err := os.Stat(p)
	require.NoError(t, err)
	return s, st.ModTime()
}

// TestStamp: a hit whose blob is untouched since its stamp is not rehashed
// (the stamp is left alone); any change to the file's identity (content
// rewritten, mtime restored, size, inode) makes the next hit hash it again.
func TestStamp(t *testing.T) {
	spec, k := realKernel(t)
	for _, tc := range []struct {
		name    string
		mutate  func(t *testing.T, blob string)
		hit     bool
		rehash  bool
		checkID func(t *testing.T, before, after stampFile)
	}{
		{name: "untouched", mutate: func(*testing.T, string) {}, hit: true},
		{name: "same bytes rewritten", hit: true, rehash: true, mutate: func(t *testing.T, blob string) {
			b, err := os.ReadFile(blob)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(blob, b, 0o644))
			require.NoError(t, os.Chtimes(blob, time.Now(), time.Now().Add(time.Minute)))
		}, checkID: func(t *testing.T, before, after stampFile) {
			assert.NotEqual(t, before.Identity.MtimeNS, after.Identity.MtimeNS)
		}},
		{name: "replaced by an identical copy", hit: true, rehash: true, mutate: func(t *testing.T, blob string) {
			copyFile(t, blob, blob+".new")
			require.NoError(t, os.Rename(blob+".new", blob))
		}, checkID: func(t *testing.T, before, after stampFile) {
			assert.NotEqual(t, before.Identity.Ino, after.Identity.Ino)
		}},
		{name: "byte flipped, mtime restored", mutate: func(t *testing.T, blob string) {
			st, err := os.Stat(blob)
			require.NoError(t, err)
			flipByte(t, blob)
			require.NoError(t, os.Chtimes(blob, st.ModTime(), st.ModTime()))
		}},
		{name: "truncated", mutate: func(t *testing.T, blob string) {
			require.NoError(t, os.Truncate(blob, 4096))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := copyEntry(t, spec, k)
			f := offlineFetcher(t, cache)
			_, ok := f.Cached(spec)
			require.True(t, ok)
			before, stampTime := readStampFile(t, cache, k.Digest)
			assert.Equal(t, k.Digest, before.Digest)
			assert.Regexp(t, `^x86 bzImage, boot protocol 2\.\d+$`, before.Kernel)
			// Stamp writes are not durable, so their mtime is coarse on
			// some file systems: move it back to see a rewrite.
			p := filepath.Join(cache, "kernels", "stamps", strings.TrimPrefix(k.Digest, "sha256:")+".json")
			old := stampTime.Add(-time.Hour)
			require.NoError(t, os.Chtimes(p, old, old))

			tc.mutate(t, blobIn(cache, k.Image))
			_, ok = f.Cached(spec)
			assert.Equal(t, tc.hit, ok)
			if !tc.hit {
				return
			}
			after, stampTime := readStampFile(t, cache, k.Digest)
			assert.Equal(t, tc.rehash, !stampTime.Equal(old), "stamp rewritten")
			if tc.checkID != nil {
				tc.checkID(t, before, after)
			}
		})
	}
}

// TestNotKernelImage: a file source whose image QEMU could not boot is
// refused before anything enters the cache.
func TestNotKernelImage(t *testing.T) {
	spec, k := realKernel(t)
	self, err := os.Executable() // an x86-64 ELF program, not a kernel
	require.NoError(t, err)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	head := filepath.Join(dir, "head")
	img, err := os.ReadFile(k.Image)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(head, img[:4096], 0o644))
	for _, tc := range []struct{ name, image, why string }{
		{"empty file", empty, "not a kernel image (empty file)"},
		{"program", self, "not a kernel image (x86-64 ELF "},
		{"truncated bzImage", head, "not a kernel image (x86 boot header declares "},
		{"config as image", k.Config, "not a kernel image ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			f := offlineFetcher(t, cache)
			s := catalog.KernelSpec{Name: "local", Version: spec.Version, Arch: spec.Arch,
				Sources: []catalog.Source{{File: &catalog.FileSource{Image: tc.image}}}}
			_, err := f.Fetch(context.Background(), s)
			require.ErrorIs(t, err, fetch.ErrNotKernelImage)
			assert.NotErrorIs(t, err, fetch.ErrNotObtainable)
			assert.Equal(t, "fetch local: file:"+tc.image+": ", err.Error()[:len("fetch local: file:"+tc.image+": ")])
			assert.Contains(t, err.Error(), tc.why)
			assert.NotContains(t, err.Error(), "\n")
			for _, d := range []string{"blobs/sha256", "records", "tmp"} {
				ents, err := os.ReadDir(filepath.Join(cache, "kernels", d))
				require.NoError(t, err)
				assert.Empty(t, ents, d)
			}
		})
	}
	t.Run("wrong architecture", func(t *testing.T) {
		f := offlineFetcher(t, t.TempDir())
		s := catalog.KernelSpec{Name: "local-arm64", Version: spec.Version, Arch: catalog.ARM64,
			Sources: []catalog.Source{{File: &catalog.FileSource{Image: k.Image}}}}
		_, err := f.Fetch(context.Background(), s)
		require.ErrorIs(t, err, fetch.ErrNotKernelImage)
		assert.Regexp(t, `\(x86 bzImage, boot protocol 2\.\d+, which boots on x86_64, not arm64\)$`, err.Error())
	})
}
