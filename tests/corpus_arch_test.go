package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// TestCorpusMetadata (issue 15.7) loads the corpus cases whose expectation
// comes from the manifest's backports, per-architecture versions and attach
// limits on the kernels where each shows, with the agent's `verify` (the
// corpus runner `run` uses) and the kernel's own config, and asserts status
// and reason:
//
//   - isa_v4_gotol (4cd58e9af8b9, 6.6): stable 6.1.72 took "bpf: Support new
//     32bit offset jmp instruction" (Debian's changelog lists it under
//     ChangeLog-6.1.72), so Debian 6.1.192 x86_64 accepts it as expected
//     (reason backport 6.1.72); 6.1 arm64's JIT has no encoding for it, so
//     the load fails with ENOTSUPP (524) after the verifier passed it
//     (reason arch).
//   - fentry, fexit, fmod_ret and lsm load on arm64 before 6.4 but cannot
//     be attached: arm64 gained ftrace direct calls in 6.4 (2aa6ac03516d),
//     which TestARM64 shows by attaching.
//   - tail_call_subprog is 5.10 on x86_64 and 6.0 on arm64 (d4609a5d8c70).
//   - bpf_loop (5.17) on 5.10 is rejected with its before pattern.
func TestCorpusMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	cases := []string{"isa_v4_gotol", "fentry", "fexit", "fmod_ret", "lsm", "tail_call_subprog", "bpf_loop"}
	type want struct {
		accepted bool
		errno    string
		kind     result.ReasonKind // "": no reason
		version  string
	}
	for _, tc := range []struct {
		kernel string
		want   map[string]want
	}{
		{"debian-6.1", map[string]want{
			"isa_v4_gotol":      {accepted: true, kind: result.ReasonBackport, version: "6.1.72"},
			"fentry":            {accepted: true},
			"lsm":               {accepted: true},
			"tail_call_subprog": {accepted: true},
			"bpf_loop":          {accepted: true},
		}},
		{"debian-6.1-arm64", map[string]want{
			"isa_v4_gotol":      {errno: "ENOTSUPP", kind: result.ReasonArch, version: "6.6"},
			"fentry":            {accepted: true, kind: result.ReasonArch, version: "6.4"},
			"fexit":             {accepted: true, kind: result.ReasonArch, version: "6.4"},
			"fmod_ret":          {accepted: true, kind: result.ReasonArch, version: "6.4"},
			"lsm":               {accepted: true, kind: result.ReasonArch, version: "6.4"},
			"tail_call_subprog": {accepted: true},
			"bpf_loop":          {accepted: true},
		}},
		{"debian-5.10-arm64", map[string]want{
			"isa_v4_gotol":      {errno: "EINVAL", kind: result.ReasonVersion, version: "6.6"},
			"fentry":            {accepted: true, kind: result.ReasonArch, version: "6.4"},
			"tail_call_subprog": {errno: "EINVAL", kind: result.ReasonArch, version: "6.0"},
			"bpf_loop":          {errno: "EINVAL", kind: result.ReasonVersion, version: "5.17"},
		}},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			k := fetchKernel(t, tc.kernel)
			agent := buildStaticFor(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent", k.Arch)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := vm.Run(ctx, vm.Options{
				Arch: k.Arch, Kernel: k.Image, TempDir: t.TempDir(), Stdout: &stdout, Stderr: &stderr,
			}, vm.Job{
				Program: agent,
				Args:    []string{"verify", "--json", "--config", "/bpfmatrix/config", "--case", strings.Join(cases, ",")},
				Files:   map[string]string{"/bpfmatrix/config": k.Config},
			})
			require.NoError(t, err)
			require.Equal(t, 0, res.ExitCode, "stderr: %s", stderr.String())
			var kr result.KernelResult
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &kr), "stdout: %s", stdout.String())
			got := map[string]result.VerifierOutcome{}
			for _, o := range kr.Verifier {
				got[o.Case] = o
			}
			for name, w := range tc.want {
				o, ok := got[name]
				require.True(t, ok, "no outcome for %s", name)
				assert.Empty(t, o.Inconclusive, name)
				assert.Empty(t, o.Finding, "%s: the outcome must match the manifest", name)
				require.NotNil(t, o.Expected, name)
				assert.Equal(t, w.accepted, o.Accepted, "%s: %s", name, o.Summary)
				assert.Equal(t, w.accepted, *o.Expected, "%s: expected", name)
				assert.Equal(t, w.errno, o.Errno, "%s: %s", name, o.Summary)
				if w.kind == "" {
					assert.Nil(t, o.Reason, "%s: %+v", name, o.Reason)
					continue
				}
				require.NotNil(t, o.Reason, name)
				assert.Equal(t, w.kind, o.Reason.Kind, "%s: %+v", name, o.Reason)
				assert.Equal(t, w.version, o.Reason.Version, "%s: %+v", name, o.Reason)
				if w.kind == result.ReasonArch && w.accepted {
					assert.Contains(t, o.Reason.Detail, "loads, cannot attach", name)
				}
				if w.errno == "ENOTSUPP" {
					assert.Contains(t, o.Summary, "JIT lacks", "%s: the summary names what ENOTSUPP means", name)
				}
			}
		})
	}
}
