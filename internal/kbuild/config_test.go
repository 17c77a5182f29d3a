package kbuild

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/kernels"
)

// realConfig is the .config that Debian's linux-source-6.1 (6.1.192-3)
// produced for `make tinyconfig`, merge_config.sh -m with base,
// bpf-no-btf and no-jit, and `make olddefconfig` (captured on this
// machine; BPF_JIT and KPROBES are absent because MODULES is off).
const realConfig = "testdata/6.1.192-tinyconfig-base-bpf-no-btf-no-jit.config"

func TestCheckConfig(t *testing.T) {
	config, err := os.ReadFile(realConfig)
	require.NoError(t, err)
	frags, err := Fragments(kernels.Configs, catalog.AMD64, []string{"bpf-no-btf", "no-jit"})
	require.NoError(t, err)
	require.NoError(t, checkConfig(config, frags), "the committed groups must hold in the config they produced")

	for _, tc := range []struct {
		name, fragment string
		want           OptionDroppedError
	}{
		// KPROBES depends on MODULES (arch/Kconfig): olddefconfig drops it.
		{"dependency not met", "CONFIG_KPROBES=y\n", OptionDroppedError{Option: "CONFIG_KPROBES", Want: "y", Group: "extra"}},
		{"asked off, is on", "# CONFIG_BPF_SYSCALL is not set\n", OptionDroppedError{Option: "CONFIG_BPF_SYSCALL", Want: "n", Got: "y", Group: "extra"}},
		{"other value", "CONFIG_NR_CPUS=64\n", OptionDroppedError{Option: "CONFIG_NR_CPUS", Want: "64", Got: "1", Group: "extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkConfig(config, append(frags, Fragment{Group: "extra", Name: "extra.config", Data: []byte(tc.fragment)}))
			var got *OptionDroppedError
			require.ErrorAs(t, err, &got)
			assert.Equal(t, tc.want, *got)
			assert.Contains(t, err.Error(), tc.want.Option)
		})
	}
}

func TestFragments(t *testing.T) {
	fsys := fstest.MapFS{
		"configs/base.config":       {Data: []byte("CONFIG_TTY=y\n")},
		"configs/base.arm64.config": {Data: []byte("CONFIG_SERIAL_AMBA_PL011=y\n")},
		"configs/no-jit.config":     {Data: []byte("# CONFIG_BPF_JIT is not set\n")},
	}
	assert.Equal(t, []string{"base", "no-jit"}, Groups(fsys))

	frags, err := Fragments(fsys, catalog.AMD64, []string{"no-jit", "base"})
	require.NoError(t, err)
	assert.Equal(t, []string{"base.config", "no-jit.config"}, names(frags), "base first, once; no arm64 file on x86_64")

	frags, err = Fragments(fsys, catalog.ARM64, []string{"no-jit"})
	require.NoError(t, err)
	assert.Equal(t, []string{"base.config", "base.arm64.config", "no-jit.config"}, names(frags))

	for _, bad := range []string{"lockdwn", "base.arm64", "../configs/base"} {
		_, err := Fragments(fsys, catalog.AMD64, []string{bad})
		assert.ErrorIs(t, err, ErrUnknownGroup, bad)
		assert.ErrorContains(t, err, "have base, no-jit")
	}
	assert.NotEqual(t, configDigest(catalog.AMD64, frags), configDigest(catalog.ARM64, frags), "the arch is part of the config digest")
}

// TestEmbeddedGroups: the groups the issue names are all there.
func TestEmbeddedGroups(t *testing.T) {
	assert.Subset(t, Groups(kernels.Configs), []string{"base", "bpf-full", "bpf-no-btf", "no-jit", "lockdown"})
}

func names(frags []Fragment) []string {
	var out []string
	for _, f := range frags {
		out = append(out, f.Name)
	}
	return out
}

func TestMakefileVersion(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Makefile")
	// The head of 6.1.192's top Makefile.
	require.NoError(t, os.WriteFile(p, []byte("# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\nNAME = Curry Ramen\n"), 0o644))
	v, err := makefileVersion(p)
	require.NoError(t, err)
	assert.Equal(t, "6.1.192", v)
	require.NoError(t, os.WriteFile(p, []byte("all:\n\ttrue\n"), 0o644))
	_, err = makefileVersion(p)
	assert.ErrorContains(t, err, "not a kernel tree")
}

func TestPrepareRefusesBadInput(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "linux.tar.xz")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	for _, tc := range []struct {
		name, source string
		opts         Options
		want         string
	}{
		{"unknown group", "linux-source-6.1", Options{Groups: []string{"bpf-nobtf"}}, "unknown config group \"bpf-nobtf\""},
		{"missing tarball", "/nonexistent/linux-6.1.tar.xz", Options{}, "not a linux-source-X.Y package name nor a readable tarball"},
		{"empty tarball", empty, Options{}, "not a regular, non-empty file"},
		{"bad name", "linux-source-6.1", Options{Name: "My_Kernel"}, "name \"My_Kernel\""},
		{"bad arch", "linux-source-6.1", Options{Arch: "riscv64"}, "arch \"riscv64\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Configs = kernels.Configs
			_, err := Prepare(tc.source, tc.opts)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
