package needs

import (
	"testing"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

// BenchmarkExtract: `bpfmatrix needs` on a real object of 105 programs
// (bcc's libbpf-tools klockstat, vfsstat and fsslower, built with clang 14
// and linked by bpftool: tests/testdata/thirdparty/libbpf-tools/PROVENANCE):
// reading the object as the command does, and extracting every program's
// requirements.
//
//	go test ./internal/needs -run '^$' -bench BenchmarkExtract -benchtime 20x
const linkedLibbpfTools = "../../tests/testdata/thirdparty/libbpf-tools/linked-klockstat-vfsstat-fsslower.o"

func BenchmarkExtract(b *testing.B) {
	for b.Loop() {
		o, err := object.Open(linkedLibbpfTools)
		if err != nil {
			b.Fatal(err)
		}
		progs, err := Extract(o.Spec)
		if err != nil {
			b.Fatal(err)
		}
		if len(progs) != 105 {
			b.Fatalf("%d programs", len(progs))
		}
	}
}
