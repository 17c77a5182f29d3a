package reportdir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Names inside a report directory that belong to reportdir itself.
const (
	StampFile = ".bpfmatrix-stamp"
	LockFile  = ".bpfmatrix.lock"
	// FailedRun is the report directory, inside DIR, of the last run that
	// was not allowed to replace DIR's report.
	FailedRun = "failed-run"
	// stagingPrefix names staging directories (DIR/.bpfmatrix-staging-*).
	stagingPrefix = ".bpfmatrix-staging-"
)

// StampVersion is the stamp format this build reads and writes. Version 1
// (an opaque identity and summary lines, no file list) is not read: a
// directory stamped by it is rewritten, and its stale files stay.
const StampVersion = 2

// ErrBadStamp wraps every reason ParseStamp refuses a stamp.
var ErrBadStamp = errors.New("bad report stamp")

// Stamp is the record of one report directory's content, DIR/.bpfmatrix-stamp.
type Stamp struct {
	Version int `json:"version"`
	// Complete is false while Commit is replacing the report: such a stamp
	// is never up to date; its Files are the union of the old and new
	// report's, for the next Commit to clean up.
	Complete bool `json:"complete"`
	// Build identifies the bpfmatrix build that wrote the report (a
	// rebuilt renderer may write other bytes from the same results).
	Build string `json:"build,omitempty"`
	// Kernels are the report's kernels in order, each with the cache key of
	// its result; empty when a key was unknown (a kernel failed), and then
	// the report is never up to date.
	Kernels []Kernel `json:"kernels,omitempty"`
	// Lines are the per-kernel summary lines printed when the report is up
	// to date.
	Lines []string `json:"lines,omitempty"`
	// Files maps the slash-separated path of every file bpfmatrix wrote,
	// relative to the directory, to "sha256:<hex>" of its content.
	Files map[string]string `json:"files"`
}

// Kernel is one kernel of a report and the cache key of its result.
type Kernel struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

var digestRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ParseStamp decodes a stamp strictly: unknown fields, trailing data, another
// version, a path that is not local to the directory (absolute, "..", "."
// or empty elements, reportdir's own names) and a malformed digest are
// errors wrapping ErrBadStamp.
func ParseStamp(b []byte) (*Stamp, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Stamp
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStamp, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrBadStamp)
	}
	if s.Version != StampVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrBadStamp, s.Version, StampVersion)
	}
	if s.Files == nil {
		return nil, fmt.Errorf("%w: no file list", ErrBadStamp)
	}
	for _, p := range slices.Sorted(maps.Keys(s.Files)) {
		if !validPath(p) {
			return nil, fmt.Errorf("%w: path %q is not a file inside the report", ErrBadStamp, p)
		}
		if !digestRe.MatchString(s.Files[p]) {
			return nil, fmt.Errorf("%w: %s: digest %q is not sha256:<64 hex digits>", ErrBadStamp, p, s.Files[p])
		}
	}
	// One spelling for "none", as Marshal writes it (omitempty).
	if len(s.Kernels) == 0 {
		s.Kernels = nil
	}
	if len(s.Lines) == 0 {
		s.Lines = nil
	}
	for i, k := range s.Kernels {
		if k.Name == "" || k.Key == "" {
			return nil, fmt.Errorf("%w: kernel %d: empty name or key", ErrBadStamp, i)
		}
	}
	return &s, nil
}

// Marshal encodes the stamp (indented, so that a person can read it).
func (s *Stamp) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report stamp: %w", err)
	}
	return append(b, '\n'), nil
}

// validPath accepts what Commit may have written: a slash-separated path
// inside the directory (fs.ValidPath: no "..", "." or empty elements, not
// absolute), none of whose elements is one of reportdir's own names.
func validPath(p string) bool {
	if !fs.ValidPath(p) || p == "." {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == StampFile || e == LockFile || strings.HasPrefix(e, stagingPrefix) {
			return false
		}
	}
	return true
}
