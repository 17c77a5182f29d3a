package needs

import (
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

// BenchmarkExtract: `bpfmatrix needs` on a 100-program object (testdata/
// many.o, built with clang): reading the object as the command does, and
// extracting every program's requirements.
//
//	go test ./internal/needs -run '^$' -bench BenchmarkExtract -benchtime 20x
func BenchmarkExtract(b *testing.B) {
	for b.Loop() {
		o, err := object.Open("testdata/many.o")
		if err != nil {
			b.Fatal(err)
		}
		progs, err := Extract(o.Spec)
		if err != nil {
			b.Fatal(err)
		}
		if len(progs) != 100 {
			b.Fatalf("%d programs", len(progs))
		}
	}
}
