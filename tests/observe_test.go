package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// TestObserve runs the attach-and-observe section on four kernels and
// checks the cells whose answer differs between them, each with its reason,
// and that no cell is inconclusive or unexplained. The expectations were
// measured first (observeIn logs every row):
//
//   - kprobe_multi: introduced in 5.18; Debian's 6.1 lacks CONFIG_FPROBE
//     (x86_64 and arm64), 6.12 has it.
//   - fentry, fexit, fmod_ret, lsm on 6.1-arm64: the program loads, the
//     attach fails with ENOTSUPP (arm64 gained ftrace direct calls, which
//     BPF trampolines need, in 6.4).
//   - lsm on 5.10: attaches and never fires, since Debian's 5.10
//     CONFIG_LSM does not list bpf (6.1 and later do).
//   - tcx and uprobe_multi: introduced in 6.6.
func TestObserve(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	type cell struct {
		row    string
		status result.Status
		reason result.ReasonKind // for unsupported
		config string            // the reason's config option, if any
		errno  string
	}
	yes := func(row string) cell { return cell{row: row, status: result.Supported} }
	no := func(row string, kind result.ReasonKind, config string) cell {
		return cell{row: row, status: result.Unsupported, reason: kind, config: config}
	}
	// Every kernel here: what a minimal guest must still see.
	common := []cell{
		yes("kprobe.delivered"), yes("kretprobe.delivered"), yes("raw_tracepoint.delivered"),
		yes("tp_btf.delivered"), yes("tracepoint.delivered"), yes("uprobe.delivered"),
		yes("uretprobe.delivered"), yes("perf_event.delivered"), yes("xdp_generic.delivered"),
		yes("xdp_test_run.delivered"), yes("socket_filter.delivered"), yes("cgroup_skb.delivered"),
		yes("cgroup_sock_addr.delivered"), yes("sk_lookup.delivered"), yes("iter_task.delivered"),
		yes("ringbuf.burst"), yes("perf_buffer.burst"),
	}
	for _, tc := range []struct {
		kernel string
		cells  []cell
	}{
		{"debian-5.10", []cell{
			no("kprobe_multi.attached", result.ReasonVersion, ""),
			yes("fentry.delivered"), yes("fexit.delivered"), yes("fmod_ret.delivered"),
			yes("lsm.attached"), no("lsm.fired", result.ReasonConfig, "CONFIG_LSM"),
			no("tcx.attached", result.ReasonVersion, ""), no("uprobe_multi.attached", result.ReasonVersion, ""),
		}},
		{"debian-6.1", []cell{
			no("kprobe_multi.attached", result.ReasonConfig, "CONFIG_FPROBE"),
			no("kprobe_multi.fired", result.ReasonConfig, "CONFIG_FPROBE"),
			yes("fentry.delivered"), yes("fexit.delivered"), yes("fmod_ret.delivered"), yes("lsm.delivered"),
			no("tcx.attached", result.ReasonVersion, ""), no("uprobe_multi.attached", result.ReasonVersion, ""),
		}},
		{"debian-6.12", []cell{
			yes("kprobe_multi.delivered"), yes("fentry.delivered"), yes("lsm.delivered"),
			yes("tcx.delivered"), yes("uprobe_multi.delivered"),
		}},
		{"debian-6.1-arm64", []cell{
			no("kprobe_multi.attached", result.ReasonConfig, "CONFIG_FPROBE"),
			{row: "fentry.attached", status: result.Unsupported, reason: result.ReasonArch, errno: "ENOTSUPP"},
			no("fentry.fired", result.ReasonArch, ""),
			{row: "fexit.attached", status: result.Unsupported, reason: result.ReasonArch, errno: "ENOTSUPP"},
			{row: "fmod_ret.attached", status: result.Unsupported, reason: result.ReasonArch, errno: "ENOTSUPP"},
			{row: "lsm.attached", status: result.Unsupported, reason: result.ReasonArch, errno: "ENOTSUPP"},
			no("tcx.attached", result.ReasonVersion, ""),
		}},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			kr := observeIn(t, tc.kernel)
			rows := map[string]result.Feature{}
			for _, f := range kr.Features {
				require.Equal(t, result.KindObserve, f.Kind, f.Name)
				rows[f.Name] = f
				assert.NotEqual(t, result.Inconclusive, f.Status, "%s: %s", f.Name, f.Error)
				if f.Status == result.Unsupported {
					if assert.NotNil(t, f.Reason, f.Name) {
						assert.NotEqual(t, result.ReasonUnexplained, f.Reason.Kind, "%s: %s", f.Name, f.Reason.Detail)
					}
				}
			}
			for _, c := range append(tc.cells, common...) {
				f, ok := rows[c.row]
				if !assert.True(t, ok, "row %s missing", c.row) {
					continue
				}
				assert.Equal(t, c.status, f.Status, "%s: %+v", c.row, f.Reason)
				if c.status == result.Unsupported && f.Reason != nil {
					assert.Equal(t, c.reason, f.Reason.Kind, "%s: %s", c.row, f.Reason.Detail)
					if c.config != "" {
						assert.Equal(t, c.config, f.Reason.Config, c.row)
					}
				}
				if c.errno != "" {
					assert.Equal(t, c.errno, f.Errno, c.row)
					// Loads, does not attach: the failing step is the attach.
					assert.Contains(t, f.Reason.Detail, "BPF_RAW_TRACEPOINT_OPEN", c.row)
				}
			}
			if tc.kernel == "debian-6.1-arm64" {
				assert.Equal(t, "6.4", rows["fentry.attached"].Reason.Version)
			}
		})
	}
}
