package tests

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// BenchmarkProbeVsBpftool probes the host kernel with the full feature set
// (every helper for every program type) and runs `bpftool feature probe -j`
// on the same kernel, alternately, in one run. Goal: ratio <= 1.
//
//	go test -run '^$' -bench ProbeVsBpftool -benchtime 10x ./tests/
func BenchmarkProbeVsBpftool(b *testing.B) {
	require.True(b, probe.CheckPrivilege(), "the host probe needs root")
	bpftool, err := exec.LookPath("/usr/sbin/bpftool")
	require.NoError(b, err)
	ctx := context.Background()
	var ours, theirs time.Duration
	var kr *result.KernelResult
	for i := 0; i < b.N; i++ {
		start := time.Now()
		kr, err = probe.Probe(ctx, probe.Options{})
		ours += time.Since(start)
		require.NoError(b, err)

		start = time.Now()
		out, err := exec.CommandContext(ctx, bpftool, "feature", "probe", "-j").Output()
		theirs += time.Since(start)
		require.NoError(b, err)
		require.NotEmpty(b, out)
	}
	c := probe.Counts(kr.Features)
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "bpfmatrix-ms")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "bpftool-ms")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "ratio")
	b.ReportMetric(float64(len(kr.Features)), "features")
	b.ReportMetric(float64(c[result.Inconclusive]), "inconclusive")
}
