package catalog

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbeddedCatalog(t *testing.T) {
	c := Default()
	for _, want := range []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2", "debian-7.3",
		"debian-6.1-arm64", "4.4", "4.9", "4.14", "4.19", "5.4", "5.10", "5.15", "6.1", "6.6", "6.12", "6.18", "6.6-arm64"} {
		t.Run(want, func(t *testing.T) {
			k, err := c.Lookup(want)
			require.NoError(t, err)
			assert.NotEmpty(t, k.Sources)
		})
	}
	var names []string
	for _, k := range c.Defaults(AMD64) {
		names = append(names, k.Name)
	}
	assert.Equal(t, []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2", "debian-7.3"}, names)
}

func TestUnknownKernelSuggests(t *testing.T) {
	_, err := Default().Lookup("debian-6.2")
	require.ErrorIs(t, err, ErrUnknownKernel)
	assert.Contains(t, err.Error(), "debian-6.1")
	assert.NotContains(t, err.Error(), "\n")
}

func TestParseRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key":  `{"schema":1,"kernels":[{"name":"a","version":"6.1","arch":"x86_64","sources":[{"file":{"image":"x"}}],"colour":1}]}`,
		"no sources":   `{"schema":1,"kernels":[{"name":"a","version":"6.1","arch":"x86_64","sources":[]}]}`,
		"two kinds":    `{"schema":1,"kernels":[{"name":"a","version":"6.1","arch":"x86_64","sources":[{"file":{"image":"x"},"oci":{"repository":"r","tag":"t"}}]}]}`,
		"bad arch":     `{"schema":1,"kernels":[{"name":"a","version":"6.1","arch":"mips","sources":[{"file":{"image":"x"}}]}]}`,
		"bad version":  `{"schema":1,"kernels":[{"name":"a","version":"six","arch":"x86_64","sources":[{"file":{"image":"x"}}]}]}`,
		"duplicate":    `{"schema":1,"kernels":[{"name":"a","version":"6.1","arch":"x86_64","sources":[{"file":{"image":"x"}}]},{"name":"a","version":"6.1","arch":"x86_64","sources":[{"file":{"image":"x"}}]}]}`,
		"wrong schema": `{"schema":2,"kernels":[]}`,
		"bad regexp":   `{"schema":1,"kernels":[{"name":"a","version":"6.1","arch":"x86_64","sources":[{"debian":{"suite":"sid","package":"("}}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc))
			assert.Error(t, err)
		})
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"6.1":                   {6, 1, 0},
		"5.10.0-32-cloud-amd64": {5, 10, 0},
		"6.12.117+deb13-cloud":  {6, 12, 117},
		"7.3-cloud-amd64":       {7, 3, 0},
	} {
		t.Run(in, func(t *testing.T) {
			v, err := ParseVersion(in)
			require.NoError(t, err)
			assert.Equal(t, want, v)
		})
	}
	assert.True(t, Version{5, 10, 0}.Less(Version{6, 1, 0}))
	assert.False(t, Version{6, 12, 0}.Less(Version{6, 1, 9}))
}

// TestMainline reads `uname -r` releases the way the probes and the
// verifier corpus do: major.minor only.
func TestMainline(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{"6.1.0-50-cloud-amd64", Version{Major: 6, Minor: 1}, false},
		{"6.1.0-37-cloud-amd64", Version{Major: 6, Minor: 1}, false},
		{"6.12.117+deb13-cloud-amd64", Version{Major: 6, Minor: 12}, false},
		{"6.18.44-fc-v657", Version{Major: 6, Minor: 18}, false},
		{"5.10.0-35-amd64", Version{Major: 5, Minor: 10}, false},
		{"5.10.237", Version{Major: 5, Minor: 10}, false},
		{"6.9", Version{Major: 6, Minor: 9}, false},
		{"7.2.0-rc1-cloud-arm64", Version{Major: 7, Minor: 2}, false},
		{"linux", Version{}, true},
		{"6", Version{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseVersion(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.Mainline())
			assert.Equal(t, tc.want.String(), v.Mainline().String())
		})
	}
	assert.True(t, Version{Major: 5, Minor: 10}.Less(Version{Major: 6, Minor: 1}))
	assert.True(t, Version{Major: 6, Minor: 1}.Less(Version{Major: 6, Minor: 10}))
	assert.False(t, Version{Major: 6, Minor: 9}.Less(Version{Major: 6, Minor: 9}))
	assert.False(t, Version{Major: 6, Minor: 12}.Less(Version{Major: 6, Minor: 6}))
}

func TestArchOf(t *testing.T) {
	for _, a := range []Arch{AMD64, ARM64} {
		t.Run(string(a), func(t *testing.T) {
			require.Equal(t, a, ArchOf(a.GOARCH()))
		})
	}
	require.Equal(t, Arch("riscv64"), ArchOf("riscv64"))
}
