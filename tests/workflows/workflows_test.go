// Package workflows checks the GitHub Actions workflows in .github/workflows
// with actionlint (as a library, so `make test` needs no extra binary) and
// enforces that every action is pinned by commit.
package workflows

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func workflowFiles(t *testing.T) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "repository root")
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestActionlint(t *testing.T) {
	t.Run("catches a broken workflow", func(t *testing.T) {
		l, err := actionlint.NewLinter(&bytes.Buffer{}, &actionlint.LinterOptions{})
		require.NoError(t, err)
		broken := []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nosuchthing }}\n")
		errs, err := l.Lint("broken.yml", broken, nil)
		require.NoError(t, err)
		assert.NotEmpty(t, errs)
	})
	for _, f := range workflowFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out bytes.Buffer
			l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Oneline: true})
			require.NoError(t, err)
			errs, err := l.LintFile(f, nil)
			require.NoError(t, err)
			assert.Empty(t, errs, "actionlint:\n%s", out.String())
		})
	}
}

// usesRef matches `uses: owner/repo@ref`; local (./) and docker:// actions have no ref to pin.
var usesRef = regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*([^\s#]+)@([^\s#]+)`)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestActionsPinnedByCommit(t *testing.T) {
	n := 0
	// The repository's own action (action.yml) is held to the same rule.
	for _, f := range append(workflowFiles(t), filepath.Join("..", "..", "action.yml")) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range usesRef.FindAllStringSubmatch(string(b), -1) {
			n++
			assert.Regexp(t, fullSHA, m[2], "%s: %s must be pinned by a full commit SHA", filepath.Base(f), m[1])
		}
	}
	assert.NotZero(t, n, "no uses: lines found; the pattern is broken")
}

// TestActionMetadata checks action.yml's shape: a composite action whose
// inputs the script reads, and whose logic is the tested script.
func TestActionMetadata(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	require.NoError(t, err)
	var a struct {
		Inputs map[string]struct {
			Required bool   `yaml:"required"`
			Default  string `yaml:"default"`
		} `yaml:"inputs"`
		Runs struct {
			Using string           `yaml:"using"`
			Steps []map[string]any `yaml:"steps"`
		} `yaml:"runs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &a))
	assert.Equal(t, "composite", a.Runs.Using)
	assert.True(t, a.Inputs["kernels"].Required)
	for _, in := range []string{"packages", "working-directory", "go-test-flags", "debian-mirror", "debian-security-mirror", "oci-registry"} {
		assert.Contains(t, a.Inputs, in)
	}
	assert.Empty(t, a.Inputs["debian-mirror"].Default, "no mirror host is baked in: it comes from apt sources or the input")
	assert.Contains(t, string(b), "scripts/go-test-kernels.sh")
}
