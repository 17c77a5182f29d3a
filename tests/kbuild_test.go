package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/cli"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// oldKernel is the smallest kernel `kernels build` makes: Debian's
// linux-source-6.1 with tinyconfig, base, bpf-no-btf and no-jit. No
// kernel BTF, no JIT (BPF_JIT depends on MODULES, which tinyconfig leaves
// off), no securityfs: what many 4.x and embedded kernels look like.
const oldKernel = "built-6.1-bpf-no-btf-no-jit"

// cliRun runs the bpfmatrix CLI in-process and returns stdout; stderr is
// in the failure message.
func cliRun(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr strings.Builder
	err := cli.Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	require.NoError(t, err, "bpfmatrix %s\nstderr:\n%s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// TestBuiltOldKernel builds the no-BTF/no-JIT kernel (once: the build is
// cached by source, config and compiler digest, so later runs are a cache
// hit; the first one takes minutes, README has the figure), boots it by
// the name the build recorded, and holds its matrix to what an old kernel
// must get: no inconclusive cell, no unexplained one, the JIT, BTF and
// securityfs named where they are the gate, and a corpus without
// unexpected outcomes.
func TestBuiltOldKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a kernel (minutes, once per cache) and boots it")
	}
	cache := cacheDir(t)
	start := time.Now()
	out := cliRun(t, "kernels", "build", "linux-source-6.1", "--config", "bpf-no-btf,no-jit", "--cache-dir", cache)
	t.Logf("kernels build (%s): %s", time.Since(start).Round(time.Second), strings.TrimSpace(out))
	require.True(t, strings.HasPrefix(out, oldKernel+"  6.1."), out)

	dir := t.TempDir()
	cliRun(t, "run", "--kernels", oldKernel, "--out", dir, "--cache-dir", cache)
	m, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	require.Len(t, m.Kernels, 1)
	kr := m.Kernels[0]
	require.Empty(t, kr.Error)
	assert.Equal(t, "6.1", kr.Kernel.Version)

	var inconclusive, unexplained []string
	reasons := map[string]*result.Reason{}
	for _, f := range kr.Features {
		cell := fmt.Sprintf("%s %s %s", f.Kind, f.ProgramType, f.Name)
		if f.Status == result.Inconclusive {
			inconclusive = append(inconclusive, cell+": "+f.Error)
		}
		if f.Reason != nil && f.Reason.Kind == result.ReasonUnexplained {
			unexplained = append(unexplained, cell+": "+f.Reason.Detail)
		}
		if f.ProgramType == "" {
			reasons[string(f.Kind)+" "+f.Name] = f.Reason
		}
	}
	assert.Empty(t, inconclusive, "inconclusive cells")
	assert.Empty(t, unexplained, "unexplained cells")

	for _, tc := range []struct {
		feature, config, detail string
	}{
		{"program_type ext", "CONFIG_BPF_JIT", "needs the JIT"},
		{"program_type tracing", "CONFIG_DEBUG_INFO_BTF", "needs kernel BTF"},
		{"link_type tracing", "CONFIG_DEBUG_INFO_BTF", ""},
		{"misc kernel_btf", "CONFIG_DEBUG_INFO_BTF", "needs kernel BTF"},
		{"system lockdown", "CONFIG_SECURITYFS", "needs securityfs"},
	} {
		t.Run(tc.feature, func(t *testing.T) {
			r := reasons[tc.feature]
			require.NotNil(t, r, "%s: no reason (supported?)", tc.feature)
			assert.Equal(t, result.ReasonConfig, r.Kind)
			assert.Equal(t, tc.config, r.Config)
			assert.Contains(t, r.Detail, tc.detail)
		})
	}
	for _, f := range kr.Features {
		if f.Kind == result.KindHelper && f.ProgramType == "ext" {
			require.NotNil(t, f.Reason, f.Name)
			if f.Reason.Kind == result.ReasonVersion {
				// A helper newer than this 6.1 (bpf_cgrp_storage_*, 6.2):
				// missing everywhere, its version is the first gate.
				continue
			}
			assert.Equal(t, "CONFIG_BPF_JIT", f.Reason.Config, "ext helper %s inherits the program type's reason", f.Name)
		}
	}

	byCase := map[string]result.VerifierOutcome{}
	for _, o := range kr.Verifier {
		assert.Empty(t, o.Finding, "corpus case %s", o.Case)
		assert.Empty(t, o.Inconclusive, "corpus case %s", o.Case)
		byCase[o.Case] = o
	}
	for _, name := range []string{"bpf_loop", "for_each_map_elem", "freplace", "timer"} {
		o, ok := byCase[name]
		require.True(t, ok, name)
		assert.False(t, o.Accepted, "%s: the interpreter refuses it", name)
		require.NotNil(t, o.Expected, name)
		assert.False(t, *o.Expected, "%s: the manifest says it needs the JIT", name)
	}
	assert.True(t, byCase["bpf_to_bpf_call"].Accepted, "the interpreter runs BPF-to-BPF calls")

	// needs, against this kernel's probed matrix: the gate is named.
	needsOut := cliRun(t, "needs", "--matrix", filepath.Join(dir, matrix.FileJSON),
		"../bpf/corpus/bpf_loop.o", "../bpf/corpus/core_field_offset.o")
	assert.Contains(t, needsOut, "needs the JIT")
	assert.Contains(t, needsOut, "needs kernel BTF")

	// The same image given by path under a misleading name and without
	// --kernel-config: the version comes from the image, the config from
	// its own IKCONFIG (base.config builds it in), and check's explanation
	// reads that config.
	fields := strings.Fields(out)
	image := filepath.Join(t.TempDir(), "vmlinuz-4.19.0-fake")
	copyFile(t, fields[len(fields)-1], image)
	fetched := cliRun(t, "kernels", "fetch", image, "--cache-dir", cache)
	assert.Contains(t, fetched, "(config from the image's IKCONFIG)", fetched)
	assert.True(t, strings.HasPrefix(fetched, "6.1.192"), fetched)
	var stdout, stderr strings.Builder
	err = cli.Run(context.Background(), []string{"check", "--kernels", image, "--cache-dir", cache, "../bpf/corpus/bpf_loop.o"},
		strings.NewReader(""), &stdout, &stderr)
	require.Error(t, err, "bpf_loop is rejected without the JIT")
	assert.Contains(t, stdout.String(), "needs the JIT: CONFIG_BPF_JIT is not set", "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
}
