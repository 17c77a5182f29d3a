// Package objecttest gives fuzz targets that read BPF objects their seeds:
// the objects committed in this repository (built by clang) and the damaged
// copies of each that users hand us. Only tests import it.
package objecttest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Committed reads every file matching the globs (relative to the test's
// package directory), failing tb when a glob is malformed or fewer than min
// files match.
func Committed(tb testing.TB, min int, globs ...string) [][]byte {
	tb.Helper()
	var objs [][]byte
	for _, glob := range globs {
		paths, err := filepath.Glob(glob)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			objs = append(objs, b)
		}
	}
	if len(objs) < min {
		tb.Fatalf("only %d seed objects from %v", len(objs), globs)
	}
	return objs
}

// Variants are b and its damaged copies: cut at the ELF header, in the
// section data and one byte short, and one bit flipped at 16 places spread
// over the file (headers, section table, BTF, instructions).
func Variants(b []byte) [][]byte {
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
