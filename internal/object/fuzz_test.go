package object

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedObjects are the committed objects FuzzOpen starts from: the test
// objects and the verifier corpus, as clang built them.
func seedObjects(f *testing.F) [][]byte {
	f.Helper()
	var objs [][]byte
	for _, glob := range []string{"../../tests/testdata/objects/*.o", "../../bpf/corpus/*.o"} {
		paths, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			objs = append(objs, b)
		}
	}
	if len(objs) < 10 {
		f.Fatalf("only %d seed objects", len(objs))
	}
	return objs
}

// variants are the damaged copies of a real object users hand us: cut at
// the ELF header, in the section data and one byte short, and one bit
// flipped at 16 places spread over the file (headers, section table,
// BTF, instructions).
func variants(b []byte) [][]byte {
	out := [][]byte{b}
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
	return out
}

// FuzzOpen: no input makes the host-side reading of an object (Open, then
// Sources and Annotate on each program) panic, and every refusal is an
// ErrInvalid of one line. Open recovers from a reader crash so that
// `check` goes on with the other objects; here such a crash is a failure.
//
//	go test ./internal/object -run '^$' -fuzz FuzzOpen -fuzztime 60s -fuzzminimizetime 100x
//
// (the default minimization of every new input, up to a minute each on
// these objects, leaves little time for fuzzing)
func FuzzOpen(f *testing.F) {
	for _, b := range seedObjects(f) {
		for _, v := range variants(b) {
			f.Add(v)
		}
	}
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil || len(logs) == 0 {
		f.Fatalf("no logs in testdata: %v", err)
	}
	var log []byte
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		log = append(log, b...)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.o")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		o, err := Open(path)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("not ErrInvalid: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			if strings.Contains(err.Error(), "the reader crashed") {
				t.Fatalf("reader panic: %v", err)
			}
			return
		}
		for _, p := range o.Programs {
			src, _ := o.Sources(p)
			if err := Annotate(io.Discard, string(log), "R0 invalid mem access 'map_value_or_null'", src); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzAnnotate: any log text, with the line info of a real object.
func FuzzAnnotate(f *testing.F) {
	logs, _ := filepath.Glob("testdata/*.log")
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "invalid func unknown#182")
	}
	f.Add("9: (85) call unknown#182\n", "")
	o, err := Open(filepath.Join(objects, "loop.o"))
	if err != nil {
		f.Fatal(err)
	}
	src, _ := o.Sources("match_comm")
	f.Fuzz(func(t *testing.T, log, summary string) {
		var b bytes.Buffer
		if err := Annotate(&b, log, summary, src); err != nil {
			t.Fatal(err)
		}
		FailingInsn(log, summary)
	})
}
