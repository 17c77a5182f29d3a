package kbuild

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// TestBuiltCatalog: a recorded build is a name in the merged catalog with a
// file source; recording it again under the same name replaces it; a
// damaged built catalog is an error naming its path.
func TestBuiltCatalog(t *testing.T) {
	cache := t.TempDir()
	base := catalog.Default()
	c, err := WithBuilt(base, cache)
	require.NoError(t, err)
	assert.Equal(t, base, c, "no built catalog: the embedded one")

	b := &Built{Name: "built-6.1-bpf-no-btf-no-jit", Version: "6.1.192", Arch: catalog.AMD64, Image: "/c/built/k/bzImage", Config: "/c/built/k/config"}
	require.NoError(t, recordInCatalog(cache, b))
	b2 := *b
	b2.Image = "/c/built/k2/bzImage"
	require.NoError(t, recordInCatalog(cache, &b2))
	require.NoError(t, recordInCatalog(cache, &Built{Name: "debian-6.1", Version: "6.1", Arch: catalog.AMD64, Image: "/own/bzImage"}))

	c, err = WithBuilt(base, cache)
	require.NoError(t, err)
	assert.Len(t, c.Kernels, len(base.Kernels)+1, "one new name; debian-6.1 replaced")
	k, err := c.Lookup("built-6.1-bpf-no-btf-no-jit")
	require.NoError(t, err)
	require.Len(t, k.Sources, 1)
	assert.Equal(t, &catalog.FileSource{Image: "/c/built/k2/bzImage", Config: "/c/built/k/config"}, k.Sources[0].File)
	assert.Equal(t, "6.1", k.Version.String(), "the mainline version, as the embedded catalog names them")
	d, err := c.Lookup("debian-6.1")
	require.NoError(t, err)
	assert.Equal(t, "file:/own/bzImage", d.Sources[0].String())

	require.NoError(t, os.WriteFile(CatalogPath(cache), []byte(`{"schema":1,"kernels":[{"name":"x","bogus":1}]}`), 0o644))
	_, err = WithBuilt(base, cache)
	assert.ErrorContains(t, err, CatalogPath(cache))
}
