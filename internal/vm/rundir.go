package vm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RunDir is a directory holding one run's temporary files (the initramfs,
// the data pipe's links), locked with flock(2) for as long as the run
// lives. A run that is killed (SIGKILL, the OOM killer, a closed terminal)
// cannot remove its files, but the kernel drops its lock; the next
// NewRunDir in the same parent removes every sibling whose lock is free.
// A live run's directory is never taken: its lock is held.
//
// The lock is on the directory itself, not on a file inside it, so that a
// directory exists only ever with its lock taken or free, never half made;
// gofrs/flock opens its path with O_CREATE, which a directory refuses, so
// this uses flock(2) directly.
type RunDir struct {
	path string
	f    *os.File // the locked directory; nil once Closed or Committed
}

// RunDirPrefix names the run directories vm.Run makes.
const RunDirPrefix = "run-"

// DefaultRunParent is where run directories go by default:
// $TMPDIR/bpfmatrix-<uid>, created 0700 and refused if another user owns it
// (/tmp is shared, and a directory planted there must not receive our
// files).
func DefaultRunParent() (string, error) {
	dir := filepath.Join(os.TempDir(), "bpfmatrix-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create run directory parent: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return "", fmt.Errorf("create run directory parent: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Getuid() {
		return "", fmt.Errorf("create run directory parent: %s is not a directory owned by uid %d", dir, os.Getuid())
	}
	return dir, nil
}

// NewRunDir creates and locks a directory named prefix<pid>-<random> in
// parent (made if missing), after removing the siblings with the same
// prefix that no live process holds. An empty parent means
// DefaultRunParent; prefix must not be empty.
func NewRunDir(parent, prefix string) (*RunDir, error) {
	if prefix == "" {
		return nil, errors.New("create run directory: empty prefix")
	}
	if parent == "" {
		p, err := DefaultRunParent()
		if err != nil {
			return nil, err
		}
		parent = p
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	SweepRunDirs(parent, prefix)
	for {
		path, err := os.MkdirTemp(parent, prefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return nil, fmt.Errorf("create run directory: %w", err)
		}
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // swept by another run before we opened it
		}
		if err != nil {
			return nil, fmt.Errorf("create run directory: %w", err)
		}
		// Blocking: a sweeper that saw the directory before we locked it
		// holds the lock while it removes it, and we try again.
		if err := flockDir(f, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock run directory: %w", err)
		}
		if samePath(f, path) {
			return &RunDir{path: path, f: f}, nil
		}
		f.Close()
	}
}

// Path is the directory's path.
func (d *RunDir) Path() string { return d.path }

// Close removes the directory with everything in it and drops the lock.
// It does nothing after Commit.
func (d *RunDir) Close() error {
	if d.f == nil {
		return nil
	}
	err := os.RemoveAll(d.path)
	d.f.Close()
	d.f = nil
	return err
}

// Commit renames the directory to dst (which must not exist, on the same
// file system) and drops the lock: its files are the caller's from then on
// and no sweep takes them.
func (d *RunDir) Commit(dst string) error {
	if d.f == nil {
		return errors.New("commit run directory: already closed")
	}
	if err := os.Rename(d.path, dst); err != nil {
		return fmt.Errorf("commit run directory: %w", err)
	}
	d.f.Close()
	d.f = nil
	return nil
}

// SweepRunDirs removes the directories in parent named prefix... whose lock
// is free: those of runs that ended without removing them. Errors are
// ignored: a directory that cannot be removed now is tried again by the
// next run.
func SweepRunDirs(parent, prefix string) {
	if prefix == "" {
		return // every directory would match
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue // a symlink, or not ours
		}
		path := filepath.Join(parent, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if flockDir(f, unix.LOCK_EX|unix.LOCK_NB) == nil && samePath(f, path) {
			_ = os.RemoveAll(path)
		}
		f.Close()
	}
}

func flockDir(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// samePath reports whether path still names the directory f has open (a
// sweeper may have removed it, or it was renamed, before f was locked).
func samePath(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, pi)
}
