package catalog

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const userCatalog = `{
 "schema": 1,
 "kernels": [
  {
   "name": "debian-6.1",
   "version": "6.1",
   "arch": "x86_64",
   "sources": [{"file": {"image": "bzImage", "config": "/abs/config"}}]
  },
  {
   "name": "mine-6.6",
   "version": "6.6",
   "arch": "x86_64",
   "sources": [{"oci": {"registry": "registry.example:5000", "repository": "k/kernels", "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}]
  }
 ]
}
`

func TestParseFileMergesOverEmbedded(t *testing.T) {
	user, err := ParseFile("/home/me/kernels/catalog.json", []byte(userCatalog))
	require.NoError(t, err)
	k, err := user.Lookup("debian-6.1")
	require.NoError(t, err)
	assert.Equal(t, "/home/me/kernels/bzImage", k.Sources[0].File.Image, "relative to the catalog's directory")
	assert.Equal(t, "/abs/config", k.Sources[0].File.Config)

	merged := Default().Merge(user)
	got, err := merged.Lookup("debian-6.1")
	require.NoError(t, err)
	assert.Equal(t, "file", got.Sources[0].Kind(), "the user's entry replaces the embedded one")
	assert.Equal(t, len(Default().Kernels)+1, len(merged.Kernels))
	assert.Equal(t, "debian-6.1", merged.Kernels[1].Name, "in the embedded entry's place")
	assert.Equal(t, "mine-6.6", merged.Kernels[len(merged.Kernels)-1].Name)
	orig, err := Default().Lookup("debian-6.1")
	require.NoError(t, err)
	assert.Equal(t, "debian", orig.Sources[0].Kind(), "Default is not changed")

	oci, err := merged.Lookup("mine-6.6")
	require.NoError(t, err)
	assert.Equal(t, "oci:registry.example:5000/k/kernels@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", oci.Sources[0].String())

	// What Marshal writes, ParseFile reads back unchanged.
	data, err := Marshal(user.Kernels)
	require.NoError(t, err)
	again, err := ParseFile("/home/me/kernels/catalog.json", data)
	require.NoError(t, err)
	assert.Equal(t, user.Kernels, again.Kernels)
}

func TestParseFileErrors(t *testing.T) {
	entry := func(body string) string {
		return "{\n \"schema\": 1,\n \"kernels\": [\n  {\"name\": \"ok\", \"version\": \"6.1\", \"arch\": \"x86_64\", \"sources\": [{\"file\": {\"image\": \"x\"}}]},\n  " + body + "\n ]\n}\n"
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", `catalog my.json: empty file`},
		{"not JSON", "kernels:\n - a\n", `catalog my.json:1: want a JSON object`},
		{"no schema", `{"kernels": []}`, `catalog my.json:1: no "schema": 1`},
		{"wrong schema", "{\n\"schema\": 2}", `catalog my.json:2: schema 2, want 1`},
		{"unknown top-level key", "{\"schema\": 1,\n \"kernel\": []}", `catalog my.json:2: unknown key "kernel" (want schema, kernels)`},
		{"unknown entry key", entry(`{"name": "b", "version": "6.1", "arch": "x86_64", "colour": 1, "sources": [{"file": {"image": "x"}}]}`), `catalog my.json:5: kernel b: unknown field "colour"`},
		{"bad arch", entry(`{"name": "b", "version": "6.1", "arch": "mips", "sources": [{"file": {"image": "x"}}]}`), `catalog my.json:5: kernel b: unknown arch "mips" (want x86_64 or arm64)`},
		{"bad version", entry(`{"name": "b", "version": "six", "arch": "x86_64", "sources": [{"file": {"image": "x"}}]}`), `catalog my.json:5: kernel b: parse kernel version "six"`},
		{"no version", entry(`{"name": "b", "arch": "x86_64", "sources": [{"file": {"image": "x"}}]}`), `catalog my.json:5: kernel b: missing version`},
		{"bad name", entry(`{"name": "My Kernel", "version": "6.1", "arch": "x86_64", "sources": [{"file": {"image": "x"}}]}`), `catalog my.json:5: invalid kernel name "My Kernel"`},
		{"no sources", entry(`{"name": "b", "version": "6.1", "arch": "x86_64", "sources": []}`), `catalog my.json:5: kernel b: no sources`},
		{"two kinds", entry(`{"name": "b", "version": "6.1", "arch": "x86_64", "sources": [{"file": {"image": "x"}, "oci": {"repository": "r", "tag": "t"}}]}`), `catalog my.json:5: kernel b: source must set exactly one of debian, oci, file (has 2)`},
		{"oci tag and digest", entry(`{"name": "b", "version": "6.1", "arch": "x86_64", "sources": [{"oci": {"repository": "r", "tag": "t", "digest": "sha256:00"}}]}`), `catalog my.json:5: kernel b: oci source needs repository and one of tag, digest`},
		{"bad file digest", entry(`{"name": "b", "version": "6.1", "arch": "x86_64", "sources": [{"file": {"image": "x", "digest": "md5:1"}}]}`), `catalog my.json:5: kernel b: file source digest "md5:1"`},
		{"twice", entry(`{"name": "ok", "version": "6.1", "arch": "x86_64", "sources": [{"file": {"image": "y"}}]}`), `catalog my.json:5: kernel ok: defined twice in this file`},
		{"syntax error", entry(`{"name": "b",, }`), `catalog my.json:5: invalid character ','`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile("my.json", []byte(tc.doc))
			require.Error(t, err)
			var ce *CatalogError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestParseOCIRef(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in   string
		want OCISource
	}{
		{"oci:ghcr.io/cilium/ci-kernels:6.1", OCISource{Registry: "ghcr.io", Repository: "cilium/ci-kernels", Tag: "6.1"}},
		{"oci:127.0.0.1:5000/k:6.1-main", OCISource{Registry: "127.0.0.1:5000", Repository: "k", Tag: "6.1-main"}},
		{"oci:localhost/a/b@" + digest, OCISource{Registry: "localhost", Repository: "a/b", Digest: digest}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseOCIRef(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, *got)
			assert.Equal(t, tc.in, "oci:"+got.Ref(""))
		})
	}
	for _, bad := range []string{
		"oci:", "oci:ghcr.io", "oci:cilium/ci-kernels:6.1", "oci:ghcr.io/cilium/ci-kernels",
		"oci:ghcr.io/Cilium/ci-kernels:6.1", "oci:ghcr.io/cilium/ci-kernels:", "oci:ghcr.io/cilium/ci-kernels@sha256:abc",
		"oci:ghcr.io/cilium/ci-kernels:6.1 ", "oci:ghcr.io//x:1",
	} {
		t.Run(bad, func(t *testing.T) {
			_, err := ParseOCIRef(bad)
			require.ErrorIs(t, err, ErrBadReference)
			assert.Contains(t, err.Error(), "want oci:REGISTRY/REPOSITORY:TAG")
		})
	}
}
