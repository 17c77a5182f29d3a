package fetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch/fetchtest"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noNetwork is an http.RoundTripper that fails the test on any request.
type noNetwork struct{ t *testing.T }

func (n noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected network access: %s %s", r.Method, r.URL)
	return nil, fmt.Errorf("network disabled in this test")
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// TestDebianKernel fetches a real Debian kernel through the mirror named by
// this machine's apt sources, then reuses it for the cache, file, OCI and
// concurrency checks.
func TestDebianKernel(t *testing.T) {
	ctx := context.Background()
	spec, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	cache := t.TempDir()

	f, err := fetch.New(fetch.Options{CacheDir: cache})
	require.NoError(t, err)
	_, cached := f.Cached(spec)
	require.False(t, cached)
	k, err := f.Fetch(ctx, spec)
	require.NoError(t, err)

	t.Run("fetched", func(t *testing.T) {
		assert.Equal(t, fileDigest(t, k.Image), k.Digest)
		assert.Regexp(t, `^6\.1\.0-\d+-cloud-amd64$`, k.Release)
		assert.Regexp(t, `^debian bookworm(-security)? linux-image-6\.1\.0-\d+-cloud-amd64-unsigned 6\.1\.\d+-\d+`, k.Source)
		assert.Regexp(t, `^6\.1\.\d+-\d+$`, k.PackageVersion)
		assert.True(t, filepath.IsAbs(k.Image))
		require.NotEmpty(t, k.Config)
		cfg, err := os.ReadFile(k.Config)
		require.NoError(t, err)
		assert.Contains(t, string(cfg), "\nCONFIG_BPF=y\n")
		assert.Contains(t, string(cfg), "\nCONFIG_DEBUG_INFO_BTF=y\n")
		assert.Empty(t, k.SystemMap, "Debian ships only a stub System.map")
		ents, err := os.ReadDir(filepath.Join(cache, "kernels", "tmp"))
		require.NoError(t, err)
		assert.Empty(t, ents)
	})

	t.Run("cache hit without network", func(t *testing.T) {
		offline, err := fetch.New(fetch.Options{CacheDir: cache, HTTPClient: &http.Client{Transport: noNetwork{t}}})
		require.NoError(t, err)
		k2, err := offline.Fetch(ctx, spec)
		require.NoError(t, err)
		assert.Equal(t, k, k2)
		k3, ok := offline.Cached(spec)
		require.True(t, ok)
		assert.Equal(t, k, k3)
	})

	t.Run("broken entry is not a hit", func(t *testing.T) {
		// A copy of the cache whose image blob was cut short (as a crash
		// mid-copy would leave it without the temp+rename protocol).
		c2 := t.TempDir()
		require.NoError(t, os.CopyFS(c2, os.DirFS(cache)))
		img := filepath.Join(c2, "kernels", "blobs", "sha256", filepath.Base(k.Image))
		require.NoError(t, os.Truncate(img, 1000))
		offline, err := fetch.New(fetch.Options{CacheDir: c2, HTTPClient: &http.Client{Transport: noNetwork{t}}})
		require.NoError(t, err)
		_, ok := offline.Cached(spec)
		assert.False(t, ok)
	})

	t.Run("corrupt image fetched again from the mirror", func(t *testing.T) {
		c2 := t.TempDir()
		require.NoError(t, os.CopyFS(c2, os.DirFS(cache)))
		img := filepath.Join(c2, "kernels", "blobs", "sha256", filepath.Base(k.Image))
		flipByte(t, img)
		f2, err := fetch.New(fetch.Options{CacheDir: c2})
		require.NoError(t, err)
		k2, err := f2.Fetch(ctx, spec)
		require.NoError(t, err)
		require.Len(t, k2.Repaired, 1)
		assert.Contains(t, k2.Repaired[0], "cached image of debian-6.1 is corrupt: "+img+" hashes to sha256:")
		assert.Equal(t, k.Digest, fileDigest(t, img))
		assert.Len(t, quarantined(t, c2), 1)
	})

	fileSpec := func(name string) catalog.KernelSpec {
		return catalog.KernelSpec{Name: name, Version: spec.Version, Arch: spec.Arch,
			Sources: []catalog.Source{{File: &catalog.FileSource{Image: k.Image, Config: k.Config}}}}
	}

	t.Run("file source", func(t *testing.T) {
		ff, err := fetch.New(fetch.Options{CacheDir: t.TempDir(), HTTPClient: &http.Client{Transport: noNetwork{t}}})
		require.NoError(t, err)
		kf, err := ff.Fetch(ctx, fileSpec("local-6.1"))
		require.NoError(t, err)
		assert.Equal(t, k.Digest, kf.Digest)
		assert.Equal(t, k.Release, kf.Release, "release read from the bzImage header")
		assert.Equal(t, fileDigest(t, k.Config), fileDigest(t, kf.Config))
		assert.Equal(t, k.Digest, kf.PackageVersion)

		_, err = ff.Fetch(ctx, catalog.KernelSpec{Name: "missing", Version: spec.Version, Arch: spec.Arch,
			Sources: []catalog.Source{{File: &catalog.FileSource{Image: filepath.Join(t.TempDir(), "nope")}}}})
		assert.ErrorIs(t, err, fetch.ErrNotObtainable)
		assert.ErrorContains(t, err, "no such file")
	})

	t.Run("oci", func(t *testing.T) {
		var mu sync.Mutex
		manifestGets := map[string]int{}
		reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
				mu.Lock()
				manifestGets[r.URL.Path]++
				mu.Unlock()
			}
			reg.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		u, err := url.Parse(srv.URL)
		require.NoError(t, err)
		host := u.Host // 127.0.0.1:port: plain HTTP because it is loopback
		image := readAll(t, k.Image)
		config := readAll(t, k.Config)
		layouts := map[string]map[string][]byte{
			"cilium/ci-kernels:6.1": {"boot/vmlinuz": image, "boot/config": config},
			"lvh-images/kernel-images:6.1-main": {
				"data/kernels/6.1/boot/vmlinuz-" + k.Release: image,
				"data/kernels/6.1/boot/config-" + k.Release:  config,
			},
		}
		for ref, files := range layouts {
			fetchtest.PushImage(t, host+"/"+ref, files)
		}
		for _, tc := range []struct{ name, repo, tag string }{
			{"ci-kernels layout", "cilium/ci-kernels", "6.1"},
			{"lvh layout", "lvh-images/kernel-images", "6.1-main"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fo, err := fetch.New(fetch.Options{CacheDir: t.TempDir(), OCIRegistry: host})
				require.NoError(t, err)
				ospec := catalog.KernelSpec{Name: "oci-6.1", Version: spec.Version, Arch: spec.Arch,
					Sources: []catalog.Source{{OCI: &catalog.OCISource{Repository: tc.repo, Tag: tc.tag}}}}
				ko, err := fo.Fetch(ctx, ospec)
				require.NoError(t, err)
				assert.Equal(t, k.Digest, ko.Digest)
				assert.Equal(t, k.Release, ko.Release)
				assert.Equal(t, fileDigest(t, k.Config), fileDigest(t, ko.Config))
				assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, ko.PackageVersion)
				assert.Contains(t, ko.Source, tc.repo+":"+tc.tag)
			})
		}
		t.Run("concurrent fetches pull once and leave one good entry", func(t *testing.T) {
			shared := t.TempDir()
			ospec := catalog.KernelSpec{Name: "oci-concurrent", Version: spec.Version, Arch: spec.Arch,
				Sources: []catalog.Source{{OCI: &catalog.OCISource{Repository: "cilium/ci-kernels", Tag: "6.1"}}}}
			mu.Lock()
			clear(manifestGets)
			mu.Unlock()
			const n = 4
			var wg sync.WaitGroup
			got := make([]*fetch.Kernel, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Separate Fetchers: separate flock file descriptions, as two processes have.
					fi, err := fetch.New(fetch.Options{CacheDir: shared, OCIRegistry: host})
					if err != nil {
						errs[i] = err
						return
					}
					got[i], errs[i] = fi.Fetch(ctx, ospec)
				}()
			}
			wg.Wait()
			for i := range n {
				require.NoError(t, errs[i])
				assert.Equal(t, got[0], got[i])
			}
			assert.Equal(t, k.Digest, fileDigest(t, got[0].Image))
			mu.Lock()
			// One pull: the tag's index/manifest and the platform manifest, once each.
			for path, n := range manifestGets {
				assert.Equal(t, 1, n, "GET %s", path)
			}
			mu.Unlock()
			recs, err := filepath.Glob(filepath.Join(shared, "kernels", "records", "*"))
			require.NoError(t, err)
			assert.Len(t, recs, 1)
			blobs, err := os.ReadDir(filepath.Join(shared, "kernels", "blobs", "sha256"))
			require.NoError(t, err)
			assert.Len(t, blobs, 2, "image and config")
			tmp, err := os.ReadDir(filepath.Join(shared, "kernels", "tmp"))
			require.NoError(t, err)
			assert.Empty(t, tmp)
		})
		t.Run("missing tag", func(t *testing.T) {
			fo, err := fetch.New(fetch.Options{CacheDir: t.TempDir(), OCIRegistry: host})
			require.NoError(t, err)
			_, err = fo.Fetch(ctx, catalog.KernelSpec{Name: "oci-4.4", Version: catalog.Version{Major: 4, Minor: 4}, Arch: spec.Arch,
				Sources: []catalog.Source{{OCI: &catalog.OCISource{Repository: "cilium/ci-kernels", Tag: "4.4"}}}})
			assert.ErrorIs(t, err, fetch.ErrNotObtainable)
			assert.ErrorContains(t, err, "oci:cilium/ci-kernels:4.4")
		})
	})
}

func readAll(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func TestNotObtainable(t *testing.T) {
	f, err := fetch.New(fetch.Options{CacheDir: t.TempDir(), AptDir: t.TempDir(), HTTPClient: &http.Client{Transport: noNetwork{t}}})
	require.NoError(t, err)
	spec, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	ok, why := f.Obtainable(spec)
	assert.False(t, ok)
	assert.Contains(t, why, "no Debian mirror configured")
	_, err = f.Fetch(context.Background(), spec)
	require.ErrorIs(t, err, fetch.ErrNotObtainable)
	require.ErrorIs(t, err, fetch.ErrNotConfigured)
	// One line, naming the variable; the security mirror (also missing) is
	// implied by the main one.
	assert.Equal(t, "fetch debian-6.1: no Debian mirror configured: set BPFMATRIX_DEBIAN_MIRROR or --mirror to a Debian mirror", err.Error())
}
