package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// noHTTP fails the test on any HTTP request.
type noHTTP struct{ t *testing.T }

func (o noHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	o.t.Errorf("unexpected network access: %s %s", r.Method, r.URL)
	return nil, errors.New("network disabled in this test")
}

// TestAptSourcesNotDebian: Ubuntu's apt sources (see testdata/README.md)
// name no Debian archive; the hint names Ubuntu's own archive, not the
// third-party entry read before it.
func TestAptSourcesNotDebian(t *testing.T) {
	for _, tc := range []struct {
		dir, foreign string
	}{
		{"ubuntu-24.04", "http://azure.archive.ubuntu.com/ubuntu noble"},
		{"ubuntu-24.04-arm64", "http://ports.ubuntu.com/ubuntu-ports noble"},
		{"ubuntu-24.04-oneline", "http://archive.ubuntu.com/ubuntu noble"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			assert.Equal(t, aptMirrors{Foreign: tc.foreign}, readAptSources(filepath.Join("testdata", "apt", tc.dir)))
		})
	}
}

func TestIsDebianArchive(t *testing.T) {
	for _, tc := range []struct {
		uri, suite string
		want       bool
	}{
		{"http://deb.debian.org/debian", "bookworm", true},
		{"http://deb.debian.org/debian-security", "bookworm-security", true},
		{"http://security.debian.org", "bullseye-security", true},
		{"http://deb.debian.org/debian", "bookworm-backports", true},
		{"http://archive.debian.org/debian", "stretch/updates", true},
		{"http://mirror.example.org/debian", "sid", true},
		{"http://archive.ubuntu.com/ubuntu", "noble", false},
		{"http://ports.ubuntu.com/ubuntu-ports", "noble-security", false},
		// a Debian suite name on Ubuntu's host is still Ubuntu's archive
		{"http://archive.ubuntu.com/ubuntu", "bookworm", false},
		{"https://packages.microsoft.com/ubuntu/24.04/prod", "noble", false},
		{"https://ppa.launchpadcontent.net/deadsnakes/ppa/ubuntu", "noble", false},
		{"https://deb.nodesource.com/node_20.x", "nodistro", false},
	} {
		t.Run(tc.uri+" "+tc.suite, func(t *testing.T) {
			assert.Equal(t, tc.want, isDebianArchive(tc.uri, tc.suite))
		})
	}
}

// TestNoDebianMirrorOnUbuntu: on a GitHub-hosted runner a debian-* kernel
// fails with one line naming the variable to set, offline, and the
// security mirror's message (implied by the main one) is left out.
func TestNoDebianMirrorOnUbuntu(t *testing.T) {
	f, err := New(Options{CacheDir: t.TempDir(), AptDir: filepath.Join("testdata", "apt", "ubuntu-24.04"), HTTPClient: &http.Client{Transport: noHTTP{t}}})
	require.NoError(t, err)
	spec, err := catalog.Default().Lookup("debian-6.1")
	require.NoError(t, err)
	const want = "no Debian mirror configured (the apt sources name http://azure.archive.ubuntu.com/ubuntu noble, not a Debian archive): set BPFMATRIX_DEBIAN_MIRROR or --mirror to a Debian mirror"

	err = f.Configured(spec)
	require.ErrorIs(t, err, ErrNotConfigured)
	assert.Equal(t, want, err.Error())

	_, err = f.Fetch(context.Background(), spec)
	require.ErrorIs(t, err, ErrNotConfigured)
	require.ErrorIs(t, err, ErrNotObtainable)
	assert.Equal(t, "fetch debian-6.1: "+want, err.Error())

	ok, why := f.Obtainable(spec)
	assert.False(t, ok)
	assert.Contains(t, why, want)

	// The OCI kernels have a default registry, so they are configured.
	oci, err := catalog.Default().Lookup("4.4")
	require.NoError(t, err)
	assert.NoError(t, f.Configured(oci))
	ok, why = f.Obtainable(oci)
	assert.True(t, ok)
	assert.Equal(t, "yes (oci ghcr.io/cilium/ci-kernels:4.4)", why)
}

// ubuntuInRelease is a clearsigned InRelease shaped like Ubuntu 24.04's
// dists/noble/InRelease (its header fields as Ubuntu publishes them; this
// machine cannot reach Ubuntu, so it is written from public knowledge and
// signed here by a throwaway key, as Ubuntu's is by a key Debian's keyring
// does not hold).
func ubuntuInRelease(t *testing.T) ([]byte, *openpgp.Entity) {
	t.Helper()
	e, err := openpgp.NewEntity("Ubuntu Archive Automatic Signing Key", "2018", "ftpmaster@ubuntu.com", nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	require.NoError(t, err)
	_, err = w.Write([]byte(strings.Join([]string{
		"Origin: Ubuntu", "Label: Ubuntu", "Suite: noble", "Version: 24.04", "Codename: noble",
		"Date: Thu, 25 Apr 2024 15:10:33 UTC",
		"Architectures: amd64 arm64 armhf i386 ppc64el riscv64 s390x",
		"Components: main restricted universe multiverse",
		"Description: Ubuntu Noble 24.04", "",
	}, "\n")))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes(), e
}

// TestMirrorServesUbuntu: a configured mirror that turns out to be Ubuntu's
// archive fails with one line naming the variable: a 404 on the Debian
// suite's InRelease, or an InRelease that Ubuntu's keyring (on the host, as
// on GitHub's runners) verifies and whose Origin is Ubuntu. Without that
// keyring such an InRelease stays an integrity failure (it could be a
// tampered Debian one), with the Origin it claims as a hint.
func TestMirrorServesUbuntu(t *testing.T) {
	inrel, key := ubuntuInRelease(t)
	ring := filepath.Join(t.TempDir(), "ubuntu-archive-keyring.gpg")
	var kb bytes.Buffer
	require.NoError(t, key.Serialize(&kb))
	require.NoError(t, os.WriteFile(ring, kb.Bytes(), 0o644))
	defer func(old string) { ubuntuKeyring = old }(ubuntuKeyring)

	const (
		noble     = "/ubuntu/dists/noble/InRelease"
		bookworm  = "/ubuntu/dists/bookworm/InRelease"
		bookwormS = "/ubuntu/dists/bookworm-security/InRelease"
	)
	for _, tc := range []struct {
		name      string
		serve     []string // paths answered with the Ubuntu InRelease
		keyring   string
		integrity bool
		want      []string
	}{
		{"404 for the Debian suite", []string{noble}, ring, false, []string{
			"fetch debian-6.1: mirror URL/ubuntu has no Debian suite bookworm-security (GET URL/ubuntu/dists/bookworm-security/InRelease: not served by the mirror (404 Not Found)), so it is not a Debian archive or not a complete one: set BPFMATRIX_DEBIAN_SECURITY_MIRROR or --security-mirror",
			"; mirror URL/ubuntu has no Debian suite bookworm (GET URL/ubuntu/dists/bookworm/InRelease: not served by the mirror (404 Not Found)), so it is not a Debian archive or not a complete one: set BPFMATRIX_DEBIAN_MIRROR or --mirror to a Debian mirror",
		}},
		{"Ubuntu's signed InRelease", []string{bookworm, bookwormS}, ring, false, []string{
			"mirror URL/ubuntu serves Ubuntu's archive, not Debian's (dists/bookworm/InRelease is signed by " + ring + " and says Origin: Ubuntu, Suite: noble): set BPFMATRIX_DEBIAN_MIRROR or --mirror",
		}},
		{"no Ubuntu keyring", []string{bookworm, bookwormS}, filepath.Join(t.TempDir(), "none.gpg"), true, []string{
			"(unverified, it says Origin: Ubuntu, Suite: noble: if URL/ubuntu is not a Debian archive, set BPFMATRIX_DEBIAN_SECURITY_MIRROR or --security-mirror",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ubuntuKeyring = tc.keyring
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, p := range tc.serve {
					if r.URL.Path == p {
						w.Write(inrel)
						return
					}
				}
				http.NotFound(w, r)
			}))
			defer srv.Close()
			f, err := New(Options{
				CacheDir: t.TempDir(), AptDir: t.TempDir(), Keyring: filepath.Join("testdata", "debian-archive-keyring.gpg"),
				DebianMirror: srv.URL + "/ubuntu", DebianSecurityMirror: srv.URL + "/ubuntu",
			})
			require.NoError(t, err)
			spec, err := catalog.Default().Lookup("debian-6.1")
			require.NoError(t, err)
			require.NoError(t, f.Configured(spec), "offline, a configured mirror is a configured mirror")
			_, err = f.Fetch(context.Background(), spec)
			require.Error(t, err)
			var ie *IntegrityError
			assert.Equal(t, tc.integrity, errors.As(err, &ie), "%v", err)
			assert.Equal(t, !tc.integrity, errors.Is(err, ErrNotConfigured), "%v", err)
			assert.NotContains(t, err.Error(), "\n")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), strings.ReplaceAll(w, "URL", srv.URL))
			}
		})
	}
}

// TestRegistryNotReachable: a registry that refuses connections is one
// short line naming it and the variable, at once.
func TestRegistryNotReachable(t *testing.T) {
	f, err := New(Options{CacheDir: t.TempDir(), AptDir: t.TempDir(), OCIRegistry: "127.0.0.1:1"})
	require.NoError(t, err)
	spec, err := catalog.Default().Lookup("4.4")
	require.NoError(t, err)
	_, err = f.Fetch(context.Background(), spec)
	require.ErrorIs(t, err, ErrNotObtainable)
	assert.NotErrorIs(t, err, ErrNotConfigured)
	assert.Contains(t, err.Error(), "registry 127.0.0.1:1 not reachable (dial tcp 127.0.0.1:1: connect: connection refused; set BPFMATRIX_OCI_REGISTRY or --oci-registry")
	assert.NotContains(t, err.Error(), "\n")
	ok, why := f.Check(context.Background(), spec)
	assert.False(t, ok)
	assert.Contains(t, why, "registry 127.0.0.1:1 not reachable")
}
