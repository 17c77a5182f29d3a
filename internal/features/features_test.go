package features

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func TestUnprobedRows(t *testing.T) {
	for _, s := range Unprobed {
		t.Run(s.Name, func(t *testing.T) {
			_, err := catalog.ParseVersion(s.Version)
			require.NoError(t, err)
			if s.Commit != "" {
				assert.Regexp(t, `^[0-9a-f]{12}$`, s.Commit)
			}
			got, ok := Lookup(s.Kind, s.Name)
			require.True(t, ok)
			assert.Equal(t, s.Version, got.Version)
			for _, m := range MiscFeatures {
				assert.NotEqual(t, m.Name, s.Name, "an unprobed row shadows a probed one")
			}
		})
	}
}

func TestByValue(t *testing.T) {
	tests := []struct {
		kind result.Kind
		v    int64
		name string
	}{
		{result.KindProgramType, 6, "xdp"},
		{result.KindMapType, 27, "ringbuf"},
		{result.KindAttachType, 24, "trace_fentry"},
		{result.KindHelper, 181, "bpf_loop"},
		{result.KindHelper, 1, "bpf_map_lookup_elem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := ByValue(tc.kind, tc.v)
			require.True(t, ok)
			assert.Equal(t, tc.name, s.Name)
		})
	}
	_, ok := ByValue(result.KindHelper, 0)
	assert.False(t, ok)
	_, ok = ByValue(result.KindHelper, int64(len(Helpers)+1))
	assert.False(t, ok)
}
