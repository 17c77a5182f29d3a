// Command bpfmatrix boots real Linux kernels in QEMU, probes what their BPF
// subsystem can do, and publishes a kernel capability matrix.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bpfmatrix/bpfmatrix/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
