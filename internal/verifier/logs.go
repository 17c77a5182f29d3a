package verifier

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// LogFileName names the log file of an outcome: the case, or the object's
// base name and the program for user objects.
func LogFileName(o result.VerifierOutcome) string {
	name := o.Case
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(o.Object), filepath.Ext(o.Object)) + "." + o.Program
	}
	return strings.NewReplacer("/", "_", " ", "_").Replace(name) + ".log"
}

// WriteLogs writes each outcome's log to dir (atomically: temp file, then
// rename), sets LogFile to the file's name relative to dir and clears Log,
// so the outcomes can go into matrix.json without the logs.
func WriteLogs(dir string, outs []result.VerifierOutcome) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write verifier logs: %w", err)
	}
	for i := range outs {
		o := &outs[i]
		if o.Log == "" {
			continue
		}
		name := LogFileName(*o)
		if err := atomicfile.Write(filepath.Join(dir, name), []byte(strings.TrimRight(o.Log, "\n")+"\n"), false); err != nil {
			return fmt.Errorf("write verifier log: %w", err)
		}
		o.LogFile, o.Log = name, ""
	}
	return nil
}
