package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/reportdir"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// matrixWithoutGenerated decodes dir/matrix.json and drops "generated".
func matrixWithoutGenerated(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Contains(t, m, "generated")
	delete(m, "generated")
	return m
}

func kernelNames(t *testing.T, dir string) []string {
	t.Helper()
	m, err := matrix.Read(filepath.Join(dir, matrix.FileJSON))
	require.NoError(t, err)
	var names []string
	for _, kr := range m.Kernels {
		names = append(names, kr.Kernel.Name)
	}
	return names
}

// TestMergeRealShards runs debian-5.10 and debian-6.1 as one run and as two
// shards (real boots, through the result cache), and merges the shards.
func TestMergeRealShards(t *testing.T) {
	tmp := t.TempDir()
	dir := func(name string) string { return filepath.Join(tmp, name) }
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		stdout, stderr, code := runCLI(t, append([]string{"run", "--kernels", "debian-5.10,debian-6.1"}, args...)...)
		require.Equal(t, 0, code, "run %v: %s", args, stderr)
		return stdout
	}
	// The first run may compute results; every later one reads them from
	// the result cache, so all the reports compared below say "cached".
	run(t, "--out", dir("prime"))
	run(t, "--out", dir("single"))
	run(t, "--shard", "1/2", "--out", dir("s1"))
	run(t, "--shard", "2/2", "--out", dir("s2"))
	// debian-5.10 costs more (README "Measured"): it goes first, alone.
	require.Equal(t, []string{"debian-5.10"}, kernelNames(t, dir("s1")))
	require.Equal(t, []string{"debian-6.1"}, kernelNames(t, dir("s2")))

	merge := func(t *testing.T, out string, inputs ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append(append([]string{"merge"}, inputs...), "--out", out)...)
	}

	t.Run("two shards equal one run", func(t *testing.T) {
		stdout, stderr, code := merge(t, dir("merged"), dir("s2"), dir("s1"))
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "merged 2 reports into "+dir("merged"))
		assert.Equal(t, matrixWithoutGenerated(t, dir("single")), matrixWithoutGenerated(t, dir("merged")))
		// Every other file but junit.xml (its timestamps are generated's)
		// is byte for byte the one run's: per-kernel files, logs, md, html.
		want, got := snapshot(t, dir("single")), snapshot(t, dir("merged"))
		for _, m := range []map[string]string{want, got} {
			for _, p := range []string{matrix.FileJSON, matrix.FileJUnit, reportdir.StampFile, reportdir.LockFile} {
				delete(m, p)
			}
		}
		assert.Contains(t, got, "kernels/debian-5.10.json")
		assert.Contains(t, got, "logs/debian-6.1/isa_v4_bswap.log")
		assert.Equal(t, want, got)
	})

	t.Run("diff and run work on the merged report", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "diff", filepath.Join(dir("single"), matrix.FileJSON), filepath.Join(dir("merged"), matrix.FileJSON))
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "no differences")
		assert.Contains(t, run(t, "--out", dir("merged")), dir("merged")+" is up to date")
	})

	t.Run("two images under one name", func(t *testing.T) {
		// s1 as another week's shard would write it: debian-5.10 named
		// debian-6.1 is another image under that name.
		require.NoError(t, os.CopyFS(dir("other"), os.DirFS(dir("s1"))))
		p := filepath.Join(dir("other"), matrix.FileJSON)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "debian-5.10", "debian-6.1")), 0o644))
		require.NoError(t, os.Rename(filepath.Join(dir("other"), "logs", "debian-5.10"), filepath.Join(dir("other"), "logs", "debian-6.1")))
		_, stderr, code := merge(t, dir("refused"), dir("s2"), dir("other"))
		assert.Equal(t, 2, code)
		assert.Regexp(t, `^Error: merge: kernel debian-6\.1: conflicting results: digest sha256:[0-9a-f]{64} in one input, sha256:[0-9a-f]{64} in input 2\n$`, stderr)
		assert.NoDirExists(t, dir("refused"), "bad input is refused before --out is touched")
	})

	t.Run("a failed kernel keeps its error entry", func(t *testing.T) {
		// 4.4 is an OCI kernel; a registry that refuses connections makes
		// its fetch fail here and on any machine.
		stdout, stderr, code := runCLI(t, "--oci-registry", "127.0.0.1:1", "run", "--kernels", "debian-5.10,4.4", "--out", dir("sfail"))
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "4.4                  FAILED: fetch 4.4")
		_, stderr, code = merge(t, dir("withfailed"), dir("sfail"), dir("s2"))
		require.Equal(t, 0, code, stderr)
		m, err := matrix.Read(filepath.Join(dir("withfailed"), matrix.FileJSON))
		require.NoError(t, err)
		require.Len(t, m.Kernels, 3)
		assert.Equal(t, []string{"debian-5.10", "debian-6.1", "4.4"}, kernelNames(t, dir("withfailed")), "catalog order")
		assert.Contains(t, m.Kernels[2].Error, "registry 127.0.0.1:1 not reachable")
		assert.FileExists(t, filepath.Join(dir("withfailed"), "kernels", "4.4.json"))
		md, err := os.ReadFile(filepath.Join(dir("withfailed"), matrix.FileMarkdown))
		require.NoError(t, err)
		assert.Contains(t, string(md), "registry 127.0.0.1:1 not reachable")
	})

	t.Run("bad input", func(t *testing.T) {
		require.NoError(t, os.MkdirAll(dir("empty"), 0o755))
		broken := dir("broken")
		require.NoError(t, os.CopyFS(broken, os.DirFS(dir("s2"))))
		require.NoError(t, os.RemoveAll(filepath.Join(broken, "logs")))
		for name, tc := range map[string]struct {
			args []string
			msg  string
		}{
			"no matrix.json":  {[]string{"merge", dir("empty"), "--out", dir("x")}, "no such file or directory"},
			"a log missing":   {[]string{"merge", broken, "--out", dir("x")}, "is missing or not a regular file"},
			"no --out":        {[]string{"merge", dir("s1")}, "--out DIR is required"},
			"no input at all": {[]string{"merge", "--out", dir("x")}, "requires at least 1 arg"},
		} {
			t.Run(name, func(t *testing.T) {
				_, stderr, code := runCLI(t, tc.args...)
				assert.Equal(t, 2, code)
				assert.Contains(t, stderr, tc.msg)
				assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
				assert.NoDirExists(t, dir("x"))
			})
		}
	})
}

func TestShardSplit(t *testing.T) {
	for _, tc := range []struct {
		shard string
		want  []string
	}{
		{"1/1", []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-5.10-arm64", "debian-6.1-arm64"}},
		// Costliest first into the least loaded shard: 5.10-arm64 (7.8 s)
		// to 1, 6.1-arm64 (5.6 s) to 2, then the x86_64 kernels (under KVM,
		// a quarter of that) 5.10 (1.95 s) and 6.12 (1.58 s) to 2, 6.1
		// (1.4 s) to 1; each shard keeps the order given.
		{"1/2", []string{"debian-6.1", "debian-5.10-arm64"}},
		{"2/2", []string{"debian-5.10", "debian-6.12", "debian-6.1-arm64"}},
	} {
		t.Run(tc.shard, func(t *testing.T) {
			specs, err := catalog.Default().LookupAll([]string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-5.10-arm64", "debian-6.1-arm64"})
			require.NoError(t, err)
			got, err := selectShard(specs, tc.shard)
			require.NoError(t, err)
			assert.Equal(t, tc.want, specNames(got))
		})
	}
	for _, bad := range []string{"0/2", "3/2", "1/0", "x", "1/", "/2", "-1/2"} {
		_, err := selectShard(nil, bad)
		assert.ErrorContains(t, err, "want I/N", bad)
	}
	specs, err := catalog.Default().LookupAll([]string{"debian-6.1"})
	require.NoError(t, err)
	_, err = selectShard(specs, "2/2")
	assert.ErrorContains(t, err, "no kernels in this shard (1 kernels for 2 shards)")
}

// TestShardsCoverTheCatalog: for every N, the shards of the whole catalog are
// disjoint, cover it, and no shard is heavier than the lightest by more than
// its costliest kernel (greedy LPT's bound).
func TestShardsCoverTheCatalog(t *testing.T) {
	specs := catalog.Default().Kernels
	for n := 1; n <= 8; n++ {
		seen := map[string]int{}
		var loads []float64
		var maxCost float64
		for _, sh := range shardKernels(specs, n) {
			var l float64
			for _, k := range sh {
				seen[k.Name]++
				l += kernelCost(k)
				maxCost = max(maxCost, kernelCost(k))
			}
			loads = append(loads, l)
		}
		assert.Len(t, seen, len(specs), "n=%d", n)
		for name, c := range seen {
			assert.Equal(t, 1, c, "n=%d: %s", n, name)
		}
		hi, lo := loads[0], loads[0]
		for _, l := range loads {
			hi, lo = max(hi, l), min(lo, l)
		}
		assert.LessOrEqual(t, hi-lo, maxCost, "n=%d loads %v", n, loads)
	}
}

// TestKernelsListJSON: the list a workflow turns into a job matrix agrees
// with run --shard.
func TestKernelsListJSON(t *testing.T) {
	stdout, stderr, code := runCLI(t, "kernels", "list", "--json", "--kernels", "debian-5.10,debian-6.1,debian-6.1-arm64", "--shards", "2")
	require.Equal(t, 0, code, stderr)
	var got kernelsJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, kernelsJSON{Shards: 2, Kernels: []kernelJSON{
		{Name: "debian-5.10", Version: "5.10", Arch: "x86_64", Cost: 1.95, Shard: 2},
		{Name: "debian-6.1", Version: "6.1", Arch: "x86_64", Cost: 1.4, Shard: 2},
		{Name: "debian-6.1-arm64", Version: "6.1", Arch: "arm64", Cost: 5.6, Shard: 1},
	}}, got)
	stdout, stderr, code = runCLI(t, "kernels", "list", "--json", "--arch", "catalog", "--cache-dir", t.TempDir()) // no built kernels
	require.Equal(t, 0, code, stderr)
	var all kernelsJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &all))
	assert.Len(t, all.Kernels, len(catalog.Default().Kernels))
	assert.Zero(t, all.Kernels[0].Shard, "no shard without --shards")
	_, stderr, code = runCLI(t, "kernels", "list", "--json", "--shards", "-1")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--shards must not be negative")
}

// BenchmarkMergeCommand20 is `bpfmatrix merge` over 20 report directories of
// one kernel each (real results, renamed; written by run's report writer,
// verifier logs included): reading and checking the inputs, merging, and
// writing the staged, stamped report.
func BenchmarkMergeCommand20(b *testing.B) {
	tmp := b.TempDir()
	var dirs []string
	for i := range 20 {
		m := loadRun(b, fixturePair)
		kr := m.Kernels[i%2]
		kr.Kernel.Name = fmt.Sprintf("k%02d", i)
		m.Kernels = []result.KernelResult{kr}
		d := filepath.Join(tmp, kr.Kernel.Name)
		require.NoError(b, writeReport(d, m))
		dirs = append(dirs, d)
	}
	out := filepath.Join(tmp, "merged")
	g := func() (string, int) {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), append(append([]string{"merge"}, dirs...), "--out", out), strings.NewReader(""), &stdout, &stderr)
		return stderr.String(), ExitCode(err, &stderr)
	}
	for b.Loop() {
		if stderr, code := g(); code != 0 {
			b.Fatal(stderr)
		}
	}
}
