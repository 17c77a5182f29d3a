// Command capture probes the running kernel with internal/probe (the same
// code `bpfmatrix probe --json` runs) and prints a one-kernel matrix.json.
// It is how testdata/host-*.json were captured:
//
//	sudo go run ./internal/matrix/testdata/capture -name host > internal/matrix/testdata/host-root.json
//
// Run it again as an unprivileged user for the privilege fixture.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func main() {
	name := flag.String("name", "host", "kernel name to record")
	bpftool := flag.String("bpftool", "/usr/sbin/bpftool", "bpftool for the cross-check (empty: none)")
	flag.Parse()
	kr, err := probe.Probe(context.Background(), probe.Options{BpftoolPath: *bpftool})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	kr.Kernel.Name = *name
	m := &result.Matrix{Schema: result.SchemaVersion, Generated: time.Now().UTC().Truncate(time.Second), Kernels: []result.KernelResult{*kr}}
	b, err := matrix.JSON(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Stdout.Write(b)
}
