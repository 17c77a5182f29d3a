package needs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

// seeds are the committed objects (tests/testdata/objects, the verifier
// corpus, the 100-program object) with damaged copies of each: cut at the
// ELF header, in the section data and one byte short, and one bit flipped
// at 16 places spread over the file.
func seeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, glob := range []string{"../../tests/testdata/objects/*.o", "../../bpf/corpus/*.o", "testdata/*.o"} {
		paths, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
			for _, n := range []int{16, 64, len(b) / 2, len(b) - 1} {
				if n > 0 && n < len(b) {
					out = append(out, b[:n])
				}
			}
			for i := range 16 {
				c := bytes.Clone(b)
				pos := (i*len(c)/16 + 7*i) % len(c)
				c[pos] ^= 1 << (i % 8)
				out = append(out, c)
			}
		}
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
		progs, err := Extract(o.Spec)
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
