package vm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
)

func TestInitramfsLayout(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "bpfmatrix-agent")
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(agent, []byte("agent"), 0o755))
	require.NoError(t, os.WriteFile(prog, []byte("prog"), 0o755))

	for _, tc := range []struct {
		name, program, wantProgram string
		wantBin                    bool
	}{
		{"separate program", prog, "/bpfmatrix/bin/prog", true},
		{"the agent as the job", agent, "/init", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := buildInitramfs(agent, Job{Program: tc.program, Args: []string{"x"}}, "/dev/ttyS1")
			require.NoError(t, err)
			defer r.close()
			names := map[string]bool{}
			var job wire.Job
			for _, rec := range r.records {
				names[rec.Name] = true
				if "/"+rec.Name == wire.JobPath {
					b := make([]byte, rec.FileSize)
					_, err := rec.ReadAt(b, 0)
					require.NoError(t, err)
					require.NoError(t, json.Unmarshal(b, &job))
				}
			}
			assert.True(t, names["init"])
			assert.Equal(t, tc.wantBin, names["bpfmatrix/bin/"+filepath.Base(tc.program)], "program copied: %v", names)
			assert.Equal(t, tc.wantProgram, job.Program)
		})
	}
}
