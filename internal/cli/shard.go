package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// How `run --shard I/N` splits kernels across CI jobs: each kernel gets a
// cost (kernelCost), and the kernels are assigned greedily, costliest first,
// to the shard with the least total cost so far (longest processing time
// first; ties go to the lower shard, and equal costs keep catalog order), so
// every job computes the same split from the same kernel list without talking
// to the others. Inside a shard, kernels keep the order they were given in.

// tcgSeconds is boot + probes + verifier corpus per kernel version, in
// seconds, measured under TCG on the 2-core development machine (README
// "Measured", `make bench` -> BenchmarkRun: e.g. debian-5.10 1.85 + 5.27 +
// 0.65). Versions not measured there cost tcgDefault, the mean of these.
var tcgSeconds = map[string]float64{
	"5.10": 7.8,
	"6.1":  5.6,
	"6.12": 6.3,
	"7.2":  8.0,
}

const tcgDefault = 6.9

// kvmFactor: on a GitHub runner x86_64 guests run under KVM and arm64 guests
// under TCG. The development machine has no /dev/kvm, so this ratio is not
// measured here: it is a deliberately conservative estimate (KVM boots and
// probes several times faster than TCG), and only the split's balance, never
// its correctness, depends on it.
const kvmFactor = 0.25

// kernelCost is the expected seconds one kernel costs on a CI runner.
func kernelCost(k catalog.KernelSpec) float64 {
	s, ok := tcgSeconds[fmt.Sprintf("%d.%d", k.Version.Major, k.Version.Minor)]
	if !ok {
		s = tcgDefault
	}
	if k.Arch == catalog.AMD64 {
		s *= kvmFactor
	}
	return s
}

// parseShard parses "I/N" (1 <= I <= N).
func parseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, usageError("--shard %q: want I/N with 1 <= I <= N (e.g. 2/4)", s)
	}
	return i, n, nil
}

// shardKernels splits specs into n shards by cost (see above) and returns
// each shard's kernels in their given order.
func shardKernels(specs []catalog.KernelSpec, n int) [][]catalog.KernelSpec {
	idx := make([]int, len(specs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(kernelCost(specs[b]), kernelCost(specs[a])) })
	load := make([]float64, n)
	assigned := make([][]int, n)
	for _, i := range idx {
		s := 0
		for j := 1; j < n; j++ {
			if load[j] < load[s] {
				s = j
			}
		}
		load[s] += kernelCost(specs[i])
		assigned[s] = append(assigned[s], i)
	}
	out := make([][]catalog.KernelSpec, n)
	for s, is := range assigned {
		slices.Sort(is)
		for _, i := range is {
			out[s] = append(out[s], specs[i])
		}
	}
	return out
}

// selectShard applies --shard to the selected kernels; an empty shard is bad
// input (more shards than kernels).
func selectShard(specs []catalog.KernelSpec, shard string) ([]catalog.KernelSpec, error) {
	if shard == "" {
		return specs, nil
	}
	i, n, err := parseShard(shard)
	if err != nil {
		return nil, err
	}
	got := shardKernels(specs, n)[i-1]
	if len(got) == 0 {
		return nil, usageError("--shard %s: no kernels in this shard (%d kernels for %d shards)", shard, len(specs), n)
	}
	return got, nil
}
