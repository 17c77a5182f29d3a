// Command bpfmatrix-init is the VM's /init for jobs other than the agent
// (bpfmatrix exec, go test -exec, vmtest, repro --shell): internal/guest's
// PID 1 and nothing else, so that the guest unpacks and starts as little as
// it can (see internal/vm's guest binaries). It only runs as PID 1.
package main

import (
	"fmt"
	"os"

	"github.com/bpfmatrix/bpfmatrix/internal/guest"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Error: bpfmatrix-init is a VM's /init (PID 1); run programs in a VM with bpfmatrix exec")
		os.Exit(2)
	}
	guest.Init(wire.Flate) // never returns
}
