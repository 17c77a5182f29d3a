package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
)

// stampFile records which cached results a report directory was written
// from, and by which bpfmatrix build, so that a repeat `run` with nothing
// changed can say "up to date" in a fraction of a second. It is written last
// and removed before a report is rewritten, so a stamp never vouches for a
// half-written report.
const stampFile = ".bpfmatrix-stamp"

type stamp struct {
	Stamp string   `json:"stamp"`
	Lines []string `json:"lines"`
}

// reportStamp identifies a report by its results' cache keys and the
// running executable (path, size, mtime: a rebuilt bpfmatrix may render
// differently).
func reportStamp(keys []string) string {
	h := sha256.New()
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	for _, k := range keys {
		fmt.Fprintln(h, k)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readStamp returns the summary lines stored with a matching stamp, when
// every report file is still there.
func readStamp(dir, want string) ([]string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, stampFile))
	if err != nil {
		return nil, false
	}
	var s stamp
	if json.Unmarshal(b, &s) != nil || s.Stamp != want {
		return nil, false
	}
	for _, name := range []string{matrix.FileJSON, matrix.FileMarkdown, matrix.FileHTML, matrix.FileJUnit} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return nil, false
		}
	}
	return s.Lines, true
}

func removeStamp(dir string) { os.Remove(filepath.Join(dir, stampFile)) }

// writeStamp is best effort: without it the next run rewrites the report.
func writeStamp(dir, id string, lines []string) {
	b, err := json.Marshal(stamp{Stamp: id, Lines: lines})
	if err != nil {
		return
	}
	_ = atomicfile.Write(filepath.Join(dir, stampFile), b, false)
}
