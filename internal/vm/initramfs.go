package vm

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
)

// initramfs collects cpio records. Files are streamed from disk when the
// archive is written, not read into memory.
type initramfs struct {
	records []cpio.Record
	dirs    map[string]bool
	files   []*os.File
}

func newInitramfs() *initramfs {
	return &initramfs{dirs: map[string]bool{"": true, ".": true}}
}

func (r *initramfs) close() {
	for _, f := range r.files {
		f.Close()
	}
}

func (r *initramfs) mkdirAll(dir string) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if r.dirs[dir] {
		return
	}
	r.mkdirAll(path.Dir(dir))
	r.dirs[dir] = true
	r.records = append(r.records, cpio.Directory(dir, 0o755))
}

func (r *initramfs) addBytes(guest string, b []byte, perm uint64) {
	guest = strings.TrimPrefix(path.Clean("/"+guest), "/")
	r.mkdirAll(path.Dir(guest))
	r.records = append(r.records, cpio.StaticRecord(b, cpio.Info{Name: guest, Mode: cpio.S_IFREG | perm}))
}

// addFile adds the host file at host as guest, keeping its permission bits.
func (r *initramfs) addFile(guest, host string) error {
	f, err := os.Open(host)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("add %s: not a regular file", host)
	}
	r.files = append(r.files, f)
	guest = strings.TrimPrefix(path.Clean("/"+guest), "/")
	r.mkdirAll(path.Dir(guest))
	r.records = append(r.records, cpio.Record{ReaderAt: f, Info: cpio.Info{
		Name:     guest,
		Mode:     cpio.S_IFREG | uint64(fi.Mode().Perm()),
		FileSize: uint64(fi.Size()),
	}})
	return nil
}

// vcsDirs are left out of a copied tree: version-control metadata is never
// a test's data, and a repository's .git can be larger than the guest's RAM.
var vcsDirs = map[string]bool{".git": true, ".hg": true, ".svn": true, ".jj": true}

// addTree copies the directory host to guest: regular files, directories
// and symlinks (as links), without version-control metadata (vcsDirs) and,
// with module, without the directories below host that hold a go.mod.
// Files git ignores are copied: a BPF library's tests open the objects its
// build leaves in testdata, which are ignored.
func (r *initramfs) addTree(guest, host string, module bool) error {
	r.mkdirAll(guest)
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(host, p)
		if err != nil || rel == "." {
			return err
		}
		g := path.Join(guest, filepath.ToSlash(rel))
		switch {
		case d.IsDir() && vcsDirs[d.Name()]:
			return fs.SkipDir
		case d.IsDir() && module && isRegular(filepath.Join(p, "go.mod")):
			return fs.SkipDir
		case d.IsDir():
			r.mkdirAll(g)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			r.records = append(r.records, cpio.Symlink(strings.TrimPrefix(g, "/"), target))
		case d.Type().IsRegular():
			return r.addFile(g, p)
		}
		return nil // sockets, fifos, devices: not part of a test's data
	})
}

// size is the total size of the files.
func (r *initramfs) size() uint64 {
	var n uint64
	for _, rec := range r.records {
		n += rec.FileSize
	}
	return n
}

// maxInitramfsMB is the largest initramfs a guest of memMB MiB can unpack:
// while the kernel unpacks it, the archive and the files it holds are both
// in RAM, next to the kernel itself. Measured on debian-6.1 (TCG, `exec
// jobprog uname`, the limit off): a 4.3 MB initramfs boots in 76 MiB and
// panics ("System is deadlocked on memory") in 72; a 54.5 MB one boots in
// 230 MiB and not in 200. 64 MiB plus three times the archive covers both
// boots, and 96 MiB (MinMemoryMB) still takes a 10 MB one.
func maxInitramfsMB(memMB int) int { return (memMB - 64) / 3 }

func (r *initramfs) writeTo(w io.Writer) error {
	cw := cpio.Newc.Writer(w)
	for _, rec := range r.records {
		if err := cw.WriteRecord(cpio.MakeReproducible(rec)); err != nil {
			return err
		}
	}
	return cpio.WriteTrailer(cw)
}

// buildInitramfs lays out the guest's root file system:
//
//	/init                  init: bpfmatrix-init, or the agent when the job is the agent
//	/dev/console           so the kernel can give /init a console
//	/bpfmatrix/job.json    the wire.Job
//	/bpfmatrix/bin/NAME    the program
//	/bpfmatrix/work/...    Job.Dir's copy; the job starts in Job.WorkSubdir of it
//	/bpfmatrix/out/...     empty directories for the job's outputs (Job.Outputs)
//	/bin/busybox, /bin/sh  Job.Busybox and its applets, when set
//	any Job.Files entries at their guest paths
func buildInitramfs(init string, job Job, dataPort string) (*initramfs, error) {
	r := newInitramfs()
	if err := r.addFile("init", init); err != nil {
		r.close()
		return nil, fmt.Errorf("add init: %w", err)
	}
	r.mkdirAll("dev")
	r.records = append(r.records, cpio.CharDev("dev/console", 0o600, 5, 1))
	prog := path.Join(wire.BinDir, filepath.Base(job.Program))
	if sameFile(job.Program, init) {
		// The job is /init itself (the agent for run, check, repro): run it
		// as an ordinary process instead of carrying the binary twice.
		// Under x86 TCG every extra MB of initramfs costs boot time in the
		// kernel's unpacking.
		prog = "/init"
	} else if err := r.addFile(prog, job.Program); err != nil {
		r.close()
		return nil, fmt.Errorf("add program: %w", err)
	}
	// A dynamically linked program (a go test binary built with cgo, a
	// distro tool) runs too: its ELF interpreter and libraries go in at the
	// paths the host has them.
	libs, err := dynamicLibraries(job.Program)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("add program: %w", err)
	}
	for g, h := range libs {
		if _, explicit := job.Files[g]; explicit {
			continue
		}
		if job.Files == nil {
			job.Files = map[string]string{}
		}
		job.Files[g] = h
	}
	if job.Dir != "" {
		if err := r.addTree(wire.WorkDir, job.Dir, job.Module); err != nil {
			r.close()
			return nil, fmt.Errorf("add working directory: %w", err)
		}
	} else {
		r.mkdirAll(wire.WorkDir)
	}
	workDir := wire.WorkDir
	if job.WorkSubdir != "" {
		sub := path.Clean(job.WorkSubdir)
		if path.IsAbs(sub) || sub == ".." || strings.HasPrefix(sub, "../") {
			r.close()
			return nil, fmt.Errorf("add working directory: %s is not below the copied directory", job.WorkSubdir)
		}
		workDir = path.Join(wire.WorkDir, sub)
		r.mkdirAll(workDir)
	}
	outputs := make([]string, 0, len(job.Outputs))
	for g := range job.Outputs {
		outputs = append(outputs, g)
		// A guest directory or file's parent under OutDir exists for the
		// job to write in; the work directory's exist already.
		if rel, ok := strings.CutPrefix(g, wire.OutDir+"/"); ok && rel != "" {
			if isOutputDir(g) {
				r.mkdirAll(g)
			} else {
				r.mkdirAll(path.Dir(g))
			}
		}
	}
	sort.Strings(outputs)
	if job.Busybox != "" {
		if err := r.addBusybox(job.Busybox, job.Files); err != nil {
			r.close()
			return nil, err
		}
	}
	guests := make([]string, 0, len(job.Files))
	for g := range job.Files {
		guests = append(guests, g)
	}
	sort.Strings(guests)
	for _, g := range guests {
		if !path.IsAbs(g) {
			r.close()
			return nil, fmt.Errorf("add file %s: guest path must be absolute", g)
		}
		if err := r.addFile(g, job.Files[g]); err != nil {
			r.close()
			return nil, fmt.Errorf("add file %s: %w", g, err)
		}
	}
	spec, err := json.Marshal(wire.Job{
		Version:  wire.Version,
		Program:  prog,
		Args:     job.Args,
		Env:      job.Env,
		Dir:      workDir,
		DataPort: dataPort,
		Stdin:    job.Stdin != nil,
		Outputs:  outputs,
	})
	if err != nil {
		r.close()
		return nil, err
	}
	r.addBytes(wire.JobPath, spec, 0o644)
	return r, nil
}

// sameFile reports whether a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// isOutputDir reports whether the output guest path g names a directory:
// the host makes directory outputs end in "/d" (OutputDir), files keep
// their own base name.
func isOutputDir(g string) bool { return path.Base(g) == outputDirBase }

// outputDirBase is the last element of the guest path of a directory
// output below wire.OutDir (see OutputDir).
const outputDirBase = "d"

// OutputDir is the guest path of the i-th directory output below
// wire.OutDir; OutputFile that of the i-th file output named base.
func OutputDir(i int) string { return fmt.Sprintf("%s/%d/%s", wire.OutDir, i, outputDirBase) }

// OutputFile: see OutputDir.
func OutputFile(i int, base string) string { return fmt.Sprintf("%s/%d/%s", wire.OutDir, i, base) }

// busyboxApplets are linked to /bin/busybox: the shell and the commands
// test suites run through it. Links are records in the archive, not
// copies; `busybox --install` at boot would cost a process start under
// TCG.
var busyboxApplets = []string{
	"sh", "ash", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dd", "dirname",
	"echo", "env", "false", "find", "grep", "head", "hostname", "id", "ip", "kill", "ln",
	"ls", "mkdir", "mktemp", "mount", "mv", "printf", "ps", "pwd", "readlink", "rm",
	"rmdir", "sed", "seq", "sleep", "sort", "stat", "tail", "tee", "test", "touch", "tr",
	"true", "umount", "uname", "wc", "which", "xargs", "yes",
}

// addBusybox puts busybox at /bin/busybox and links its applets in /bin,
// except where files has something of its own.
func (r *initramfs) addBusybox(busybox string, files map[string]string) error {
	if err := r.addFile("bin/busybox", busybox); err != nil {
		return fmt.Errorf("add busybox: %w", err)
	}
	for _, a := range busyboxApplets {
		if _, own := files["/bin/"+a]; own {
			continue
		}
		r.records = append(r.records, cpio.Symlink("bin/"+a, "busybox"))
	}
	return nil
}

func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
