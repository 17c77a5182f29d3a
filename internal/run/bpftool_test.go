package run

import (
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
)

// TestBpftoolPerArch: the host's bpftool for kernels of the host's
// architecture, Debian's (fetched from the real archive) for the other one,
// and the job and cache key follow whichever was chosen.
func TestBpftoolPerArch(t *testing.T) {
	host := catalog.ArchOf(hostGOARCH())
	foreign := catalog.ARM64
	if host == catalog.ARM64 {
		foreign = catalog.AMD64
	}
	machine := map[catalog.Arch]elf.Machine{catalog.AMD64: elf.EM_X86_64, catalog.ARM64: elf.EM_AARCH64}
	cache := t.TempDir()
	f, err := fetch.New(fetch.Options{CacheDir: cache})
	require.NoError(t, err)
	agent := filepath.Join(t.TempDir(), "agent")
	require.NoError(t, os.WriteFile(agent, []byte("agent"), 0o755))
	image := filepath.Join(t.TempDir(), "vmlinuz")
	require.NoError(t, os.WriteFile(image, []byte("image"), 0o644))
	k := &fetch.Kernel{Digest: "sha256:0123", Image: image}
	ctx := context.Background()

	for _, tc := range []struct {
		name       string
		arch       catalog.Arch
		opts       Options
		offline    bool
		want       bool   // a bpftool goes into the guest
		wantErr    error  // bpftoolErr
		wantInterp string // a guest path the libraries must hold
	}{
		{name: "host arch, host bpftool", arch: host, opts: Options{Bpftool: "/usr/sbin/bpftool"}, want: true},
		{name: "host arch, none", arch: host, opts: Options{ForeignBpftool: true}},
		{name: "foreign arch, not asked for", arch: foreign, opts: Options{Bpftool: "/usr/sbin/bpftool"}},
		{name: "foreign arch, offline and not cached", arch: foreign, opts: Options{Bpftool: "/usr/sbin/bpftool", ForeignBpftool: true}, offline: true, wantErr: errToolsNotCached},
		{name: "foreign arch, fetched", arch: foreign, opts: Options{Bpftool: "/usr/sbin/bpftool", ForeignBpftool: true}, want: true, wantInterp: "/lib/ld-linux-aarch64.so.1"},
		{name: "foreign arch, offline from the cache", arch: foreign, opts: Options{Bpftool: "/usr/sbin/bpftool", ForeignBpftool: true}, offline: true, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Fetcher = f
			spec := catalog.KernelSpec{Name: "k", Arch: tc.arch}
			bin, libs, bpftoolErr, err := bpftoolFor(ctx, spec, tc.opts, tc.offline)
			require.NoError(t, err)
			if tc.wantErr != nil {
				assert.ErrorIs(t, bpftoolErr, tc.wantErr)
			} else {
				require.NoError(t, bpftoolErr)
			}
			job, key, _, err := buildJob(k, agent, bin, libs, tc.opts)
			require.NoError(t, err)
			_, bareKey, _, err := buildJob(k, agent, "", nil, tc.opts)
			require.NoError(t, err)
			if !tc.want {
				assert.Empty(t, bin)
				assert.NotContains(t, job.Args, "--bpftool")
				assert.Equal(t, bareKey, key)
				return
			}
			assert.Contains(t, job.Args, "--bpftool")
			assert.Equal(t, bin, job.Files[guestBpftool])
			assert.NotEqual(t, bareKey, key, "the bpftool is part of the result's cache key")
			if tc.wantInterp != "" && tc.arch == catalog.ARM64 {
				assert.Contains(t, libs, tc.wantInterp)
			}
			for g, h := range job.Files {
				if g == guestConfig {
					continue
				}
				ef, err := elf.Open(h)
				require.NoError(t, err, g)
				assert.Equal(t, machine[tc.arch], ef.Machine, "%s (%s)", g, h)
				ef.Close()
			}
		})
	}
}
