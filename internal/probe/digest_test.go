package probe

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTablesDigest: any change to an entry of any table changes the digest
// that result caches key on.
func TestTablesDigest(t *testing.T) {
	d := TablesDigest()
	assert.Len(t, d, 64)
	assert.Equal(t, d, tablesDigest(ProgramTypes, MapTypes, attachTypes, LinkTypes, MiscFeatures, SystemState, helpers, helperCommits))

	progs := slices.Clone(ProgramTypes)
	progs[0].Version = "9.9"
	attach := slices.Clone(attachTypes)
	attach[0].method = attachByLink
	hs := slices.Clone(helpers)
	hs = hs[:len(hs)-1]
	commits := map[string]string{}
	for k, v := range helperCommits {
		commits[k] = v
	}
	commits["bpf_ringbuf_output"] = "000000000000"
	for name, tables := range map[string][]any{
		"program type version": {progs, MapTypes, attachTypes, LinkTypes, MiscFeatures, SystemState, helpers, helperCommits},
		"attach probe method":  {ProgramTypes, MapTypes, attach, LinkTypes, MiscFeatures, SystemState, helpers, helperCommits},
		"helper removed":       {ProgramTypes, MapTypes, attachTypes, LinkTypes, MiscFeatures, SystemState, hs, helperCommits},
		"helper commit":        {ProgramTypes, MapTypes, attachTypes, LinkTypes, MiscFeatures, SystemState, helpers, commits},
	} {
		t.Run(name, func(t *testing.T) {
			assert.NotEqual(t, d, tablesDigest(tables...))
		})
	}
}
