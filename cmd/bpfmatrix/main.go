// Command bpfmatrix boots real Linux kernels in QEMU, probes what their BPF
// subsystem can do, and publishes a kernel capability matrix.
package main

import (
	"context"
	"os"

	"github.com/bpfmatrix/bpfmatrix/internal/cli"
)

func main() {
	ctx, stop := cli.NotifyContext(context.Background())
	err := cli.Interrupted(ctx, cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
