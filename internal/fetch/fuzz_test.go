package fetch

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets cover what this package parses from outside: cache
// records and stamps (any process or person can write the cache), the
// Debian Packages index and InRelease (the network; parsed only after their
// hash or signature checks out, but the parsers must not rely on that), and
// kernel image headers (any local file). Their seeds are the captured files
// in testdata (see testdata/README.md); `go test` runs the seeds, `go test
// -fuzz FuzzX` explores. Each asserts no panic and what a successful parse
// promises.

func readTestdata(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(f, err)
	return b
}

func FuzzParseRecord(f *testing.F) {
	f.Add(readTestdata(f, "record-debian-6.1.json"))
	f.Add([]byte(`{"schema":1,"image":{"digest":"sha256:","size":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRecord(data)
		if err != nil {
			return
		}
		// What Cached relies on: blob names that are safe file names.
		for _, b := range []*blobRef{&r.Image, r.Config, r.SystemMap} {
			if b != nil {
				assert.True(t, validDigest(b.Digest), b.Digest)
				assert.GreaterOrEqual(t, b.Size, int64(0))
				assert.Equal(t, filepath.Base(b.Digest[len("sha256:"):]), b.Digest[len("sha256:"):])
			}
		}
		again, err := json.Marshal(r)
		require.NoError(t, err)
		r2, err := parseRecord(again)
		require.NoError(t, err)
		assert.Equal(t, r.Image, r2.Image)
	})
}

func FuzzParseStamp(f *testing.F) {
	f.Add(readTestdata(f, "stamp-debian-6.1-image.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseStamp(data)
		if err != nil {
			return
		}
		assert.True(t, validDigest(s.Digest))
		assert.GreaterOrEqual(t, s.Identity.Size, int64(0))
	})
}

func FuzzSelectPackages(f *testing.F) {
	f.Add(readTestdata(f, "experimental-main-amd64-Packages.excerpt"), "amd64")
	all, err := decompressIndex("Packages.xz", readTestdata(f, "experimental-contrib-binary-all-Packages.xz"))
	require.NoError(f, err)
	f.Add(all, "all")
	f.Fuzz(func(t *testing.T, index []byte, arch string) {
		pkgs, err := selectPackages(index, func(string) bool { return true }, arch)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			// What the download relies on: a size and a hash to check.
			assert.Positive(t, p.Size)
			assert.NotEmpty(t, p.SHA256)
			assert.NotEmpty(t, p.Filename)
		}
	})
}

func FuzzInRelease(f *testing.F) {
	inrel := readTestdata(f, "experimental.InRelease")
	block, _ := clearsign.Decode(inrel)
	require.NotNil(f, block)
	f.Add(inrel)
	f.Add(block.Plaintext)
	kr, err := loadKeyring(filepath.Join("testdata", "debian-archive-keyring.gpg"))
	require.NoError(f, err)
	signed := time.Date(2026, 10, 30, 9, 0, 0, 0, time.UTC)
	want, err := verifyInRelease(inrel, kr, "experimental", signed)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := parseRelease(data); err == nil {
			assert.NotEmpty(t, r.SHA256)
		}
		r, err := verifyInRelease(data, kr, "experimental", signed)
		if err != nil {
			return
		}
		// Only the archive's own bytes verify: a mutation that still does
		// (armour or whitespace the signature does not cover) must not
		// change the index hashes it vouches for.
		assert.Equal(t, want.SHA256, r.SHA256)
	})
}

func FuzzCheckImage(f *testing.F) {
	for _, name := range []string{"vmlinuz-6.1.0-57-cloud-amd64.head", "vmlinuz-6.1-arm64.head"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		arch, format, err := checkImage(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			assert.ErrorIs(t, err, ErrNotKernelImage)
			return
		}
		assert.NotEmpty(t, arch)
		assert.NotEmpty(t, format)
	})
}

// TestCheckImageSeeds: the captured headers are recognised for what they
// are (the fuzz target only asserts that nothing panics).
func TestCheckImageSeeds(t *testing.T) {
	for _, tc := range []struct{ file, arch, format string }{
		{"vmlinuz-6.1.0-57-cloud-amd64.head", "x86_64", "x86 bzImage, boot protocol 2.15"},
		{"vmlinuz-6.1-arm64.head", "arm64", "arm64 Image"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			arch, format, err := checkImage(bytes.NewReader(b), int64(len(b)))
			require.NoError(t, err)
			assert.Equal(t, tc.arch, arch)
			assert.Equal(t, tc.format, format)
		})
	}
}

func FuzzParsePackageRecord(f *testing.F) {
	f.Add(readTestdata(f, "package-record-arm64-tools.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parsePackageRecord(data)
		if err != nil {
			return
		}
		// The tree directory name is derived, never taken from the file.
		assert.Equal(t, treeDigest(r.Packages), r.Tree)
		assert.Len(t, r.Tree, 64)
	})
}

func FuzzParseTreeManifest(f *testing.F) {
	f.Add(readTestdata(f, "manifest-arm64-tools.json"))
	f.Add([]byte(`{"schema":1,"tree":"x","files":{"../etc/passwd":{"link":"/"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseTreeManifest(data)
		if err != nil {
			return
		}
		for p, e := range m.Files {
			// verifyTree lstats and hashes these under the tree root only.
			assert.True(t, filepath.IsLocal(p), p)
			assert.True(t, (e.Link == "") != (e.Digest == ""), p)
		}
	})
}
