package object

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/object/objecttest"
)

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
	for _, b := range objecttest.Committed(f, 10, "../../tests/testdata/objects/*.o", "../../bpf/corpus/*.o") {
		for _, v := range objecttest.Variants(b) {
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
