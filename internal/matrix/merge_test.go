package matrix

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Real fixtures: a `bpfmatrix run --kernels debian-6.1,debian-6.1-arm64`
// matrix (2026-11-25) and a run whose only kernel, debian-6.1, failed to
// boot (2026-12-02, `--no-cache --boot-timeout 100ms`). The archive moved
// in between: the two debian-6.1 results come from different images.
const (
	fixturePair   = "testdata/debian-6.1-x86_64-arm64.json.gz"
	fixtureFailed = "testdata/failed-boot-debian-6.1.json"
)

func loadFailed(t testing.TB) *result.Matrix {
	t.Helper()
	m, err := Read(fixtureFailed)
	require.NoError(t, err)
	return m
}

// shard returns a matrix of m's kernels named in names, as a run over just
// those kernels writes it.
func shard(m *result.Matrix, names ...string) *result.Matrix {
	out := &result.Matrix{Schema: m.Schema, Generated: m.Generated}
	for _, kr := range m.Kernels {
		if slices.Contains(names, kr.Kernel.Name) {
			out.Kernels = append(out.Kernels, kr)
		}
	}
	return out
}

// rankOf ranks names by their position in order (-1 for the others).
func rankOf(order ...string) func(string) int {
	return func(name string) int { return slices.Index(order, name) }
}

func TestMerge(t *testing.T) {
	pair := loadFixture(t, fixturePair)
	catalogOrder := rankOf("debian-6.1", "debian-6.1-arm64")
	x86, arm := shard(pair, "debian-6.1"), shard(pair, "debian-6.1-arm64")
	later := shard(pair, "debian-6.1-arm64")
	later.Generated = pair.Generated.Add(time.Hour)
	failed := loadFailed(t)
	failedNoDigest := loadFailed(t)
	failedNoDigest.Kernels[0].Kernel.Digest = ""
	for _, tc := range []struct {
		name    string
		inputs  []*result.Matrix
		want    []string // kernel names in order
		errors  []bool   // per kernel: has an error entry
		gen     time.Time
		wantErr error
	}{
		{"two shards", []*result.Matrix{x86, arm}, []string{"debian-6.1", "debian-6.1-arm64"}, []bool{false, false}, pair.Generated, nil},
		{"inputs in any order", []*result.Matrix{arm, x86}, []string{"debian-6.1", "debian-6.1-arm64"}, []bool{false, false}, pair.Generated, nil},
		{"generated is the newest input's", []*result.Matrix{x86, later}, []string{"debian-6.1", "debian-6.1-arm64"}, []bool{false, false}, later.Generated, nil},
		{"one kernel twice from one image", []*result.Matrix{pair, x86}, []string{"debian-6.1", "debian-6.1-arm64"}, []bool{false, false}, pair.Generated, nil},
		{"a failed kernel keeps its error entry", []*result.Matrix{arm, failed}, []string{"debian-6.1", "debian-6.1-arm64"}, []bool{true, false}, failed.Generated, nil},
		{"a failure without a digest yields to the result", []*result.Matrix{failedNoDigest, pair}, []string{"debian-6.1", "debian-6.1-arm64"}, []bool{false, false}, failed.Generated, nil},
		{"one name, two images", []*result.Matrix{pair, failed}, nil, nil, time.Time{}, ErrConflict},
		{"invalid input", []*result.Matrix{x86, {Schema: 99}}, nil, nil, time.Time{}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Merge(catalogOrder, tc.inputs...)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			var errs []bool
			for _, kr := range m.Kernels {
				names = append(names, kr.Kernel.Name)
				errs = append(errs, kr.Error != "")
			}
			assert.Equal(t, tc.want, names)
			assert.Equal(t, tc.errors, errs)
			assert.True(t, tc.gen.Equal(m.Generated), "generated %v, want %v", m.Generated, tc.gen)
			require.NoError(t, Validate(m))
		})
	}
}

// TestMergeShardsEqualsOneRun: the merged matrix.json of two shards is, byte
// for byte, the one-run matrix they were cut from.
func TestMergeShardsEqualsOneRun(t *testing.T) {
	pair := loadFixture(t, fixturePair)
	m, err := Merge(rankOf("debian-6.1", "debian-6.1-arm64"), shard(pair, "debian-6.1-arm64"), shard(pair, "debian-6.1"))
	require.NoError(t, err)
	want, err := JSON(pair)
	require.NoError(t, err)
	got, err := JSON(m)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestMergeConflictMessage(t *testing.T) {
	_, err := Merge(rankOf(), loadFixture(t, fixturePair), loadFailed(t))
	require.Error(t, err)
	assert.Equal(t, "merge: kernel debian-6.1: conflicting results: digest sha256:6aa38b0cef36a423251ee101cf94967dbd604cfd8f56f0c5f767be8d903f6d86 in one input, sha256:fe69a84e207e2ff5e842d5d27aba1481b4c026fe35b9f9452b11adada17d0002 in input 2", err.Error())
}

// TestMergeOrder: kernels the rank does not know sort after the ranked ones,
// by name.
func TestMergeOrder(t *testing.T) {
	pair := loadFixture(t, fixturePair)
	var ins []*result.Matrix
	for _, n := range []string{"zz", "b", "a", "debian-6.1"} {
		s := shard(pair, "debian-6.1")
		s.Kernels[0].Kernel.Name = n
		ins = append(ins, s)
	}
	m, err := Merge(rankOf("debian-6.1"), ins...)
	require.NoError(t, err)
	var names []string
	for _, kr := range m.Kernels {
		names = append(names, kr.Kernel.Name)
	}
	assert.Equal(t, []string{"debian-6.1", "a", "b", "zz"}, names)
}

// BenchmarkMerge20 merges 20 one-kernel shards (real results, renamed) and
// writes the report: the whole of `bpfmatrix merge` but reading the inputs.
func BenchmarkMerge20(b *testing.B) {
	pair := loadFixture(b, fixturePair)
	var ins []*result.Matrix
	for i := range 20 {
		s := shard(pair, pair.Kernels[i%2].Kernel.Name)
		s.Kernels[0].Kernel.Name = fmt.Sprintf("k%02d", i)
		ins = append(ins, s)
	}
	dir := b.TempDir()
	// CPU seconds per merge, next to the wall time: on a machine shared
	// with other work the wall time says more about the neighbours.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	defer func() { b.ReportMetric((cpu()-start).Seconds()/float64(b.N), "cpu-s/op") }()
	for b.Loop() {
		m, err := Merge(rankOf(), ins...)
		if err != nil {
			b.Fatal(err)
		}
		if err := Write(dir, m); err != nil {
			b.Fatal(err)
		}
	}
	os.RemoveAll(dir)
}

// TestJSONIsMarshalIndent: matrix.json and the kernel files, assembled from
// each kernel's one encoding, are the bytes json.MarshalIndent writes.
func TestJSONIsMarshalIndent(t *testing.T) {
	for name, m := range map[string]*result.Matrix{
		"pair":      loadFixture(t, fixturePair),
		"failed":    loadFailed(t),
		"no kernel": {Schema: result.SchemaVersion},
		"empty":     {Schema: result.SchemaVersion, Kernels: []result.KernelResult{}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.MarshalIndent(m, "", "  ")
			require.NoError(t, err)
			got, err := JSON(m)
			require.NoError(t, err)
			assert.Equal(t, string(want)+"\n", string(got))
			if len(m.Kernels) == 0 {
				return
			}
			dir := t.TempDir()
			require.NoError(t, Write(dir, m))
			for i := range m.Kernels {
				want, err := json.MarshalIndent(&m.Kernels[i], "", "  ")
				require.NoError(t, err)
				p, err := KernelFile(dir, m.Kernels[i].Kernel.Name)
				require.NoError(t, err)
				got, err := os.ReadFile(p)
				require.NoError(t, err)
				assert.Equal(t, string(want)+"\n", string(got))
			}
		})
	}
}

// TestJUnitIsMarshalIndent: the hand-written JUnit encoder writes the bytes
// encoding/xml writes, on real results and on text that needs escaping.
func TestJUnitIsMarshalIndent(t *testing.T) {
	odd := loadFailed(t)
	odd.Kernels[0].Error = "tab\there \"quoted\" 'single' <tag> & amp\r\nline two \x00 nul \xff bad utf-8 \ufffd ok ]]> end"
	pair := loadFixture(t, fixturePair)
	pair.Kernels[1].Features[0].Value = "a\nb<c>"
	// A skipped case too (real runs here have no inconclusive cell).
	pair.Kernels[0].Features[1].Status, pair.Kernels[0].Features[1].Error = result.Inconclusive, "probe\nfailed"
	for name, m := range map[string]*result.Matrix{
		"pair":      pair,
		"host":      realMatrix(t),
		"failed":    loadFailed(t),
		"odd text":  odd,
		"no kernel": {Schema: result.SchemaVersion},
	} {
		t.Run(name, func(t *testing.T) {
			doc := junitDoc(m)
			want, err := xml.MarshalIndent(doc, "", "  ")
			require.NoError(t, err)
			assert.Equal(t, xml.Header+string(want), string(encodeJUnit(doc)))
			got, err := JUnit(m)
			require.NoError(t, err)
			assert.Equal(t, xml.Header+string(want)+"\n", string(got))
		})
	}
}
