package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestExecMirrorNotDebian: exec with a mirror that has no Debian suites
// (what Ubuntu's archive answers for dists/bookworm/InRelease) is bad
// input: exit status 2, one line naming the variable, nothing booted.
func TestExecMirrorNotDebian(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, stderr, code := runCLI(t, "--cache-dir", t.TempDir(), "--mirror", srv.URL+"/ubuntu", "--security-mirror", srv.URL+"/ubuntu",
		"exec", "--kernel", "debian-6.1", "--", "/bin/true")
	assert.Equal(t, 2, code, stderr)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
	assert.True(t, strings.HasPrefix(stderr, "Error: fetch debian-6.1: mirror "+srv.URL+"/ubuntu has no Debian suite bookworm-security"), stderr)
	assert.Contains(t, stderr, "set BPFMATRIX_DEBIAN_MIRROR or --mirror")
}
