package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/observe"
)

// TestCheckRun: `check --run` attaches libbpf_style.o's programs by their
// section names on debian-6.1 and runs the generic triggers. The kprobe on
// do_unlinkat runs (the triggers unlink a file) and its map then holds one
// entry, the unlinking process's parent; xdp_entry runs on a packet on lo;
// the freplace programs have no generic attach.
func TestCheckRun(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-6.1")
	logs := t.TempDir()
	stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", "debian-6.1", "--json", "--run", "--logs", logs, obj("libbpf_style.o"))
	require.Equal(t, 0, code, "stderr: %s", stderr)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	cells := map[string]check.Cell{}
	for _, r := range rep.Rows {
		cells[r.Name] = r.Cells["debian-6.1"]
	}
	for name, ran := range map[string]string{
		"kprobe_unlink":     "ran ",
		"fentry_unlink":     "ran ",
		"xdp_entry":         "ran ",
		"replace_elsewhere": "not attached: ",
	} {
		assert.Contains(t, cells[name].Ran, ran, name)
		t.Logf("%s: %s", name, cells[name].Ran)
	}
	require.NotEmpty(t, cells["kprobe_unlink"].MapsFile)
	b, err := os.ReadFile(cells["kprobe_unlink"].MapsFile)
	require.NoError(t, err)
	var pr observe.ProgramRun
	require.NoError(t, json.Unmarshal(b, &pr))
	assert.Equal(t, filepath.Join(logs, "debian-6.1", "libbpf_style.kprobe_unlink.maps.json"), cells["kprobe_unlink"].MapsFile)
	var unlinks *observe.MapDump
	for i := range pr.Maps {
		if pr.Maps[i].Name == "unlinks" {
			unlinks = &pr.Maps[i]
		}
	}
	require.NotNil(t, unlinks, "maps: %+v", pr.Maps)
	assert.NotEmpty(t, unlinks.Entries, "the kprobe counted the unlink by its parent's tgid")
}
