package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/observe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

func init() { subcommands["observe"] = runObserve }

// runObserve runs the attach-and-observe section alone and writes a compact
// result.KernelResult (Kernel, ObserveTime, Features of kind observe).
//
//	bpfmatrix-agent observe [--config PATH] [--burst N]
func runObserve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("observe", flag.ContinueOnError)
	config := fs.String("config", "", "kernel config `PATH` (default /boot/config-RELEASE, then /proc/config.gz)")
	burst := fs.Int("burst", 0, "events per delivery burst (0: 100000, negative: no bursts)")
	if !parseNoArgs(fs, args, stderr) {
		return 2
	}
	if err := rlimit.RaiseMemlock(); err != nil && !errors.Is(err, rlimit.ErrMemlockLimited) {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	kr := &result.KernelResult{Schema: result.SchemaVersion}
	if !observeKernel(ctx, kr, *config, *burst, stderr) {
		return 1
	}
	return writeJSON(stdout, stderr, kr)
}

// observeKernel runs internal/observe and adds its rows and time to kr:
// the attach-and-observe section of `matrix --observe` and `observe`.
func observeKernel(ctx context.Context, kr *result.KernelResult, config string, burst int, stderr io.Writer) bool {
	k, release, err := verifier.RunningKernel(config)
	if err != nil {
		fmt.Fprintf(stderr, "Error: observe: %v\n", err)
		return false
	}
	if kr.Kernel.Release == "" {
		kr.Kernel.Release, kr.Kernel.Version, kr.Kernel.Arch = release, k.Version.String(), string(k.Arch)
	}
	start := time.Now()
	rows, err := observe.Run(ctx, observe.Options{
		Kernel: observe.Kernel{Version: k.Version.String(), Arch: string(k.Arch), Config: k.Config},
		Burst:  burst,
	})
	if err != nil {
		fmt.Fprintf(stderr, "Error: observe: %v\n", err)
		return false
	}
	kr.ObserveTime = result.Duration(time.Since(start))
	kr.Features = append(kr.Features, rows...)
	return true
}
