package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// TestRunArchBadInput: a wrong --arch is a one-line usage error (exit 2)
// that boots and fetches nothing.
func TestRunArchBadInput(t *testing.T) {
	for _, arch := range []string{"mips", "amd64", ""} {
		t.Run("arch="+arch, func(t *testing.T) {
			cache, out := t.TempDir(), filepath.Join(t.TempDir(), "report")
			_, stderr, code := runCLI(t, "--cache-dir", cache, "run", "--arch", arch, "--out", out)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, `want x86_64, arm64 or all`)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
			entries, _ := os.ReadDir(cache)
			assert.Empty(t, entries, "nothing fetched")
			assert.NoDirExists(t, out)
		})
	}
}

// TestRunDefaultSets: what `run --arch` picks without --kernels (issue 8:
// the default matrix has the four Debian arm64 kernels).
func TestRunDefaultSets(t *testing.T) {
	names := func(a catalog.Arch) []string {
		var out []string
		for _, k := range catalog.Default().Defaults(a) {
			out = append(out, k.Name)
		}
		return out
	}
	arm := []string{"debian-5.10-arm64", "debian-6.1-arm64", "debian-6.12-arm64", "debian-7.2-arm64"}
	assert.Equal(t, arm, names(catalog.ARM64))
	assert.Subset(t, names(""), append(arm, "debian-6.1"))
	assert.NotContains(t, names(catalog.AMD64), "debian-6.1-arm64")
}
