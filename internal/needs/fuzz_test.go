package needs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/object/objecttest"
)

// seeds are the committed objects (tests/testdata/objects, the verifier
// corpus, the 100-program object) with damaged copies of each.
func seeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, b := range objecttest.Committed(f, 10, "../../tests/testdata/objects/*.o", "../../bpf/corpus/*.o", "testdata/*.o") {
		out = append(out, objecttest.Variants(b)...)
	}
	if len(out) < 100 {
		f.Fatalf("only %d seeds", len(out))
	}
	return out
}

// FuzzExtract: no input makes the host side of `bpfmatrix needs` (reading
// the object as internal/object does, then Extract and Explain) panic or
// crash the reader; every refusal is one line.
//
//	go test ./internal/needs -run '^$' -fuzz FuzzExtract -fuzztime 60s -fuzzminimizetime 100x
func FuzzExtract(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.o")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		o, err := object.Open(path)
		if err != nil {
			if !errors.Is(err, object.ErrInvalid) {
				t.Fatalf("not an ErrInvalid: %v", err)
			}
			return
		}
		progs, err := Extract(o.AnalysisSpec())
		if errors.Is(err, errCrashed) {
			t.Fatal(err)
		}
		for _, p := range progs {
			_, _ = Explain(p, Kernel{Name: "k"})
			for _, r := range p.Requirements {
				_ = r.Why
			}
		}
	})
}
