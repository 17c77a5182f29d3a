package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// offline is an http.RoundTripper that fails the test on any request.
type offline struct{ t *testing.T }

func (o offline) RoundTrip(r *http.Request) (*http.Response, error) {
	o.t.Errorf("unexpected network access: %s %s", r.Method, r.URL)
	return nil, fmt.Errorf("network disabled in this test")
}

// TestToolsARM64 fetches the arm64 busybox and bpftool set from the real
// archive (the mirror in this machine's apt sources) and checks every file a
// guest gets is an aarch64 ELF file, then that the cache answers offline.
func TestToolsARM64(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	f, err := New(Options{CacheDir: cache})
	require.NoError(t, err)
	require.NotEmpty(t, f.toolSuites, "apt sources name the host's release")
	_, ok := f.CachedTools(catalog.ARM64)
	require.False(t, ok)
	start := time.Now()
	tools, err := f.Tools(ctx, catalog.ARM64)
	require.NoError(t, err)
	t.Logf("first fetch %v: %s", time.Since(start).Round(time.Millisecond), tools.Source)

	assert.Contains(t, tools.Source, "debian arm64: ")
	assert.Regexp(t, `bpftool 7\.\S+ \(`, tools.Source)
	assert.Contains(t, tools.Source, "busybox-static ")
	files := map[string]string{"/bin/busybox": tools.Busybox, "/usr/sbin/bpftool": tools.Bpftool}
	for g, h := range tools.BpftoolLibs {
		files[g] = h
	}
	for _, want := range []string{"/lib/ld-linux-aarch64.so.1", "/lib/aarch64-linux-gnu/libc.so.6"} {
		assert.Contains(t, tools.BpftoolLibs, want)
	}
	libelf := false
	for g := range tools.BpftoolLibs {
		libelf = libelf || strings.HasSuffix(g, "-linux-gnu/libelf.so.1")
	}
	assert.True(t, libelf, "libelf.so.1 in %v", tools.BpftoolLibs)
	for g, h := range files {
		t.Run(g, func(t *testing.T) {
			assert.True(t, strings.HasPrefix(h, filepath.Join(cache, "packages", "trees")+"/"), h)
			ef, err := elf.Open(h)
			require.NoError(t, err)
			defer ef.Close()
			assert.Equal(t, elf.EM_AARCH64, ef.Machine)
			assert.Equal(t, elf.ELFCLASS64, ef.Class)
			interp := ""
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					b := make([]byte, p.Filesz)
					_, err := p.ReadAt(b, 0)
					require.NoError(t, err)
					interp = string(bytes.TrimRight(b, "\x00"))
				}
			}
			switch g {
			case "/bin/busybox":
				assert.Empty(t, interp, "busybox must be static: the shell starts before any library is there")
			case "/usr/sbin/bpftool":
				assert.Equal(t, "/lib/ld-linux-aarch64.so.1", interp)
			}
		})
	}
	ents, err := os.ReadDir(filepath.Join(cache, "packages", "tmp"))
	require.NoError(t, err)
	assert.Empty(t, ents, "temp files left behind")

	t.Run("cached without network", func(t *testing.T) {
		off, err := New(Options{CacheDir: cache, HTTPClient: &http.Client{Transport: offline{t}}})
		require.NoError(t, err)
		start := time.Now()
		again, err := off.Tools(ctx, catalog.ARM64)
		require.NoError(t, err)
		t.Logf("cached %v", time.Since(start))
		assert.Equal(t, tools, again)
		c, ok := off.CachedTools(catalog.ARM64)
		require.True(t, ok)
		assert.Equal(t, tools, c)
	})
	t.Run("corrupt file in the cached tree", func(t *testing.T) {
		rel, err := filepath.Rel(cache, tools.Bpftool)
		require.NoError(t, err)
		for _, tc := range []struct {
			name   string
			online bool
		}{{"offline: one line naming the file", false}, {"online: quarantined and fetched again", true}} {
			t.Run(tc.name, func(t *testing.T) {
				c2 := t.TempDir()
				copyTree(t, cache, c2)
				bpftool := filepath.Join(c2, rel)
				b, err := os.ReadFile(bpftool)
				require.NoError(t, err)
				b[len(b)/2] ^= 0x10
				require.NoError(t, os.WriteFile(bpftool, b, 0o755))
				opts := Options{CacheDir: c2, ToolSuites: f.toolSuites}
				if !tc.online {
					opts.AptDir = t.TempDir()
					opts.HTTPClient = &http.Client{Transport: offline{t}}
				}
				g, err := New(opts)
				require.NoError(t, err)
				_, ok := g.CachedTools(catalog.ARM64)
				assert.False(t, ok)
				got, err := g.Tools(ctx, catalog.ARM64)
				quarantine, qerr := filepath.Glob(filepath.Join(c2, "packages", "quarantine", "*"))
				require.NoError(t, qerr)
				require.Len(t, quarantine, 1)
				if !tc.online {
					var ce *CorruptBlobError
					require.ErrorAs(t, err, &ce)
					assert.NotContains(t, err.Error(), "\n")
					assert.Contains(t, err.Error(), "is corrupt: "+bpftool+" hashes to sha256:")
					assert.Contains(t, err.Error(), "moved to "+quarantine[0])
					assert.Contains(t, err.Error(), "; fetching it again: no Debian security mirror configured")
					return
				}
				require.NoError(t, err)
				require.Len(t, got.Repaired, 1)
				assert.Contains(t, got.Repaired[0], bpftool)
				assert.Equal(t, readAllBytes(t, tools.Bpftool), readAllBytes(t, got.Bpftool))
				_, ok = g.CachedTools(catalog.ARM64)
				assert.True(t, ok)
			})
		}
	})
	t.Run("other suites are another entry", func(t *testing.T) {
		_, ok := f.CachedDebianPackages([]string{"sid"}, "arm64", ToolPackages)
		assert.False(t, ok)
	})
}

// tamperingMirror forwards requests to the real mirrors and lets a test
// change a response on the way: the real archive, with one file tampered
// with. Upstream bodies are kept in memory so the cases share one download.
type tamperingMirror struct {
	upstream map[string]string // path prefix -> real mirror URL
	mu       sync.Mutex
	bodies   map[string][]byte
	tamper   func(path string, body []byte) []byte
	srv      *httptest.Server
}

func newTamperingMirror(t *testing.T) *tamperingMirror {
	t.Helper()
	apt := readAptSources(DefaultAptDir)
	require.NotEmpty(t, apt.Archive, "apt sources name a Debian mirror")
	m := &tamperingMirror{upstream: map[string]string{"/archive": apt.Archive, "/security": apt.Security}, bodies: map[string][]byte{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix := "/" + strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
		base, ok := m.upstream[prefix]
		if !ok || base == "" {
			http.NotFound(w, r)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, prefix)
		body, status, err := m.fetch(r.Context(), base+rest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		m.mu.Lock()
		tamper := m.tamper
		m.mu.Unlock()
		if tamper != nil {
			body = tamper(rest, bytes.Clone(body))
		}
		w.Write(body)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *tamperingMirror) fetch(ctx context.Context, url string) ([]byte, int, error) {
	m.mu.Lock()
	b, ok := m.bodies[url]
	m.mu.Unlock()
	if ok {
		return b, http.StatusOK, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, nil
	}
	b, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	m.bodies[url] = b
	m.mu.Unlock()
	return b, http.StatusOK, nil
}

// TestToolsTampered serves the real archive with one file changed: every
// change must stop the fetch with an *IntegrityError and leave nothing in
// the cache.
func TestToolsTampered(t *testing.T) {
	m := newTamperingMirror(t)
	flipAt := func(b []byte, i int) []byte { b[i%len(b)] ^= 0x20; return b }
	for _, tc := range []struct {
		name    string
		match   func(path string) bool
		tamper  func(b []byte) []byte
		wantErr string
	}{
		{name: "InRelease text changed", match: func(p string) bool { return strings.HasSuffix(p, "/InRelease") },
			tamper: func(b []byte) []byte { return bytes.Replace(b, []byte("Origin: Debian"), []byte("Origin: Debiam"), 1) }, wantErr: "bad signature"},
		{name: "Packages.xz byte flipped", match: func(p string) bool { return strings.Contains(p, "/main/binary-arm64/") },
			tamper: func(b []byte) []byte { return flipAt(b, len(b)/2) }, wantErr: "sha256 mismatch"},
		{name: "bpftool deb byte flipped", match: func(p string) bool { return strings.Contains(p, "/bpftool_") },
			tamper: func(b []byte) []byte { return flipAt(b, len(b)/3) }, wantErr: "sha256 mismatch"},
		{name: "busybox deb truncated", match: func(p string) bool { return strings.Contains(p, "/busybox-static_") },
			tamper: func(b []byte) []byte { return b[:len(b)-100] }, wantErr: "truncated download"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hit atomic.Bool
			m.mu.Lock()
			m.tamper = func(p string, b []byte) []byte {
				if !tc.match(p) {
					return b
				}
				hit.Store(true)
				return tc.tamper(b)
			}
			m.mu.Unlock()
			cache := t.TempDir()
			f, err := New(Options{CacheDir: cache, DebianMirror: m.srv.URL + "/archive", DebianSecurityMirror: m.srv.URL + "/security"})
			require.NoError(t, err)
			_, err = f.Tools(context.Background(), catalog.ARM64)
			require.True(t, hit.Load(), "the tampered file was never requested")
			var ie *IntegrityError
			require.ErrorAs(t, err, &ie, "%v", err)
			assert.Contains(t, err.Error(), tc.wantErr)
			_, ok := f.CachedTools(catalog.ARM64)
			assert.False(t, ok)
			for _, d := range []string{"records", "trees", "tmp"} {
				ents, err := os.ReadDir(filepath.Join(cache, "packages", d))
				require.NoError(t, err)
				assert.Empty(t, ents, "packages/%s after a refused fetch", d)
			}
		})
	}
}

// TestExtractTreeRefusesEscapes unpacks tampered copies of a real package:
// nothing may land outside the tree.
func TestExtractTreeRefusesEscapes(t *testing.T) {
	deb := readFixture(t, fixtureLinuxBase)
	const dir = "./usr/lib/modules/7.3-cloud-amd64/"
	for _, tc := range []struct {
		name    string
		edit    func(outside string) func(h *tar.Header) bool
		wantErr string
	}{
		{name: "untouched", edit: nil},
		{name: "directory turned into a symlink out of the tree", edit: func(outside string) func(h *tar.Header) bool {
			return func(h *tar.Header) bool {
				if h.Name != dir {
					return false
				}
				h.Typeflag, h.Name, h.Linkname = tar.TypeSymlink, strings.TrimSuffix(dir, "/"), outside
				return true
			}
		}, wantErr: "goes through the symlink usr/lib/modules/7.3-cloud-amd64"},
		{name: "dot-dot escape", edit: func(string) func(h *tar.Header) bool {
			return func(h *tar.Header) bool {
				if h.Name != dir+"config" {
					return false
				}
				h.Name = "./usr/../../config"
				return true
			}
		}, wantErr: "escapes its directory"},
		{name: "hard link to a file outside", edit: func(outside string) func(h *tar.Header) bool {
			return func(h *tar.Header) bool {
				if h.Name != dir+"config" {
					return false
				}
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, outside+"/victim", 0
				return true
			}
		}, wantErr: "escapes its directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("x"), 0o644))
			root := t.TempDir()
			pkg := deb
			if tc.edit != nil {
				pkg = rewriteDebHeaders(t, deb, tc.edit(outside))
			}
			data, closeData, err := debData(bytes.NewReader(pkg))
			require.NoError(t, err)
			defer closeData()
			err = extractTree(data, root, map[string]bool{})
			ents, _ := os.ReadDir(outside)
			assert.Len(t, ents, 1, "only the victim file outside the tree")
			if tc.wantErr == "" {
				require.NoError(t, err)
				p := &Packages{Root: root}
				h, err := p.Lookup("/usr/lib/modules/7.3-cloud-amd64/config")
				require.NoError(t, err)
				cfg, err := os.ReadFile(h)
				require.NoError(t, err)
				assert.Contains(t, string(cfg), "\nCONFIG_BPF=y\n")
				return
			}
			var ie *IntegrityError
			require.ErrorAs(t, err, &ie, "%v", err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestResolveInTree follows symlinks the way a guest with the tree as its
// root would, and never out of the tree.
func TestResolveInTree(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lib", "aarch64-linux-gnu"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr", "lib"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "lib", "aarch64-linux-gnu", "ld-linux-aarch64.so.1"), []byte("ld"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "usr", "lib", "merged"), []byte("m"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644))
	for link, target := range map[string]string{
		"lib/ld-linux-aarch64.so.1": "aarch64-linux-gnu/ld-linux-aarch64.so.1", // as libc6 ships it
		"lib/abs":                   "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
		"lib/up":                    "../../../../../../lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
		"lib/out":                   filepath.Join(outside, "secret"),
		"lib/loop":                  "loop",
	} {
		require.NoError(t, os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))))
	}
	ld := filepath.Join(root, "lib", "aarch64-linux-gnu", "ld-linux-aarch64.so.1")
	p := &Packages{Root: root}
	for _, tc := range []struct {
		guest, want, wantErr string
	}{
		{guest: "/lib/ld-linux-aarch64.so.1", want: ld},
		{guest: "/lib/abs", want: ld},
		{guest: "/lib/up", want: ld},
		{guest: "/lib/merged", want: filepath.Join(root, "usr", "lib", "merged")},
		{guest: "/lib/out", wantErr: "no such file"},
		{guest: "/lib/loop", wantErr: "too many levels"},
	} {
		t.Run(tc.guest, func(t *testing.T) {
			got, err := p.Lookup(tc.guest)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// copyTree copies a cache directory with its symlinks (os.CopyFS refuses
// them).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, info.Mode().Perm())
		}
	}))
}

func readAllBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// TestDebianPackageWithoutDependencies: DebianPackage fetches the one
// package asked for (verified like any set: a tampered .deb is refused),
// not its Depends, and is its own cache entry beside the full set.
func TestDebianPackageWithoutDependencies(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	f, err := New(Options{CacheDir: cache})
	require.NoError(t, err)
	p, err := f.DebianPackage(ctx, f.toolSuites, "arm64", "bpftool")
	require.NoError(t, err)
	require.Len(t, p.Packages, 1, p.Source())
	assert.Equal(t, "bpftool", p.Packages[0].Name)
	_, err = p.Lookup("/usr/sbin/bpftool")
	require.NoError(t, err)
	_, err = p.Lookup("/lib/aarch64-linux-gnu/libc.so.6")
	assert.ErrorIs(t, err, os.ErrNotExist, "libc6 is a dependency, not fetched")

	_, ok := f.CachedDebianPackages(f.toolSuites, "arm64", []string{"bpftool"})
	assert.False(t, ok, "the full set is another entry")
	again, err := f.DebianPackage(ctx, f.toolSuites, "arm64", "bpftool")
	require.NoError(t, err)
	assert.Equal(t, p.Root, again.Root)

	m := newTamperingMirror(t)
	m.mu.Lock()
	m.tamper = func(path string, b []byte) []byte {
		if strings.Contains(path, "/bpftool_") {
			b[len(b)/3] ^= 0x20
		}
		return b
	}
	m.mu.Unlock()
	f2, err := New(Options{CacheDir: t.TempDir(), DebianMirror: m.srv.URL + "/archive", DebianSecurityMirror: m.srv.URL + "/security"})
	require.NoError(t, err)
	_, err = f2.DebianPackage(ctx, f2.toolSuites, "arm64", "bpftool")
	var ie *IntegrityError
	require.ErrorAs(t, err, &ie, "%v", err)
	assert.Contains(t, err.Error(), "sha256 mismatch")
}
