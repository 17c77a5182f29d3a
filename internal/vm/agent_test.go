package vm

import (
	"context"
	"debug/elf"
	"errors"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// TestSourceOf: which bpfmatrix source a guest binary is built from, for the
// build infos `go version -m` shows for the ways a binary comes to exist.
func TestSourceOf(t *testing.T) {
	const sum = "h1:0pBAwSbJ4Y2P0SSLbgvbsIG6PC3Ao1mBxvtBMnOXF6M="
	dep := func(m *debug.Module) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "example.com/user", Version: "(devel)"}, Deps: []*debug.Module{
			{Path: "github.com/cilium/ebpf", Version: "v0.22.0", Sum: "h1:x"}, m,
		}}
	}
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want guestSource
	}{
		{"go install @version", &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "v1.2.0", Sum: sum}}, true,
			guestSource{kind: fromModule, Path: ModulePath, Version: "v1.2.0", Sum: sum}},
		{"go build in the checkout", &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "(devel)"}}, true,
			guestSource{kind: fromDevel, Version: "(devel)"}},
		// Go 1.24+ stamps the main module's version from the checkout's VCS:
		// no sum, and maybe a commit no proxy has.
		{"checkout build stamped by VCS", &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "v0.0.0-20260101120000-0123456789ab"}}, true,
			guestSource{kind: fromDevel, Version: "v0.0.0-20260101120000-0123456789ab"}},
		{"dirty checkout", &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "v1.2.1-0.20260101120000-0123456789ab+dirty", Sum: sum}}, true,
			guestSource{kind: fromDevel, Version: "v1.2.1-0.20260101120000-0123456789ab+dirty"}},
		{"test binary requiring bpfmatrix", dep(&debug.Module{Path: ModulePath, Version: "v1.2.0", Sum: sum}), true,
			guestSource{kind: fromModule, Path: ModulePath, Version: "v1.2.0", Sum: sum}},
		{"replaced by a fork", dep(&debug.Module{Path: ModulePath, Version: "v1.2.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.2.0-fix", Sum: "h1:y"}}), true,
			guestSource{kind: fromModule, Path: "example.com/fork", Version: "v1.2.0-fix", Sum: "h1:y"}},
		{"replaced by a directory", dep(&debug.Module{Path: ModulePath, Version: "v1.2.0", Replace: &debug.Module{Path: "../bpfmatrix"}}), true,
			guestSource{kind: fromDir, Dir: "../bpfmatrix", Version: "v1.2.0"}},
		// `go test` records no dependencies in a test binary
		// (golang.org/issue/33976); `go version -m` on one shows only
		// "mod example.com/user (devel)".
		{"test binary", &debug.BuildInfo{Main: debug.Module{Path: "example.com/user", Version: "(devel)"}}, true,
			guestSource{kind: fromCurrentModule}},
		{"no build info", nil, false, guestSource{kind: fromDevel, Version: "unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, sourceOf(tc.info, tc.ok))
		})
	}
}

// TestCacheKey: one entry per version and sum; a version cannot escape the
// cache directory.
func TestCacheKey(t *testing.T) {
	a := guestSource{kind: fromModule, Path: ModulePath, Version: "v1.2.0", Sum: "h1:a"}
	b := a
	b.Sum = "h1:b"
	assert.Regexp(t, `^v1\.2\.0-[0-9a-f]{12}$`, a.cacheKey())
	assert.Equal(t, a.cacheKey(), a.cacheKey())
	assert.NotEqual(t, a.cacheKey(), b.cacheKey())
	assert.NotContains(t, guestSource{Version: "v1/../../x"}.cacheKey(), "/")
}

// TestDevelBuildOutsideCheckout: a development build run outside any
// module says in one line how to get guest binaries, instead of the go
// command's advice to `go get` a package.
// TestDevelBuildFromItsCheckout: a development build (`go install
// ./cmd/bpfmatrix`) run from a directory outside any module builds its
// guest binaries in the checkout it was compiled from.
func TestDevelBuildFromItsCheckout(t *testing.T) {
	root, ok := builtFrom()
	require.True(t, ok, "this test binary was built without -trimpath, in a checkout")
	assert.FileExists(t, filepath.Join(root, "cmd", "bpfmatrix-init", "main.go"))
	cache := t.TempDir()
	t.Setenv("BPFMATRIX_CACHE", cache)
	t.Setenv("GOFLAGS", "-mod=vendor") // a user's setting that breaks in-module builds
	t.Chdir(t.TempDir())
	p, err := initBinary.build(context.Background(), catalog.ARM64, guestSource{kind: fromDevel, Version: "(devel)"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(p, filepath.Join(cache, "agent", "dir-")), p)
	f, err := elf.Open(p)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, elf.EM_AARCH64, f.Machine)
}

// TestDevelBuildOutsideCheckout: a development build whose checkout is gone
// (or that was built with -trimpath), outside any module, says in one line
// how to get guest binaries.
func TestDevelBuildOutsideCheckout(t *testing.T) {
	orig := checkout
	checkout = func() (string, bool) { return "", false }
	t.Cleanup(func() { checkout = orig })
	t.Setenv("BPFMATRIX_CACHE", t.TempDir())
	t.Setenv("GOFLAGS", "")
	t.Chdir(t.TempDir())
	_, err := initBinary.build(context.Background(), catalog.ARM64, guestSource{kind: fromDevel, Version: "(devel)"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrNoGuestSource), "%v", err)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), "make build")
	assert.Contains(t, err.Error(), "BPFMATRIX_INIT_ARM64")
	assert.True(t, strings.Contains(err.Error(), "version (devel)"), "%v", err)
}
