package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

const (
	fixtureInRelease  = "testdata/experimental.InRelease"
	fixtureIndex      = "testdata/experimental-contrib-binary-all-Packages.xz"
	fixtureIndexPath  = "contrib/binary-all/Packages.xz"
	fixtureExcerpt    = "testdata/experimental-main-amd64-Packages.excerpt"
	fixtureLinuxBase  = "testdata/linux-base-7.3-cloud-amd64_7.3~rc7-1~exp1_amd64.deb"
	fixtureKeyring    = "testdata/debian-archive-keyring.gpg"
	fixtureOtherKeys  = "testdata/debian-archive-trixie-security-automatic.gpg"
	fixtureKllmcore   = "pool/contrib/a/alpaka/kllmcore6-data_0.1.1~git20251104.0a908564-1_all.deb"
	fixtureRubyKas    = "pool/contrib/g/gitlab-agent/ruby-kas-grpc_16.11.5-1_all.deb"
	fixtureIndexSHA   = "8f0b09f921db3e55d49362312d21af320160122cb1a05a1c9ccc363fd0feb25b"
	linuxBaseRelease  = "7.3-cloud-amd64"
	linuxBaseSHA256   = "1b4a9f70c906c94c4cb702419c1c6cf5f7f11a129050d54dbe617fd10672bc9f"
	fixtureReleaseDay = "Fri, 30 Oct 2026 08:08:01 UTC"
)

func fixtureNow(t *testing.T) time.Time {
	t.Helper()
	now, err := time.Parse(time.RFC1123, fixtureReleaseDay)
	require.NoError(t, err)
	// The signatures are made a moment after the Date field; go-crypto treats
	// a signature from the future as expired.
	return now.Add(time.Hour)
}

func readFixture(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func keyring(t *testing.T, p string) openpgp.EntityList {
	t.Helper()
	kr, err := loadKeyring(p)
	require.NoError(t, err)
	return kr
}

func TestVerifyInRelease(t *testing.T) {
	good := readFixture(t, fixtureInRelease)
	flip := func(b []byte, old, new string) []byte {
		t.Helper()
		require.Contains(t, string(b), old)
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	// The last base64 line of the (second) signature block, changed by one character.
	sigLines := strings.Split(string(good), "\n")
	var sigLine string
	for i := len(sigLines) - 1; i >= 0; i-- {
		if len(sigLines[i]) == 64 {
			sigLine = sigLines[i]
			break
		}
	}
	require.NotEmpty(t, sigLine)
	badSig := sigLine[:10] + string(rune('A'+('Q'-sigLine[10])%26)) + sigLine[11:]

	for _, tc := range []struct {
		name    string
		data    []byte
		keys    string
		suite   string
		wantErr string
	}{
		{name: "good", data: good, keys: fixtureKeyring, suite: "experimental"},
		{name: "good by codename", data: good, keys: fixtureKeyring, suite: "rc-buggy"},
		{name: "index hash changed", data: flip(good, fixtureIndexSHA, strings.Repeat("0", 64)), keys: fixtureKeyring, suite: "experimental", wantErr: "bad signature"},
		{name: "second signature changed", data: flip(good, sigLine, badSig), keys: fixtureKeyring, suite: "experimental", wantErr: "bad signature"},
		{name: "signer not in keyring", data: good, keys: fixtureOtherKeys, suite: "experimental", wantErr: "bad signature"},
		{name: "other suite", data: good, keys: fixtureKeyring, suite: "sid", wantErr: `signed for suite "experimental"`},
		{name: "not signed", data: []byte("Suite: experimental\nSHA256:\n 00 1 x\n"), keys: fixtureKeyring, suite: "experimental", wantErr: "not a clearsigned message"},
		{name: "truncated", data: good[:len(good)-200], keys: fixtureKeyring, suite: "experimental", wantErr: "InRelease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := verifyInRelease(tc.data, keyring(t, tc.keys), tc.suite, fixtureNow(t))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				var ie *IntegrityError
				assert.ErrorAs(t, err, &ie)
				assert.Nil(t, rel)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "experimental", rel.Suite)
			assert.True(t, rel.AcquireByHash)
			assert.Equal(t, indexFile{SHA256: fixtureIndexSHA, Size: 764}, rel.SHA256[fixtureIndexPath])
		})
	}
}

// mirror serves the fixtures as a Debian archive on a loopback address, the
// way the real archive lays them out. Tests change files to tamper with them.
type mirror struct {
	files map[string][]byte
	hits  map[string]int
	srv   *httptest.Server
}

func newMirror(t *testing.T) *mirror {
	t.Helper()
	m := &mirror{files: map[string][]byte{}, hits: map[string]int{}}
	m.files["/dists/experimental/InRelease"] = readFixture(t, fixtureInRelease)
	m.files["/dists/experimental/contrib/binary-all/by-hash/SHA256/"+fixtureIndexSHA] = readFixture(t, fixtureIndex)
	m.files["/"+fixtureKllmcore] = readFixture(t, filepath.Join("testdata", filepath.Base(fixtureKllmcore)))
	m.files["/"+fixtureRubyKas] = readFixture(t, filepath.Join("testdata", filepath.Base(fixtureRubyKas)))
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits[r.URL.Path]++
		b, ok := m.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// aptDir writes apt sources naming the loopback mirror, in the given format.
func aptDir(t *testing.T, format, url string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755))
	switch format {
	case "deb822":
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte(
			"Types: deb\nURIs: "+url+"/debian\nSuites: experimental experimental-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"+
				"Types: deb\n# a comment\nURIs: "+url+"/debian-security\nSuites: experimental-security\nComponents: main\n"), 0o644))
	case "one-line":
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sources.list"), []byte(
			"# deb cdrom:[Debian]/ bookworm main\ndeb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "+url+"/debian/ experimental main\n"+
				"deb "+url+"/debian-security experimental-security main\n"), 0o644))
	}
	return dir
}

func TestAptSources(t *testing.T) {
	const url = "http://127.0.0.1:9"
	for _, tc := range []struct {
		format         string
		archive, secur string
	}{
		{format: "deb822", archive: url + "/debian", secur: url + "/debian-security"},
		{format: "one-line", archive: url + "/debian", secur: url + "/debian-security"},
		{format: "none"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			m := readAptSources(aptDir(t, tc.format, url))
			assert.Equal(t, tc.archive, m.Archive)
			assert.Equal(t, tc.secur, m.Security)
			if tc.archive != "" {
				assert.Equal(t, "experimental", m.ArchiveSuite, "the first suite of the archive entry")
				assert.Equal(t, "experimental-security", m.SecuritySuite)
			}
		})
	}
	t.Run("disabled deb822 entry", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sources.list.d", "x.sources"), []byte(
			"Types: deb\nURIs: "+url+"/off\nSuites: sid\nEnabled: no\n\nTypes: deb-src\nURIs: "+url+"/src\nSuites: sid\n"), 0o644))
		assert.Equal(t, aptMirrors{}, readAptSources(dir))
	})
	t.Run("flag overrides apt", func(t *testing.T) {
		f, err := New(Options{CacheDir: t.TempDir(), AptDir: aptDir(t, "deb822", url), DebianMirror: "http://127.0.0.2/x/"})
		require.NoError(t, err)
		base, origin := f.mirrorFor("sid")
		assert.Equal(t, "http://127.0.0.2/x", base)
		assert.Equal(t, "configured", origin)
		base, origin = f.mirrorFor("bookworm-security")
		assert.Equal(t, url+"/debian-security", base)
		assert.Equal(t, "from apt sources", origin)
	})
}

// newTestFetcher returns a Fetcher whose mirror comes from apt sources that
// point at m.
func newTestFetcher(t *testing.T, m *mirror) (*Fetcher, string) {
	t.Helper()
	f, err := New(Options{CacheDir: t.TempDir(), AptDir: aptDir(t, "deb822", m.srv.URL), Keyring: fixtureKeyring, Now: func() time.Time { return fixtureNow(t) }})
	require.NoError(t, err)
	base, _ := f.mirrorFor("experimental")
	require.Equal(t, m.srv.URL+"/debian", base)
	// The fixtures are served at the root: strip the path apt sources gave.
	return f, m.srv.URL
}

func fetchFixtureIndex(t *testing.T, f *Fetcher, base string) ([]byte, error) {
	t.Helper()
	kr, err := f.loadKeyring()
	require.NoError(t, err)
	inrel, err := f.getBytes(context.Background(), base+"/dists/experimental/InRelease", 1<<20)
	require.NoError(t, err)
	rel, err := verifyInRelease(inrel, kr, "experimental", f.now())
	require.NoError(t, err)
	return f.fetchIndex(context.Background(), base, "experimental", rel, fixtureIndexPath)
}

func TestFetchIndex(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func([]byte) []byte
		wantErr string
	}{
		{name: "good", tamper: func(b []byte) []byte { return b }},
		{name: "one byte changed", tamper: func(b []byte) []byte { c := bytes.Clone(b); c[100] ^= 1; return c }, wantErr: "sha256 mismatch"},
		{name: "truncated", tamper: func(b []byte) []byte { return b[:500] }, wantErr: "truncated download (got 500 of 764 bytes)"},
		{name: "longer", tamper: func(b []byte) []byte { return append(bytes.Clone(b), 0) }, wantErr: "size mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMirror(t)
			key := "/dists/experimental/contrib/binary-all/by-hash/SHA256/" + fixtureIndexSHA
			m.files[key] = tc.tamper(m.files[key])
			f, base := newTestFetcher(t, m)
			index, err := fetchFixtureIndex(t, f, base)
			if tc.wantErr != "" {
				var ie *IntegrityError
				require.ErrorAs(t, err, &ie)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			pkgs, err := selectPackages(index, regexp.MustCompile(`.`).MatchString, "amd64")
			require.NoError(t, err)
			require.Len(t, pkgs, 2)
			// Newest version first: 16.11.5-1 > 0.1.1~git...
			assert.Equal(t, "ruby-kas-grpc", pkgs[0].Name)
			assert.Equal(t, "kllmcore6-data", pkgs[1].Name)
			assert.Equal(t, int64(4428), pkgs[1].Size)
		})
	}
}

func TestDebDownloadAndFallback(t *testing.T) {
	kllm := "/" + fixtureKllmcore
	ruby := "/" + fixtureRubyKas
	for _, tc := range []struct {
		name     string
		tamper   func(m *mirror)
		wantUsed string
		wantSkip []string
		wantErr  string
	}{
		{name: "newest served", tamper: func(*mirror) {}, wantUsed: "ruby-kas-grpc"},
		{name: "newest 404 falls back", tamper: func(m *mirror) { delete(m.files, ruby) }, wantUsed: "kllmcore6-data", wantSkip: []string{"ruby-kas-grpc 16.11.5-1"}},
		{name: "all 404", tamper: func(m *mirror) { delete(m.files, ruby); delete(m.files, kllm) }, wantErr: "every candidate answered 404"},
		{name: "truncated deb", tamper: func(m *mirror) { m.files[ruby] = m.files[ruby][:4000] }, wantErr: "truncated download (got 4000 of 6280 bytes)"},
		{name: "tampered deb", tamper: func(m *mirror) { b := bytes.Clone(m.files[ruby]); b[3000] ^= 0x80; m.files[ruby] = b }, wantErr: "sha256 mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMirror(t)
			f, base := newTestFetcher(t, m)
			index, err := fetchFixtureIndex(t, f, base)
			require.NoError(t, err)
			cands, err := selectPackages(index, regexp.MustCompile(`^(ruby-kas-grpc|kllmcore6-data)$`).MatchString, "amd64")
			require.NoError(t, err)
			tc.tamper(m)
			_, used, skipped, err := firstServed(cands, func(p debPackage) (*kernelFiles, error) {
				return f.fetchDeb(context.Background(), "test", base, p, "", false)
			})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assertNoTemps(t, f)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantUsed, used.Name)
			assert.Equal(t, tc.wantSkip, skipped)
			assertNoTemps(t, f)
		})
	}
}

func assertNoTemps(t *testing.T, f *Fetcher) {
	t.Helper()
	ents, err := os.ReadDir(f.tmpDir())
	require.NoError(t, err)
	assert.Empty(t, ents, "temp files left behind")
}

func TestSelectAndExtractLinuxBase(t *testing.T) {
	spec, err := catalog.Default().Lookup("debian-7.3")
	require.NoError(t, err)
	excerpt := readFixture(t, fixtureExcerpt)
	re := regexp.MustCompile(spec.Sources[0].Debian.Package)
	cands, err := selectPackages(excerpt, re.MatchString, "amd64")
	require.NoError(t, err)
	require.Len(t, cands, 1, "the catalog pattern must pick the package that holds vmlinuz")
	assert.Equal(t, "linux-binary-7.3-cloud-amd64", cands[0].Name)
	base, ok := companionBase(cands[0])
	require.True(t, ok)
	assert.Equal(t, "linux-base-7.3-cloud-amd64", base)

	bases, err := selectPackages(excerpt, func(n string) bool { return n == base }, "amd64")
	require.NoError(t, err)
	require.Len(t, bases, 1)
	deb := readFixture(t, fixtureLinuxBase)
	require.NoError(t, checkedCopy(io.Discard, bytes.NewReader(deb), "linux-base", bases[0].Size, bases[0].SHA256, nil))

	t.Run("config from usr/lib/modules", func(t *testing.T) {
		dir := t.TempDir()
		kf, err := extractDeb(bytes.NewReader(deb), dir, linuxBaseRelease, false)
		require.NoError(t, err)
		require.NotNil(t, kf.Config)
		assert.Nil(t, kf.Image)
		assert.Nil(t, kf.SystemMap, "Debian's one-line System.map stub is not a System.map")
		assert.Equal(t, linuxBaseRelease, kf.Release)
		cfg, err := os.ReadFile(kf.Config.Path)
		require.NoError(t, err)
		assert.Contains(t, string(cfg), "\nCONFIG_BPF=y\n")
		assert.Equal(t, "sha256:"+sha256Hex(cfg), kf.Config.Digest)
	})
	t.Run("no image", func(t *testing.T) {
		_, err := extractDeb(bytes.NewReader(deb), t.TempDir(), "", true)
		assert.ErrorContains(t, err, "no kernel image")
	})
	for _, tc := range []struct{ name, from, to string }{
		{name: "dot-dot escape", from: "./usr/lib/modules/7.3-cloud-amd64/config", to: "./usr/../../etc/config"},
		{name: "absolute path", from: "./usr/lib/modules/7.3-cloud-amd64/config", to: "/etc/config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := rewriteDebEntry(t, deb, tc.from, tc.to)
			_, err := extractDeb(bytes.NewReader(bad), dir, linuxBaseRelease, false)
			var ie *IntegrityError
			require.ErrorAs(t, err, &ie)
			assert.Contains(t, err.Error(), "escapes its directory")
			ents, _ := os.ReadDir(dir)
			assert.Empty(t, ents)
		})
	}
	t.Run("truncated deb", func(t *testing.T) {
		_, err := extractDeb(bytes.NewReader(deb[:len(deb)/2]), t.TempDir(), linuxBaseRelease, false)
		assert.Error(t, err)
	})
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// rewriteDebEntry returns a copy of a real .deb whose data.tar.xz has the
// entry named from renamed to to: a tampered package.
func rewriteDebEntry(t *testing.T, deb []byte, from, to string) []byte {
	t.Helper()
	return rewriteDebHeaders(t, deb, func(h *tar.Header) bool {
		if h.Name != from {
			return false
		}
		h.Name = to
		return true
	})
}

// rewriteDebHeaders returns a copy of a real .deb whose data.tar.xz entries
// went through edit, which reports whether it changed one (at least one
// must change).
func rewriteDebHeaders(t *testing.T, deb []byte, edit func(h *tar.Header) bool) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	r := deb[8:]
	found := false
	for len(r) >= 60 {
		hdr := r[:60]
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		var size int
		_, err := fmtSscan(strings.TrimSpace(string(hdr[48:58])), &size)
		require.NoError(t, err)
		body := r[60 : 60+size]
		r = r[60+size:]
		if size%2 == 1 {
			r = r[1:]
		}
		if name == "data.tar.xz" {
			xr, err := xz.NewReader(bytes.NewReader(body))
			require.NoError(t, err)
			tr := tar.NewReader(xr)
			var tb bytes.Buffer
			xw, err := xz.NewWriter(&tb)
			require.NoError(t, err)
			tw := tar.NewWriter(xw)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				if edit(h) {
					found = true
				}
				require.NoError(t, tw.WriteHeader(h))
				if h.Typeflag != tar.TypeReg {
					continue
				}
				_, err = io.Copy(tw, tr)
				require.NoError(t, err)
			}
			require.NoError(t, tw.Close())
			require.NoError(t, xw.Close())
			body = tb.Bytes()
			hdr = []byte(string(hdr[:48]) + padRight(itoa(len(body)), 10) + "`\n")
		}
		out.Write(hdr)
		out.Write(body)
		if len(body)%2 == 1 {
			out.WriteByte('\n')
		}
	}
	require.True(t, found, "no entry of the deb was changed")
	return out.Bytes()
}

func TestCancelledDownloadLeavesNothing(t *testing.T) {
	m := newMirror(t)
	ruby := "/" + fixtureRubyKas
	body := m.files[ruby]
	release := make(chan struct{})
	m.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != ruby {
			w.Write(m.files[r.URL.Path])
			return
		}
		w.Header().Set("Content-Length", itoa(len(body)))
		w.Write(body[:3000])
		w.(http.Flusher).Flush()
		select { // a stalled mirror; the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := New(Options{CacheDir: t.TempDir(), AptDir: aptDir(t, "deb822", m.srv.URL), Keyring: fixtureKeyring,
		Now:      func() time.Time { return fixtureNow(t) },
		Progress: func(_ string, done, _ int64) { cancel() }, // killed once bytes arrive
	})
	require.NoError(t, err)
	p := debPackage{Name: "ruby-kas-grpc", Filename: fixtureRubyKas, Size: int64(len(body)), SHA256: sha256Hex(body)}
	_, err = f.fetchDeb(ctx, "test", m.srv.URL, p, "", false)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	var ie *IntegrityError
	assert.False(t, errors.As(err, &ie), "a cancelled download is not an integrity failure: %v", err)
	assertNoTemps(t, f)
}
