package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/reportdir"
	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

// How `run` decides that the report in --out is up to date, and writes a new
// one (internal/reportdir holds the mechanism):
//
//   - the stamp (OUT/.bpfmatrix-stamp) lists every file the run wrote with its
//     sha256, the kernels with their result cache keys, and the bpfmatrix
//     build; "up to date" needs all of them to match, file by file, by
//     content;
//   - a report is written into a staging directory inside OUT and renamed into
//     place file by file, the stamp last; files of the previous report that
//     the new one lacks (kernels/NAME.json, logs/NAME/...) are removed if the
//     previous stamp lists them and they still hold what it wrote;
//   - a run in which every kernel failed never replaces the report: it goes to
//     OUT/failed-run/ (a report of its own, removed by the next run that
//     writes OUT's report or finds it up to date) and
//     the command exits 1; an interrupted run writes nothing;
//   - OUT/.bpfmatrix.lock serialises runs into one OUT: a second waits.

// reportFiles must all be in an up-to-date report.
var reportFiles = []string{matrix.FileJSON, matrix.FileMarkdown, matrix.FileHTML, matrix.FileJUnit}

// openReportDir takes --out before anything boots: a file, a path under a
// file or an unwritable directory is bad input (exit 2).
func openReportDir(ctx context.Context, g *globals, out string) (*reportdir.Dir, error) {
	d, err := reportdir.Open(ctx, out, func() {
		fmt.Fprintf(g.stderr, "waiting for another bpfmatrix run writing %s\n", out)
	})
	if errors.Is(err, reportdir.ErrUnusable) {
		return nil, usageError("--out %v", err)
	}
	return d, err
}

// stampKernels pairs each kernel with its result's cache key.
func stampKernels(names []string, keys []string) []reportdir.Kernel {
	out := make([]reportdir.Kernel, len(names))
	for i := range names {
		out[i] = reportdir.Kernel{Name: names[i], Key: keys[i]}
	}
	return out
}

func specNames(specs []catalog.KernelSpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// buildID is the sha256 of the running executable: a rebuilt bpfmatrix may
// render the same results into other bytes. "" (never up to date) when it
// cannot be read.
func buildID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// writeReport writes a whole report into dir (a staging directory): each
// kernel's verifier logs under logs/NAME/, one file per case, never
// truncated (matrix.json keeps their paths relative to dir), then
// matrix.Write's files.
func writeReport(dir string, m *matrix.Matrix) error {
	for i := range m.Kernels {
		kr := &m.Kernels[i]
		if len(kr.Verifier) == 0 {
			continue
		}
		rel := filepath.Join("logs", kr.Kernel.Name)
		if err := verifier.WriteLogs(filepath.Join(dir, rel), kr.Verifier); err != nil {
			return err
		}
		for j := range kr.Verifier {
			if kr.Verifier[j].LogFile != "" {
				kr.Verifier[j].LogFile = filepath.ToSlash(filepath.Join(rel, kr.Verifier[j].LogFile))
			}
		}
	}
	return matrix.Write(dir, m)
}
