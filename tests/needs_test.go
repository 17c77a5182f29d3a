package tests

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/cli"
)

// needsMatrix is a matrix published by `bpfmatrix run --kernels
// debian-5.10,debian-6.1,debian-6.12` (probe results and configs; the
// verifier corpus and bpftool cross-check left out), unpacked to a file.
func needsMatrix(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/needs-matrix.json.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "matrix.json")
	out, err := os.Create(path)
	require.NoError(t, err)
	_, err = io.Copy(out, zr)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return path
}

// TestPredictionsMatchRealLoads runs `needs --matrix` (no boot) over the
// committed objects and every third-party one (testdata/thirdparty), and
// holds every prediction to the real loads of `check` on the matrix's
// kernels (TestCheckThirdParty's run: one boot per kernel): a program a
// kernel accepted lacks nothing there, and a program rejected on one
// kernel but accepted on another (so rejected for what that kernel lacks)
// has a missing requirement named, the one the kernel's message is about,
// unless it is one of the rejections below that no feature explains.
func TestPredictionsMatchRealLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	real, objs, _ := checkEverything(t)
	kernels := checkKernels

	// needs is given the objects it can read: cilium/ebpf's three
	// deliberately broken or too new objects are bad input to it (exit 2).
	// javagc.bpf.o (usdt.bpf.h's weak symbols) is read the way libbpf
	// reads it (object.Object.Relaxed).
	var readable []string
	for _, o := range objs {
		switch filepath.Base(o) {
		case "invalid_btf_map_init-el.elf", "invalid_map_static-el.elf", "ksym-el.elf":
			continue
		}
		readable = append(readable, o)
	}
	stdout, stderr, code := bpfmatrix(t, nil, append([]string{"needs", "--json", "--matrix", needsMatrix(t)}, readable...)...)
	require.Equal(t, 0, code, stderr)
	var predicted cli.NeedsReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &predicted), stdout)
	require.Equal(t, kernels, predicted.Kernels)

	type progKey struct{ object, program string }
	lacks := map[progKey]map[string]string{}   // kernel -> explanation ("" when nothing missing)
	modules := map[progKey]map[string]string{} // kernel -> module needed ("" for none)
	for _, o := range predicted.Objects {
		require.Empty(t, o.Error)
		for _, p := range o.Programs {
			m := map[string]string{}
			mods := map[string]string{}
			modules[progKey{filepath.Base(o.Path), p.Name}] = mods
			for _, pr := range p.Predictions {
				if pr.Module != nil {
					mods[pr.Kernel] = pr.Module.Module
				}
				if pr.Lacks != nil {
					m[pr.Kernel] = pr.Text
				} else {
					m[pr.Kernel] = ""
				}
			}
			lacks[progKey{filepath.Base(o.Path), p.Name}] = m
		}
		for _, mp := range o.Maps {
			m := map[string]string{}
			for _, pr := range mp.Predictions {
				if pr.Lacks != nil {
					m[pr.Kernel] = pr.Text
				} else {
					m[pr.Kernel] = ""
				}
			}
			lacks[progKey{filepath.Base(o.Path), "map " + mp.Name}] = m
		}
	}

	// Rejected on some kernels and accepted on others for a reason that is
	// no feature of the table: each was read in the kernel's log and the
	// tool's source.
	notAFeature := map[progKey]map[string]bool{
		// The tp_btf arguments of block_rq_insert/issue were (q, rq) until
		// 5.11 (a54895fa057c): reading the second as the first is out of
		// bounds. biosnoop's and bitesize's user space pick by kernel.
		{"biosnoop.bpf.o", "block_rq_insert"}: {"debian-5.10": true},
		{"biosnoop.bpf.o", "block_rq_issue"}:  {"debian-5.10": true},
		{"bitesize.bpf.o", "block_rq_issue"}:  {"debian-5.10": true},
	}
	seenNotAFeature := map[progKey]bool{}
	// raw_tp programs calling bpf_get_socket_cookie only where
	// bpf_core_enum_value_exists(BPF_FUNC_check_mtu) (5.12+) holds: on 5.10
	// the verifier never sees the call (accepted); on 6.1 and 6.12 it does,
	// and raw_tp programs are not offered the helper. needs --matrix
	// predicts it from the matrix's probed helper cell (Requirement.LiveFrom);
	// check, which has no probe of the kernel, names no feature for it.
	probedOnly := map[progKey]bool{
		{"tcppktlat.bpf.o", "tcp_probe"}:            true,
		{"tcppktlat.bpf.o", "tcp_rcv_space_adjust"}: true,
		{"tcppktlat.bpf.o", "tcp_destroy_sock"}:     true,
	}

	explained, unpredicted := 0, 0
	for _, row := range real.Rows {
		key := progKey{filepath.Base(row.Object), row.Name}
		switch row.Kind {
		case "program":
		case "map":
			key.program = "map " + row.Name
		default:
			continue
		}
		pred, ok := lacks[key]
		if !ok {
			// An object only libbpf reads: needs has no programs for it
			// until it reads such objects too; its rows are counted.
			if row.Cells[kernels[0]].Loader == "libbpf" {
				unpredicted++
				continue
			}
		}
		require.True(t, ok, "no prediction for %v", key)
		acceptedSomewhere := false
		for _, c := range row.Cells {
			acceptedSomewhere = acceptedSomewhere || c.Status == check.CellAccepted
		}
		for _, k := range kernels {
			cell := row.Cells[k]
			why := pred[k]
			switch {
			case cell.Status == check.CellAccepted:
				assert.Empty(t, why, "%v on %s: accepted, but predicted: %s", key, k, why)
				assert.Empty(t, modules[key][k], "%v on %s: accepted, but predicted to need a module", key, k)
			case cell.Status == check.CellNeedsModule:
				assert.Equal(t, cell.Module, modules[key][k], "%v on %s: %s", key, k, cell.Summary)
			case cell.Status == check.CellRejected && acceptedSomewhere && notAFeature[key][k]:
				seenNotAFeature[key] = true
				t.Logf("%v on %s: rejected (%s), no feature explains it: %q", key, k, cell.Summary, why)
			case cell.Status == check.CellRejected && acceptedSomewhere:
				if assert.NotEmpty(t, why, "%v on %s: rejected (%s) but accepted elsewhere, and nothing predicted missing", key, k, cell.Summary) {
					explained++
					t.Logf("%v on %s: kernel says %q; needs says %q; check says %q", key, k, cell.Summary, why, cell.Explanation)
					if !probedOnly[key] {
						assert.NotEmpty(t, cell.Explanation, "%v on %s: check explains the rejection itself", key, k)
					}
				}
			case cell.Status == check.CellError && strings.Contains(cell.Summary, "names no program type"):
				assert.Contains(t, why, "no kernel loads it", "%v on %s", key, k)
			}
		}
	}
	for key := range notAFeature {
		assert.True(t, seenNotAFeature[key], "%v: listed as rejected for no feature, but it was not", key)
	}
	t.Logf("%d rejections explained by needs; %d rows loaded with libbpf and not predicted", explained, unpredicted)
	assert.GreaterOrEqual(t, explained, 4, "loop.o's two programs on debian-5.10, maps_only.o's arena on debian-5.10 and 6.1, and the third-party ones")
	for _, k := range []string{"debian-6.1", "debian-6.12"} {
		assert.Contains(t, lacks[progKey{"tcppktlat.bpf.o", "tcp_probe"}][k], "bpf_get_socket_cookie", k)
	}
	assert.Empty(t, lacks[progKey{"tcppktlat.bpf.o", "tcp_probe"}]["debian-5.10"], "the branch is dead on 5.10")
	ct := progKey{"module_kfunc.o", "ct_lookup"}
	assert.Equal(t, map[string]string{"debian-6.1": "nf_conntrack", "debian-6.12": "nf_conntrack"}, modules[ct])
	// 5.10's nf_conntrack has no kfuncs (5.18), nor 5.10 kfuncs for XDP.
	assert.Equal(t, "calls kfunc bpf_xdp_ct_lookup (5.13, e6ac2450d6de) at module_kfunc.c:35; debian-5.10 lacks it", lacks[ct]["debian-5.10"])
	for _, row := range real.Rows {
		if filepath.Base(row.Object) == ct.object && row.Name == ct.program {
			assert.Equal(t, check.CellRejected, row.Cells["debian-5.10"].Status)
			assert.Equal(t, lacks[ct]["debian-5.10"], row.Cells["debian-5.10"].Explanation)
		}
	}
	assert.Equal(t, "map arena has type arena (6.9, 317460317a02); debian-6.1 lacks it", lacks[progKey{"maps_only.o", "map arena"}]["debian-6.1"])
	assert.Equal(t, "calls bpf_loop (5.17, e6f2dd0f8067) at loop.c:30; debian-5.10 lacks it", lacks[progKey{"loop.o", "sum_loop"}]["debian-5.10"])
	assert.Equal(t, "calls bpf_strncmp (5.17, c5fb19937455) at loop.c:42; debian-5.10 lacks it", lacks[progKey{"loop.o", "match_comm"}]["debian-5.10"])
	assert.Equal(t, "map arena has type arena (6.9, 317460317a02); debian-6.1 lacks it", lacks[progKey{"arena-el.elf", "map arena"}]["debian-6.1"])
	assert.Empty(t, lacks[progKey{"arena-el.elf", "map arena"}]["debian-6.12"])
}
