package kconfig

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want Config
	}{
		{"options, unset option, comment, quoted string",
			"# comment\nCONFIG_BPF=y\nCONFIG_NET_CLS_BPF=m\n# CONFIG_BPF_LSM is not set\nCONFIG_LSM=\"bpf\"\n",
			Config{"CONFIG_BPF": "y", "CONFIG_NET_CLS_BPF": "m", "CONFIG_BPF_LSM": "n", "CONFIG_LSM": "bpf"}},
		{"not a config", "not a config\n", nil},
		{"only comments", "# just a comment\n\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.text))
			if tc.want == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg)
		})
	}
}

// The fixture is a copy of the development host's /proc/config.gz
// (testdata/README.md).
func TestRead(t *testing.T) {
	cfg, err := Read("testdata/config-6.18.44-fc.gz")
	require.NoError(t, err)
	assert.True(t, cfg.Enabled("CONFIG_BPF_SYSCALL"))
	assert.False(t, cfg.Enabled("CONFIG_BPF_LIRC_MODE2"))
	assert.Equal(t, "n", cfg["CONFIG_FPROBE"], `"# CONFIG_FPROBE is not set" reads as n`)
	assert.False(t, cfg.Enabled("CONFIG_FPROBE"))

	_, err = Read("testdata/missing")
	assert.ErrorIs(t, err, os.ErrNotExist)

	notConfig := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(notConfig, []byte("not a config\n"), 0o644))
	_, err = Read(notConfig)
	assert.ErrorContains(t, err, notConfig)
}

// TestFindHost reads the machine's own config the way the agent does in a
// guest; the host kernel exposes /proc/config.gz.
func TestFindHost(t *testing.T) {
	cfg, err := Find("/proc/config.gz", "")
	require.NoError(t, err)
	assert.Equal(t, "y", cfg["CONFIG_BPF_SYSCALL"])

	cfg, err = Find("", "no-such-release")
	require.NoError(t, err, "/proc/config.gz is the fallback")
	assert.Equal(t, "y", cfg["CONFIG_BPF_SYSCALL"])

	_, err = Find("testdata/missing", "")
	assert.Error(t, err, "an explicit path must exist")
}
