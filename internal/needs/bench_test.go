package needs

import (
	"syscall"
	"testing"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

// BenchmarkExtract: `bpfmatrix needs` on a real object of 105 programs
// (bcc's libbpf-tools klockstat, vfsstat and fsslower, built with clang 14
// and linked by bpftool: tests/testdata/thirdparty/libbpf-tools/PROVENANCE):
// reading the object as the command does, and extracting every program's
// requirements. cpu-ns/op is the process's CPU time (user+system) per
// iteration: on a machine shared with other work, ns/op (wall time) counts
// the waiting for a CPU too.
//
//	go test ./internal/needs -run '^$' -bench BenchmarkExtract -benchtime 20x
const linkedLibbpfTools = "../../tests/testdata/thirdparty/libbpf-tools/linked-klockstat-vfsstat-fsslower.o"

func BenchmarkExtract(b *testing.B) {
	start := cpuTime(b)
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
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
