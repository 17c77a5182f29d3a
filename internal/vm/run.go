package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire/zstdcodec"
)

// Job is what to run inside the VM.
type Job struct {
	// Program is the host path of a binary for the guest's arch. A dynamically
	// linked one brings its ELF interpreter and libraries from the host
	// (DynamicClosure), at the same paths.
	Program string
	Args    []string
	// Env is added to the guest's default environment (PATH, HOME, TMPDIR).
	Env []string
	// Dir is a host directory whose contents become the job's working
	// directory in the guest (/bpfmatrix/work), without version-control
	// metadata (.git, .hg, .svn, .jj). Empty: an empty directory.
	Dir string
	// Files maps absolute guest paths to host files to put there.
	Files map[string]string
	// Module says Dir is a Go module's root: directories below it with a
	// go.mod of their own (other modules) are left out of its copy, as go
	// leaves them out of a module.
	Module bool
	// WorkSubdir, slash-separated and relative, is where in Dir's copy the
	// job starts (go test -exec copies the module root and starts in the
	// package's directory). Empty: Dir's copy itself.
	WorkSubdir string
	// Busybox is the host path of a static busybox for the guest's arch,
	// put at /bin/busybox with /bin/sh and the usual applets linked to it
	// (a test that runs shell commands). Empty: none.
	Busybox string
	// Outputs maps guest paths to host paths: after the job exits, each
	// guest file, or each file under a guest directory that the job
	// created or changed, is written at the matching host path (atomically, the
	// directories created). Guest directories below wire.OutDir are
	// created empty in the initramfs; so are the parents of guest files
	// there.
	Outputs map[string]string
	// Stdin, if set, is the job's standard input: sent over the data port
	// once the agent is up, its EOF closing the job's stdin. Nil: the job
	// reads /dev/null.
	Stdin io.Reader
}

// Options configure one VM.
type Options struct {
	Arch catalog.Arch
	// Kernel is the host path of the kernel image.
	Kernel string
	// Agent is the host path of the static bpfmatrix-agent for Arch. A job
	// whose Program is this same file runs with the agent as /init (once in
	// the initramfs); any other job runs under Init.
	Agent string
	// Init is the host path of the static bpfmatrix-init for Arch; empty
	// means InitBinary(ctx, Arch). Unused when the job is the Agent.
	Init string
	// Memory in MiB (default 512) and CPUs (default 2).
	Memory, CPUs int
	// BootTimeout runs from starting QEMU to the agent's hello (default
	// 60 s); RunTimeout from the hello to the job's exit (default 10 min).
	BootTimeout, RunTimeout time.Duration
	// Stdout and Stderr receive the job's output as it arrives (default:
	// discarded). Console receives the kernel console as it arrives; it is
	// also kept in Result.Console and in errors.
	Stdout, Stderr, Console io.Writer
	// Logger gets debug records (QEMU command, retries). Default: none.
	Logger *slog.Logger
	// Accel overrides DetectAccel.
	Accel Accel
	// TempDir is where the run directory (initramfs) is created (default
	// DefaultRunParent(), $TMPDIR/bpfmatrix-<uid>): a RunDir, locked while
	// the run lives and removed by the next run if this process is killed.
	// KeepFiles keeps it instead (named kept-*, never swept), so that the
	// reproduction command still works after Run returns.
	TempDir   string
	KeepFiles bool
	// ExtraCmdline is appended to the kernel command line.
	ExtraCmdline []string
}

// Result is a finished job.
type Result struct {
	// ExitCode is the job's exit status, -1 if a signal killed it.
	ExitCode int
	Signal   string
	// Release is the guest's uname -r.
	Release string
	// Warnings are the agent's non-fatal set-up problems.
	Warnings []string
	// BootTime runs from starting QEMU to the agent's hello, RunTime from
	// there to the job's exit status.
	BootTime, RunTime time.Duration
	// Outputs are the host paths written from the job's Outputs.
	Outputs []string
	// Attempts is 2 when the first boot broke and was retried.
	Attempts int
	Console  []byte
	// Cmdline is the exact QEMU argv; Repro a shell line rerunning it.
	Cmdline []string
	Repro   string
}

const (
	defaultMemory      = 512
	defaultCPUs        = 2
	defaultBootTimeout = 60 * time.Second
	defaultRunTimeout  = 10 * time.Minute
)

// Run boots opts.Kernel with the agent as /init, runs job and returns its
// exit status. A non-zero exit status is a Result, not an error. VM failures
// are *Error values (errors.Is with ErrBootTimeout, ErrRunTimeout, ErrPanic,
// ErrQEMUExit, ErrShutdown); a boot that broke before the agent said hello
// is retried once. A cancelled ctx kills QEMU and returns ctx's error; so
// does an error writing to Stdout or Stderr (EPIPE when `bpfmatrix exec` is
// piped into head), returned as is.
func Run(ctx context.Context, opts Options, job Job) (*Result, error) {
	if opts.Kernel == "" {
		return nil, errors.New("run vm: no kernel image")
	}
	if job.Program == "" {
		return nil, errors.New("run vm: no program")
	}
	if opts.Memory == 0 {
		opts.Memory = defaultMemory
	}
	if opts.CPUs == 0 {
		opts.CPUs = defaultCPUs
	}
	if opts.BootTimeout == 0 {
		opts.BootTimeout = defaultBootTimeout
	}
	if opts.RunTimeout == 0 {
		opts.RunTimeout = defaultRunTimeout
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cmd, err := CommandFor(opts, "")
	if err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	if err := CheckProgram(job.Program, opts.Arch); err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	if err := CheckMemory(opts.Memory); err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	initPath := opts.Agent
	if initPath == "" || !sameFile(job.Program, initPath) {
		if initPath = opts.Init; initPath == "" {
			if initPath, err = InitBinary(ctx, opts.Arch); err != nil {
				return nil, fmt.Errorf("run vm: %w", err)
			}
		}
	}

	var dir string
	if opts.KeepFiles {
		// Kept for the user: a name no sweep matches, and no lock.
		parent := opts.TempDir
		if parent == "" {
			if parent, err = DefaultRunParent(); err != nil {
				return nil, fmt.Errorf("run vm: %w", err)
			}
		}
		if dir, err = os.MkdirTemp(parent, "kept-"); err != nil {
			return nil, fmt.Errorf("run vm: %w", err)
		}
	} else {
		rd, err := NewRunDir(opts.TempDir, RunDirPrefix)
		if err != nil {
			return nil, fmt.Errorf("run vm: %w", err)
		}
		defer rd.Close()
		dir = rd.Path()
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	if err := writeInitramfs(initrd, initPath, job, cmd.Machine.DataPort, cmd.MemoryMB); err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	cmd.Initrd = initrd
	if job.Stdin != nil {
		// QEMU opens DataPipe.out and .in; they lead to the same fds 4
		// (data out) and 5 (stdin frames in) as the file chardev would use.
		cmd.DataPipe = filepath.Join(dir, "data")
		for suffix, fd := range map[string]string{".out": cmd.SerialPaths[1], ".in": stdinFD} {
			if err := os.Symlink(fd, cmd.DataPipe+suffix); err != nil {
				return nil, fmt.Errorf("run vm: %w", err)
			}
		}
	}
	for attempt := 1; ; attempt++ {
		res, err := boot(ctx, opts, cmd, job.Stdin, job.Outputs)
		if res != nil {
			res.Attempts = attempt
		}
		var ve *Error
		if attempt == 1 && errors.As(err, &ve) && !ve.Booted && ctx.Err() == nil {
			opts.Logger.Warn("boot broke, retrying once", "err", ve.Kind, "detail", ve.Detail)
			continue
		}
		return res, err
	}
}

// CommandFor returns the QEMU command Run uses for opts (defaults applied)
// with initrd as the initramfs path.
func CommandFor(opts Options, initrd string) (Command, error) {
	if opts.Memory == 0 {
		opts.Memory = defaultMemory
	}
	if opts.CPUs == 0 {
		opts.CPUs = defaultCPUs
	}
	if opts.Accel == "" {
		opts.Accel = DetectAccel(opts.Arch)
	}
	machine, err := MachineFor(opts.Arch, opts.Accel)
	if err != nil {
		return Command{}, err
	}
	if machine.DataPort == "" {
		return Command{}, fmt.Errorf("%s guests have no data port", opts.Arch)
	}
	return Command{
		Machine:      machine,
		Accel:        opts.Accel,
		MemoryMB:     opts.Memory,
		CPUs:         opts.CPUs,
		Kernel:       opts.Kernel,
		Initrd:       initrd,
		SerialPaths:  []string{"/dev/fd/3", "/dev/fd/4"},
		ExtraCmdline: opts.ExtraCmdline,
	}, nil
}

// Repro renders argv as a shell line that reruns it: fd 3 (console) goes to
// the terminal and fd 4 (data port) to a file.
func Repro(argv []string) string {
	return ShellQuote(argv) + " 3>&1 4>bpfmatrix-data.bin"
}

func writeInitramfs(path, init string, job Job, dataPort string, memMB int) error {
	r, err := buildInitramfs(init, job, dataPort)
	if err != nil {
		return err
	}
	defer r.close()
	if mb, limit := int(r.size()>>20), maxInitramfsMB(memMB); mb > limit {
		return fmt.Errorf("initramfs of %d MB does not fit a %d MB guest (at most %d MB): copy a smaller directory (exec --dir: the package directory rather than the module) or give the guest more memory", mb, memMB, limit)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := r.writeTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	return nil
}

// consoleBuffer keeps the console, dropping the oldest half beyond maxConsole.
type consoleBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const maxConsole = 4 << 20

func (c *consoleBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > maxConsole {
		c.buf = append([]byte(nil), c.buf[len(c.buf)-maxConsole/2:]...)
	}
	return len(p), nil
}

func (c *consoleBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf)
}

// boot runs QEMU once.
func boot(ctx context.Context, opts Options, cmd Command, stdin io.Reader, outputs map[string]string) (*Result, error) {
	argv := cmd.Argv()
	res := &Result{Cmdline: argv, Repro: Repro(argv), ExitCode: -1}
	if cmd.DataPipe != "" {
		res.Repro += " 5</dev/null"
	}
	fail := func(e *Error) (*Result, error) {
		e.Cmdline, e.Repro = res.Cmdline, res.Repro
		e.ConsoleTail = crashTail(res.Console, 25, 60)
		return res, e
	}
	opts.Logger.Debug("start qemu", "cmd", res.Repro)

	conR, conW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	defer conR.Close()
	dataR, dataW, err := os.Pipe()
	if err != nil {
		conW.Close()
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	defer dataR.Close()

	var qemuErr consoleBuffer
	c := exec.Command(argv[0], argv[1:]...)
	c.ExtraFiles = []*os.File{conW, dataW}
	var inW *os.File
	if stdin != nil {
		inR, w, err := os.Pipe()
		if err != nil {
			conW.Close()
			dataW.Close()
			return nil, fmt.Errorf("start qemu: %w", err)
		}
		defer inR.Close()
		defer w.Close()
		inW = w
		c.ExtraFiles = append(c.ExtraFiles, inR) // fd 5: stdinFD
	}
	c.Stdout, c.Stderr = &qemuErr, &qemuErr
	// Own process group, so one kill reaches everything QEMU started, and
	// SIGKILL when we die, so no orphan QEMU outlives us.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err = c.Start()
	conW.Close()
	dataW.Close()
	if err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	kill := func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }

	var console consoleBuffer
	consoleDone := make(chan struct{})
	// A job that halts the machine leaves QEMU running with stopped CPUs
	// (and x86_64 with acpi=off cannot power off, so the kernel halts
	// instead): the console line is the only sign, so watch for it.
	haltCh := make(chan error, 1)
	go func() {
		defer close(consoleDone)
		w := io.Writer(&console)
		if opts.Console != nil {
			w = io.MultiWriter(&console, opts.Console)
		}
		_, _ = io.Copy(io.MultiWriter(w, &haltWatch{ch: haltCh}), conR)
	}()

	helloCh := make(chan wire.Hello, 1)
	exitCh := make(chan wire.Exit, 1)
	dataDone := make(chan error, 1)
	outErrCh := make(chan error, 1)
	files := &outputFiles{mapping: outputs}
	go func() { dataDone <- readFrames(dataR, opts, files, helloCh, exitCh, outErrCh) }()

	waitCh := make(chan error, 1)
	go func() { waitCh <- c.Wait() }()

	// finish waits for QEMU and both readers after QEMU has ended or been
	// killed, and returns the data stream's error.
	finish := func() error {
		<-waitCh
		<-consoleDone
		res.Console = console.Bytes()
		return <-dataDone
	}

	complete := func(e wire.Exit, derr error) (*Result, error) {
		if derr != nil {
			return fail(&Error{Kind: ErrQEMUExit, Booted: true, Detail: fmt.Sprintf("after the job's exit status: %v", derr)})
		}
		if e.Error != "" {
			return res, fmt.Errorf("run job: %s", e.Error)
		}
		res.ExitCode, res.Signal = e.Code, e.Signal
		written, err := files.write()
		res.Outputs = written
		return res, err
	}

	bootTimer := time.NewTimer(opts.BootTimeout)
	defer bootTimer.Stop()
	var runTimer <-chan time.Time
	var booted bool
	var hello time.Time
	for {
		select {
		case h := <-helloCh:
			if inW != nil {
				go sendStdin(stdin, inW)
			}
			booted, hello = true, time.Now()
			res.BootTime = hello.Sub(start)
			res.Release, res.Warnings = h.Release, h.Warnings
			bootTimer.Stop()
			t := time.NewTimer(opts.RunTimeout)
			defer t.Stop()
			runTimer = t.C
		case e := <-exitCh:
			res.RunTime = time.Since(hello)
			// The exit frame is the last thing the guest has to say, and
			// everything before it has been read (one ordered stream):
			// stop QEMU now rather than wait for the guest to restart.
			// Nothing is lost: the guest has no disk, only its initramfs.
			kill()
			return complete(e, finish())
		case werr := <-outErrCh:
			// Nobody takes the job's output any more (`exec | head`):
			// stop now rather than run the job into a full pipe.
			kill()
			finish()
			return res, werr
		case kind := <-haltCh:
			// The CPUs are stopped and will never run the agent again.
			// The agent never halts, so the job did (even one that did
			// so before the hello went out): Booted, as a retry would
			// only do the same.
			kill()
			derr := finish()
			// Everything the guest sent has been read: a job that
			// exited before the halt (a background process halting
			// after it) still has its exit status.
			select {
			case e := <-exitCh:
				res.RunTime = time.Since(hello)
				return complete(e, derr)
			default:
			}
			select {
			case h := <-helloCh:
				res.Release = h.Release
			default:
			}
			return fail(&Error{Kind: kind, Booted: true, Detail: shutdownDetail(kind)})
		case qerr := <-waitCh:
			waitCh <- qerr
			derr := finish()
			// The exit frame may have been read after QEMU ended.
			select {
			case e := <-exitCh:
				if !hello.IsZero() {
					res.RunTime = time.Since(hello)
				}
				return complete(e, derr)
			default:
			}
			select {
			case h := <-helloCh:
				booted = true
				res.Release = h.Release
			default:
			}
			var kind error = ErrQEMUExit
			switch shut := consoleShutdown(res.Console); {
			case panicked(res.Console):
				kind = ErrPanic
			case shut != nil && booted && !bytes.Contains(res.Console, []byte(initFailure)):
				// The job's reboot(2): with -no-reboot QEMU exits at a
				// restart, and at a power-off where the machine can
				// (arm64's PSCI). The agent's own restart comes after
				// the exit frame, or after it printed why on the console.
				return fail(&Error{Kind: shut, Booted: true, Detail: shutdownDetail(shut)})
			}
			detail := fmt.Sprintf("before the job's exit status (%s)", c.ProcessState)
			if s := bytes.TrimSpace(qemuErr.Bytes()); len(s) > 0 {
				detail += ": " + string(s)
			}
			if derr != nil {
				detail += fmt.Sprintf("; data port: %v", derr)
			}
			return fail(&Error{Kind: kind, Booted: booted, Detail: detail})
		case <-bootTimer.C:
			kill()
			finish()
			return fail(&Error{Kind: ErrBootTimeout, Detail: fmt.Sprintf("no hello from the agent within %v", opts.BootTimeout)})
		case <-runTimer:
			kill()
			finish()
			return fail(&Error{Kind: ErrRunTimeout, Booted: true, Detail: fmt.Sprintf("job still running after %v", opts.RunTimeout)})
		case <-ctx.Done():
			kill()
			finish()
			return res, ctx.Err()
		}
	}
}

// initFailure starts the console line guest.Init prints before it restarts
// the machine over an error of its own.
const initFailure = "bpfmatrix init:"

func shutdownDetail(kind error) string {
	if kind == ErrHalted {
		return "reboot(2) with LINUX_REBOOT_CMD_HALT, or POWER_OFF where the machine cannot power off, before the job's exit status"
	}
	return "reboot(2) before the job's exit status"
}

// haltWatch scans the console line by line and sends ErrHalted or
// ErrPoweredOff on ch (once) when the kernel says it stopped the machine.
type haltWatch struct {
	ch   chan<- error
	line []byte
	sent bool
}

func (w *haltWatch) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != '\n' {
			if len(w.line) < 4096 {
				w.line = append(w.line, b)
			}
			continue
		}
		if kind := shutdownKind(w.line); !w.sent && (kind == ErrHalted || kind == ErrPoweredOff) {
			w.sent = true
			w.ch <- kind
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// readFrames reads the data port until EOF, passing output on as it comes.
// It returns nil only for a well-formed stream that ended after the exit
// frame was read, or that ended cleanly before it (the caller decides). An
// error writing the output goes to outErrCh at once, and the rest of the
// stream is read and dropped so that QEMU never blocks on the pipe.
func readFrames(r io.Reader, opts Options, files *outputFiles, helloCh chan<- wire.Hello, exitCh chan<- wire.Exit, outErrCh chan<- error) error {
	fr := wire.NewReader(r, wire.Flate, zstdcodec.New())
	outErr := func(err error) error {
		outErrCh <- err
		_, _ = io.Copy(io.Discard, r)
		return err
	}
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			_, _ = io.Copy(io.Discard, r) // let QEMU finish writing
			return err
		}
		switch f.Type {
		case wire.TypeHello:
			var h wire.Hello
			if err := f.Decode(&h); err != nil {
				return err
			}
			helloCh <- h
		case wire.TypeStdout:
			if _, err := opts.Stdout.Write(f.Payload); err != nil {
				return outErr(fmt.Errorf("write job stdout: %w", err))
			}
		case wire.TypeStderr:
			if _, err := opts.Stderr.Write(f.Payload); err != nil {
				return outErr(fmt.Errorf("write job stderr: %w", err))
			}
		case wire.TypeFile:
			if err := files.add(f.Payload); err != nil {
				return err
			}
		case wire.TypeExit:
			var e wire.Exit
			if err := f.Decode(&e); err != nil {
				return err
			}
			exitCh <- e
		default:
			return fmt.Errorf("read frames: unexpected %s frame", f.Type)
		}
	}
}

// stdinFD is where QEMU finds the job's stdin frames: the read end of a
// pipe passed as fd 5 (fds 3 and 4 are the console and data outputs).
const stdinFD = "/dev/fd/5"

// sendStdin copies r to the guest as TypeStdin frames, then an empty frame
// for EOF. It runs until r ends or the pipe to QEMU breaks; a reader that
// never ends (a terminal) keeps it blocked after the VM is gone, which
// costs one goroutine.
func sendStdin(r io.Reader, pipe *os.File) {
	w := wire.NewWriter(pipe, nil) // raw: typed input is small
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if w.WriteFrame(wire.TypeStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			_ = w.WriteFrame(wire.TypeStdin, nil)
			return
		}
	}
}

// outputFiles collects the TypeFile frames of one boot, in memory (output
// files are profiles and small test artefacts), until the exit frame says
// the job is over.
type outputFiles struct {
	mapping map[string]string // guest path -> host path (Job.Outputs)
	data    map[string][]byte // host path -> contents
	order   []string
}

// add appends one frame's chunk to its file. A guest path outside the
// job's outputs is a corrupt stream: the guest never chooses a host path.
func (o *outputFiles) add(payload []byte) error {
	name, chunk, err := wire.ParseFilePayload(payload)
	if err != nil {
		return err
	}
	host, ok := hostOutput(o.mapping, name)
	if !ok {
		return fmt.Errorf("read file frame: %s is not one of the job's outputs", name)
	}
	if o.data == nil {
		o.data = map[string][]byte{}
	}
	if _, seen := o.data[host]; !seen {
		o.order = append(o.order, host)
		o.data[host] = []byte{}
	}
	o.data[host] = append(o.data[host], chunk...)
	return nil
}

// write writes every collected file at its host path and returns the paths.
func (o *outputFiles) write() ([]string, error) {
	for _, p := range o.order {
		if err := atomicfile.Write(p, o.data[p], false); err != nil {
			return nil, fmt.Errorf("write job output: %w", err)
		}
	}
	return o.order, nil
}

// hostOutput maps a guest path to its host path: the output itself, or a
// file below an output directory. The guest path is cleaned first, and
// ".." never leaves the directory.
func hostOutput(mapping map[string]string, guest string) (string, bool) {
	guest = path.Clean("/" + guest)
	if h, ok := mapping[guest]; ok {
		return h, true
	}
	best, host := "", ""
	for g, h := range mapping { // the longest enclosing directory wins
		if rel, ok := strings.CutPrefix(guest, strings.TrimSuffix(g, "/")+"/"); ok && rel != "" && len(g) > len(best) {
			best, host = g, filepath.Join(h, filepath.FromSlash(rel))
		}
	}
	return host, best != ""
}
