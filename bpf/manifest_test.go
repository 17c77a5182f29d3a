package bpf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryCaseHasVersionAndCommit is the "no case lacks them".
func TestEveryCaseHasVersionAndCommit(t *testing.T) {
	cases, err := Cases()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cases), 40)
	var negatives int
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			assert.Regexp(t, `^[0-9]+\.[0-9]+$`, c.Since)
			assert.Regexp(t, `^[0-9a-f]{12,40}$`, c.Commit)
			assert.NotEmpty(t, c.Subject)
			if c.Source == SourceC {
				obj, err := c.Object()
				require.NoError(t, err)
				assert.NotEmpty(t, obj)
				_, err = os.Stat(filepath.Join("corpus", c.Name+".c"))
				assert.NoError(t, err)
			}
		})
		if c.Expect == ExpectReject {
			negatives++
		}
	}
	assert.GreaterOrEqual(t, negatives, 5)
}

func TestParseManifestRejects(t *testing.T) {
	ok := `{"name":"x","source":"c","capability":"c","since":"5.1","commit":"d83525ca62cf","subject":"s","expect":"accept"}`
	for name, tc := range map[string]struct{ json, err string }{
		"unknown key":     {`{"cases":[` + strings.Replace(ok, `"name"`, `"bogus":1,"name"`, 1) + `]}`, "unknown field"},
		"no commit":       {`{"cases":[` + strings.Replace(ok, `d83525ca62cf`, ``, 1) + `]}`, "commit"},
		"short commit":    {`{"cases":[` + strings.Replace(ok, `d83525ca62cf`, `d83525`, 1) + `]}`, "commit"},
		"bad version":     {`{"cases":[` + strings.Replace(ok, `5.1`, `v5`, 1) + `]}`, "since"},
		"negative no msg": {`{"cases":[` + strings.Replace(ok, `accept`, `reject`, 1) + `]}`, "expected verifier message"},
		"duplicate":       {`{"cases":[` + ok + `,` + ok + `]}`, "duplicate"},
		"bad source":      {`{"cases":[` + strings.Replace(ok, `"c","cap`, `"go","cap`, 1) + `]}`, "source"},
		"bad arch":        {`{"cases":[` + strings.Replace(ok, `"expect"`, `"arch":[{"arch":"mips","since":"6.0","commit":"d4609a5d8c70","subject":"s"}],"expect"`, 1) + `]}`, "arch"},
		"arch no commit":  {`{"cases":[` + strings.Replace(ok, `"expect"`, `"arch":[{"arch":"arm64","since":"6.0","commit":"","subject":"s"}],"expect"`, 1) + `]}`, "arch arm64: commit"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.json))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	_, err := ParseManifest([]byte(`{"cases":[` + ok + `]}`))
	require.NoError(t, err)
}
