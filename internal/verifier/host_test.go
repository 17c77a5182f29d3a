package verifier

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostRefusesTrampolines lists the cases that need a BPF trampoline (or, for
// freplace, a program extension): the development host (6.18, root with
// CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN, CONFIG_FUNCTION_TRACER=y) answers
// their load with EPERM and an empty log, before the verifier runs: a policy
// of the sandbox it runs in (tp_btf and iter programs with the same BTF
// targets load). The loader reports that as inconclusive, which is what
// this test accepts here; the VM tests on Debian kernels cover these cases.
var hostRefusesTrampolines = map[string]bool{
	"fentry": true, "fexit": true, "fmod_ret": true, "lsm": true, "sleepable": true, "freplace": true,
}

func requireRoot(t *testing.T) {
	t.Helper()
	require.Zero(t, os.Geteuid(), "loading BPF programs needs root")
	if err := rlimit.RaiseMemlock(); !errors.Is(err, rlimit.ErrMemlockLimited) {
		require.NoError(t, err)
	}
}

// TestCorpusOnHost loads the whole corpus into the machine's kernel: every
// outcome must match its expectation (positives accepted where version and
// config allow, negatives rejected with their message).
func TestCorpusOnHost(t *testing.T) {
	requireRoot(t)
	k, release, err := RunningKernel("")
	require.NoError(t, err)
	t.Logf("kernel %s (config known: %v)", release, k.Config != nil)

	outs, took, err := RunCorpus(context.Background(), k, CorpusOptions{})
	require.NoError(t, err)
	t.Logf("%d cases in %s", len(outs), took)
	cases, err := Cases()
	require.NoError(t, err)
	require.Len(t, outs, len(cases))

	for i, o := range outs {
		c := cases[i]
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Name, o.Case)
			require.NotNil(t, o.Expected)
			if o.Inconclusive != "" {
				// Only where the kernel's config already rules the case out,
				// or where this machine's policy refuses trampolines.
				if !hostRefusesTrampolines[c.Name] {
					require.False(t, *o.Expected, "inconclusive: %s", o.Inconclusive)
				}
				return
			}
			assert.Empty(t, o.Finding)
			assert.Equal(t, *o.Expected, o.Accepted, "summary: %s", o.Summary)
			if o.Accepted {
				assert.Positive(t, o.Insns, "insns processed")
				assert.NotEmpty(t, o.VerifyTime)
				assert.Empty(t, o.Log, "accepted programs keep no log by default")
				return
			}
			assert.NotEmpty(t, o.Errno)
			assert.NotEmpty(t, o.Log, "rejected programs keep the whole log")
			if c.Expect == bpf.ExpectReject {
				assert.True(t, LogMatches(o, c.Message), "log lacks /%s/:\n%s", c.Message, o.Log)
			}
		})
	}
}

// TestLoadObject is the check/repro path: every program of an ELF file.
func TestLoadObject(t *testing.T) {
	requireRoot(t)
	outs, err := LoadObject("../../bpf/corpus/freplace.o", Options{})
	require.NoError(t, err)
	require.Len(t, outs, 2)
	assert.Equal(t, "freplace", outs[0].Program)
	assert.Equal(t, "freplace_target", outs[1].Program)
	assert.True(t, outs[1].Accepted, outs[1].Summary)
	assert.Equal(t, "../../bpf/corpus/freplace.o", outs[1].Object)

	outs, err = LoadObject("../../bpf/corpus/global_data.o", Options{FullLog: true})
	require.NoError(t, err)
	require.Len(t, outs, 1)
	assert.True(t, outs[0].Accepted, outs[0].Summary)
	assert.Contains(t, outs[0].Log, "processed ", "FullLog keeps the level-2 log of accepted programs")

	_, err = LoadObject("host_test.go", Options{})
	require.Error(t, err)
}

// BenchmarkCorpus measures one whole corpus run on the running kernel.
func BenchmarkCorpus(b *testing.B) {
	if err := rlimit.RaiseMemlock(); !errors.Is(err, rlimit.ErrMemlockLimited) {
		require.NoError(b, err)
	}
	k, _, err := RunningKernel("")
	require.NoError(b, err)
	for b.Loop() {
		if _, _, err := RunCorpus(context.Background(), k, CorpusOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
