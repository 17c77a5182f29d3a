package reportdir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
)

// ErrUnusable: the report directory is a file, lies under one, or cannot be
// written.
var ErrUnusable = errors.New("not a writable directory")

// Dir is an open, locked report directory.
type Dir struct {
	path string
	root *os.Root
	lock *flock.Flock
}

// Open creates dir if needed, checks that it is a directory this process can
// write, and takes its lock, waiting for another writer (onWait, if not nil,
// is called once before waiting). Errors other than ctx's wrap ErrUnusable.
// Staging directories left by a killed run are removed.
func Open(ctx context.Context, dir string, onWait func()) (*Dir, error) {
	unusable := func(err error) error { return fmt.Errorf("%s: %w: %w", dir, ErrUnusable, err) }
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, unusable(err)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, unusable(err)
	} else if !st.IsDir() {
		return nil, unusable(errors.New("a file"))
	}
	lock := flock.New(filepath.Join(dir, LockFile))
	ok, err := lock.TryLock()
	if err != nil {
		return nil, unusable(err)
	}
	if !ok {
		if onWait != nil {
			onWait()
		}
		if ok, err = lock.TryLockContext(ctx, 200*time.Millisecond); !ok {
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("lock report directory %s: %w", dir, err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		lock.Unlock()
		return nil, unusable(err)
	}
	d := &Dir{path: dir, root: root, lock: lock}
	if err := d.removeStaging(); err != nil {
		d.Close()
		return nil, unusable(err)
	}
	// Prove that a staging directory can be made now, not after booting.
	s, err := d.Stage()
	if err != nil {
		d.Close()
		return nil, unusable(err)
	}
	if err := s.Abort(); err != nil {
		d.Close()
		return nil, unusable(err)
	}
	return d, nil
}

// Path is the directory's path as given to Open.
func (d *Dir) Path() string { return d.path }

// Close releases the lock.
func (d *Dir) Close() error {
	d.root.Close()
	return d.lock.Unlock()
}

func (d *Dir) removeStaging() error {
	entries, err := fs.ReadDir(d.root.FS(), ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), stagingPrefix) {
			if err := d.root.RemoveAll(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Read returns the stamp of the report in sub ("" for the directory itself,
// or FailedRun); a missing stamp is an error wrapping fs.ErrNotExist, an
// unreadable one wraps ErrBadStamp.
func (d *Dir) Read(sub string) (*Stamp, error) {
	b, err := d.root.ReadFile(path.Join(slashSub(sub), StampFile))
	if err != nil {
		return nil, fmt.Errorf("read report stamp: %w", err)
	}
	return ParseStamp(b)
}

func slashSub(sub string) string {
	if sub == "" {
		return "."
	}
	return sub
}

// UpToDate returns the stamp's summary lines when the report in the
// directory is complete, was written by build from exactly kernels (names
// and result keys, in order), holds every one of required, and every file
// the stamp lists still holds the recorded digest.
func (d *Dir) UpToDate(build string, kernels []Kernel, required ...string) ([]string, bool) {
	st, err := d.Read("")
	if err != nil || !st.Complete || st.Build != build || len(kernels) == 0 || !slices.Equal(st.Kernels, kernels) {
		return nil, false
	}
	for _, r := range required {
		if _, ok := st.Files[r]; !ok {
			return nil, false
		}
	}
	for _, p := range slices.Sorted(maps.Keys(st.Files)) {
		if got, err := d.digest(p); err != nil || got != st.Files[p] {
			return nil, false
		}
	}
	return st.Lines, true
}

// digest returns "sha256:<hex>" of the regular file p (slash path inside the
// directory), refusing anything else.
func (d *Dir) digest(p string) (string, error) {
	fi, err := d.root.Lstat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", p)
	}
	f, err := d.root.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Staging is a directory inside the report directory where a new report is
// written before Commit puts it in place.
type Staging struct {
	d    *Dir
	name string // slash path inside d
}

// Stage makes a new, empty staging directory.
func (d *Dir) Stage() (*Staging, error) {
	p, err := os.MkdirTemp(d.path, stagingPrefix)
	if err != nil {
		return nil, fmt.Errorf("stage report: %w", err)
	}
	return &Staging{d: d, name: filepath.Base(p)}, nil
}

// Path is where the new report's files go.
func (s *Staging) Path() string { return filepath.Join(s.d.path, s.name) }

// Abort removes the staging directory and everything in it.
func (s *Staging) Abort() error { return s.d.root.RemoveAll(s.name) }

// files digests every file written into the staging directory. Anything but
// regular files and directories is refused: the report is plain files.
func (s *Staging) files() (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(s.d.root.FS(), s.name, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, s.name+"/")
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", rel)
		}
		if !validPath(rel) {
			return fmt.Errorf("%s: a name reportdir keeps for itself", rel)
		}
		d, err := s.d.digest(p)
		files[rel] = d
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stage report: %w", err)
	}
	return files, nil
}

// Commit replaces the report in sub ("" or FailedRun) with the staged one and
// records it in a complete stamp built from st (its Files and Complete are
// set here). The staging directory is gone afterwards, whatever the outcome.
// A successful commit to the directory itself also removes FailedRun.
func (s *Staging) Commit(sub string, st Stamp) (err error) {
	defer func() {
		if aerr := s.Abort(); err == nil && aerr != nil {
			err = fmt.Errorf("remove staging directory: %w", aerr)
		}
	}()
	d := s.d
	files, err := s.files()
	if err != nil {
		return err
	}
	dst := slashSub(sub)
	if err := d.root.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("commit report: %w", err)
	}
	prev, _ := d.Read(sub)
	// Before anything moves, record every file the directory may hold
	// once this commit stops, wherever it stops.
	pending := Stamp{Version: StampVersion, Files: maps.Clone(files)}
	if prev != nil {
		for p, digest := range prev.Files {
			if _, ok := pending.Files[p]; !ok {
				pending.Files[p] = digest
			}
		}
	}
	if err := d.writeStamp(sub, &pending); err != nil {
		return err
	}
	for i, p := range slices.Sorted(maps.Keys(files)) {
		if killAt != nil && killAt(i) {
			return errKilled
		}
		to := path.Join(dst, p)
		if err := d.root.MkdirAll(path.Dir(to), 0o755); err != nil {
			return fmt.Errorf("commit report: %w", err)
		}
		if err := d.root.Rename(path.Join(s.name, p), to); err != nil {
			return fmt.Errorf("commit report: %w", err)
		}
	}
	if prev != nil {
		for _, p := range slices.Sorted(maps.Keys(prev.Files)) {
			if _, ok := files[p]; !ok {
				d.removeOurs(dst, p, prev.Files[p])
			}
		}
	}
	st.Version, st.Complete, st.Files = StampVersion, true, files
	if err := d.writeStamp(sub, &st); err != nil {
		return err
	}
	if sub == "" {
		d.DiscardFailedRun()
	}
	return nil
}

// DiscardFailedRun removes DIR/failed-run: the report in DIR is good (just
// written, or found up to date), so a failure recorded before it is stale.
func (d *Dir) DiscardFailedRun() { d.removeReport(FailedRun) }

// killAt, set by tests, stops Commit before its i-th rename as a killed
// process would stop.
var killAt func(i int) bool

var errKilled = errors.New("killed (test)")

func (d *Dir) writeStamp(sub string, st *Stamp) error {
	b, err := st.Marshal()
	if err != nil {
		return err
	}
	// The stamp's directory is checked through the root (no symbolic link
	// out of the report directory) before atomicfile writes by path.
	if fi, err := d.root.Lstat(slashSub(sub)); err != nil || !fi.IsDir() {
		return fmt.Errorf("write report stamp: %s is not a directory inside %s", sub, d.path)
	}
	return atomicfile.Write(filepath.Join(d.path, sub, StampFile), b, false)
}

// removeOurs removes dst/p if it still holds digest (what bpfmatrix wrote),
// then its parent directories up to dst while they are empty. Failures are
// left for the next commit: the stamp no longer lists the file, and a
// leftover file is stale, not wrong.
func (d *Dir) removeOurs(dst, p, digest string) {
	full := path.Join(dst, p)
	if got, err := d.digest(full); err != nil || got != digest {
		return
	}
	if d.root.Remove(full) != nil {
		return
	}
	for dir := path.Dir(full); dir != dst && dir != "."; dir = path.Dir(dir) {
		if d.root.Remove(dir) != nil { // not empty: someone else's files
			return
		}
	}
}

// removeReport removes the report in sub: the files its stamp lists that
// still hold what was written, the stamp, and sub itself if that leaves it
// empty.
func (d *Dir) removeReport(sub string) {
	st, err := d.Read(sub)
	if err != nil {
		return
	}
	for _, p := range slices.Sorted(maps.Keys(st.Files)) {
		d.removeOurs(sub, p, st.Files[p])
	}
	if d.root.Remove(path.Join(sub, StampFile)) == nil {
		d.root.Remove(sub)
	}
}
