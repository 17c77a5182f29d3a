package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// observeIn boots kernel and runs `bpfmatrix-agent observe` in it with the
// kernel's own config.
func observeIn(t *testing.T, kernel string, args ...string) *result.KernelResult {
	t.Helper()
	k := fetchKernel(t, kernel)
	agent := buildStaticFor(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent", k.Arch)
	job := vm.Job{Program: agent, Args: append([]string{"observe"}, args...), Files: map[string]string{}}
	if k.Config != "" {
		job.Files["/boot/config"] = k.Config
		job.Args = append(job.Args, "--config", "/boot/config")
	}
	var stdout, stderr bytes.Buffer
	res, err := vm.Run(context.Background(), vm.Options{
		Arch: k.Arch, Kernel: k.Image, TempDir: t.TempDir(), Stdout: &stdout, Stderr: &stderr,
	}, job)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "stderr: %s\nconsole: %s", stderr.String(), res.Console)
	var kr result.KernelResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &kr), "stdout: %s", stdout.String())
	t.Logf("%s: boot %v, run %v, observe %v", kernel, res.BootTime.Round(time.Millisecond), res.RunTime.Round(time.Millisecond), kr.ObserveTime.Std().Round(time.Millisecond))
	for _, f := range kr.Features {
		line := string(f.Status)
		if f.Value != "" {
			line += " " + f.Value
		}
		if f.Reason != nil {
			line += " [" + matrix.ReasonText(f.Reason) + "]"
		}
		if f.Errno != "" {
			line += " errno " + f.Errno
		}
		t.Logf("  %-28s %s", f.Name, line)
	}
	return &kr
}
