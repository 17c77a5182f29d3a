package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
)

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	required               bool
}

// mounts are done in order; each target directory is created first.
var mounts = []mount{
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", true},
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", true},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", true},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", false},
	{"bpf", "/sys/fs/bpf", "bpf", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "mode=0700", false},
	{"debugfs", "/sys/kernel/debug", "debugfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"tracefs", "/sys/kernel/tracing", "tracefs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
}

// Init is the body of PID 1: codec compresses the job's output on the data
// port. It never returns.
func Init(codec wire.Codec) {
	err := initErr(codec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bpfmatrix init:", err)
	}
	unix.Sync()
	// reboot(2) rather than power-off: with QEMU's -no-reboot it ends the VM
	// even on kernels without ACPI, where power-off would hang.
	for {
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		time.Sleep(time.Second)
	}
}

func initErr(codec wire.Codec) error {
	var warnings []string
	for _, m := range mounts {
		if err := doMount(m); err != nil {
			if m.required {
				return err
			}
			warnings = append(warnings, err.Error())
		}
	}
	// The kernel had no /dev/console to give us before devtmpfs was
	// mounted if the initramfs lacks one; reopen it to be sure.
	if con, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		os.Stdout, os.Stderr = con, con
	}
	// The job inherits the limit: kernels before 5.11 charge BPF memory to it.
	if err := rlimit.RaiseMemlock(); err != nil {
		warnings = append(warnings, err.Error())
	}

	b, err := os.ReadFile(wire.JobPath)
	if err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	job, err := wire.ParseJob(b)
	if err != nil {
		return err
	}
	port, err := openRaw(job.DataPort)
	if err != nil {
		return err
	}
	defer drain(port)
	w := wire.NewWriter(port, codec)

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	hello := wire.Hello{
		Version:  wire.Version,
		Release:  unix.ByteSliceToString(uts.Release[:]),
		Machine:  unix.ByteSliceToString(uts.Machine[:]),
		CPUs:     runtime.NumCPU(),
		Warnings: warnings,
	}
	if err := linkKernelConfig(hello.Release); err != nil {
		hello.Warnings = append(hello.Warnings, err.Error())
	}
	if err := loopbackUp(); err != nil {
		hello.Warnings = append(hello.Warnings, err.Error())
	}
	helloSent := false
	sayHello := func() error {
		if helloSent {
			return nil
		}
		helloSent = true
		return w.WriteJSON(wire.TypeHello, hello)
	}
	// Output files are those the job creates or changes: compared with a
	// snapshot rather than with the start time, since a kernel without
	// CONFIG_INITRAMFS_PRESERVE_MTIME stamps the initramfs's files with
	// the time it unpacked them.
	before := snapshot(job.Outputs)
	exit, err := runJob(job, w, port, sayHello)
	if err != nil {
		return err
	}
	if helloSent {
		if err := sendOutputs(w, job.Outputs, before); err != nil {
			return err
		}
	}
	// A job that could not be set up returns before saying hello.
	if err := sayHello(); err != nil {
		return err
	}
	return w.WriteJSON(wire.TypeExit, exit)
}

func doMount(m mount) error {
	if err := os.MkdirAll(m.target, 0o755); err != nil {
		return fmt.Errorf("mount %s: %w", m.target, err)
	}
	err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
	if errors.Is(err, unix.EBUSY) {
		return nil // already mounted (CONFIG_DEVTMPFS_MOUNT)
	}
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
	}
	return nil
}

// openRaw opens a serial port and puts it in raw mode: no ONLCR turning \n
// into \r\n, no echo, no flow control, 8 bits.
func openRaw(path string) (*os.File, error) {
	// Read-write: the input side carries the job's stdin (wire.TypeStdin).
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	// A PCI UART (the arm64 data port) is probed by a driver that may
	// finish after /init starts (deferred probe); give devtmpfs a moment.
	for wait := 0; errors.Is(err, os.ErrNotExist) && wait < 50; wait++ {
		time.Sleep(100 * time.Millisecond)
		f, err = os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("open data port: %w", err)
	}
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open data port %s: %w", path, err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CRTSCTS
	t.Cflag |= unix.CS8 | unix.CLOCAL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("set raw mode on %s: %w", path, err)
	}
	return f, nil
}

// drain waits until the UART has sent everything (tcdrain), so that
// restarting the machine cannot cut off the last frame.
func drain(f *os.File) {
	_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	f.Close()
}

// chunk is one read from the job's stdout or stderr.
type chunk struct {
	t    wire.Type
	data []byte
}

// maxBatch caps how much output one frame carries.
const maxBatch = 1 << 20

// runJob starts the job, then says hello (so that the job's own start-up,
// tens of ms for a Go program under TCG, overlaps with it), forwards its
// output and returns its exit status. An error means the hello could not
// be sent.
func runJob(job wire.Job, w *wire.Writer, port *os.File, hello func() error) (wire.Exit, error) {
	cmd := exec.Command(job.Program, job.Args...)
	cmd.Args[0] = job.Program
	cmd.Dir = job.Dir
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"TMPDIR=/tmp",
	}, job.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if job.Stdin {
		stdinR, err := feedStdin(port)
		if err != nil {
			return wire.Exit{Code: -1, Error: err.Error()}, nil
		}
		defer stdinR.Close()
		cmd.Stdin = stdinR
	}

	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return wire.Exit{Code: -1, Error: fmt.Sprintf("create pipe: %v", err)}, nil
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		return wire.Exit{Code: -1, Error: fmt.Sprintf("create pipe: %v", err)}, nil
	}
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW

	chunks := make(chan chunk, 64)
	var readers sync.WaitGroup
	for _, s := range []struct {
		t wire.Type
		r *os.File
	}{{wire.TypeStdout, stdoutR}, {wire.TypeStderr, stderrR}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				buf := make([]byte, 64<<10)
				n, err := s.r.Read(buf)
				if n > 0 {
					chunks <- chunk{s.t, buf[:n]}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	startErr := cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	// Output waits in the pipes and in chunks until the hello is out: it
	// must be the first frame.
	if err := hello(); err != nil {
		if startErr == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return wire.Exit{}, err
	}
	sent := make(chan error, 1)
	go func() { sent <- forward(chunks, w) }()
	var waitErr error
	if startErr == nil {
		waitErr = cmd.Wait()
	}
	// A background process the job left behind may hold the pipes open:
	// don't wait for it forever.
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	chunks <- chunk{} // end marker; a reader still running blocks harmlessly
	if err := <-sent; err != nil {
		return wire.Exit{Code: -1, Error: err.Error()}, nil
	}
	switch {
	case startErr != nil:
		return wire.Exit{Code: -1, Error: fmt.Sprintf("start %s: %v", job.Program, startErr)}, nil
	case waitErr == nil:
		return wire.Exit{Code: 0}, nil
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return wire.Exit{Code: -1, Signal: unix.SignalName(ws.Signal())}, nil
		}
		return wire.Exit{Code: ee.ExitCode()}, nil
	}
	return wire.Exit{Code: -1, Error: fmt.Sprintf("wait for %s: %v", job.Program, waitErr)}, nil
}

// forward sends chunks as frames. While the serial port is busy, chunks
// queue up and are merged into the next frame, which compresses better.
// A zero chunk marks the end.
func forward(chunks <-chan chunk, w *wire.Writer) error {
	var firstErr error
	send := func(t wire.Type, b []byte) {
		if firstErr == nil && len(b) > 0 {
			firstErr = w.WriteFrame(t, b)
		}
	}
	for c := range chunks {
		if c.t == 0 {
			return firstErr
		}
		t, batch := c.t, c.data
	merge:
		for len(batch) < maxBatch {
			select {
			case next := <-chunks:
				if next.t == 0 {
					send(t, batch)
					return firstErr
				}
				if next.t != t {
					send(t, batch)
					t, batch = next.t, next.data
					continue
				}
				batch = append(batch, next.data...)
			default:
				break merge
			}
		}
		send(t, batch)
	}
	return firstErr
}

// feedStdin returns the read end of a pipe that gets the payloads of the
// TypeStdin frames the host sends on port, and is closed at the empty frame
// that marks end of file (or when the stream breaks). Once the job has
// closed its stdin, the rest is read and dropped.
func feedStdin(port *os.File) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create stdin pipe: %w", err)
	}
	go func() {
		defer w.Close()
		fr := wire.NewReader(port) // the host sends stdin raw
		for {
			f, err := fr.Next()
			if err != nil {
				fmt.Fprintln(os.Stderr, "bpfmatrix init: read stdin:", err)
				return
			}
			if f.Type != wire.TypeStdin {
				continue
			}
			if len(f.Payload) == 0 {
				return
			}
			_, _ = w.Write(f.Payload)
		}
	}()
	return r, nil
}

// KernelConfig is where the host puts the kernel's config in the
// initramfs (the job's files).
const KernelConfig = "/boot/config"

// linkKernelConfig makes the kernel's config visible where BPF loaders
// look for it, /boot/config-$(uname -r): libbpf and cilium/ebpf resolve
// __kconfig externs (CONFIG_*, LINUX_KERNEL_VERSION) from there or from
// /proc/config.gz, which Debian's kernels do not build (no IKCONFIG_PROC).
// The release is known only in the guest, hence a link made by PID 1.
func linkKernelConfig(release string) error {
	if _, err := os.Stat(KernelConfig); err != nil || release == "" {
		return nil // no config in this job
	}
	link := KernelConfig + "-" + release
	if err := os.Symlink("config", link); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

// loopbackUp sets IFF_UP on lo, as every distribution's boot does: the
// kernel then gives it 127.0.0.1/8 and ::1 by itself, and a test that
// listens on and dials localhost works. One ioctl, no netlink.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

// fileChunk bounds the contents one TypeFile frame carries.
const fileChunk = 1 << 20

// fileStamp is what tells a file the job changed from one it did not.
type fileStamp struct {
	mtime time.Time
	size  int64
}

// snapshot stamps the regular files below the output directories.
func snapshot(outputs []string) map[string]fileStamp {
	stamps := map[string]fileStamp{}
	for _, out := range outputs {
		_ = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if info, err := d.Info(); err == nil {
				stamps[p] = fileStamp{info.ModTime(), info.Size()}
			}
			return nil
		})
	}
	return stamps
}

// sendOutputs sends the job's output files (wire.Job.Outputs) as TypeFile
// frames: a regular file as it is, a directory as the regular files below
// it that are not in before as they were. A file that cannot be read is
// reported on the job's stderr and skipped; only a broken data port is an
// error.
func sendOutputs(w *wire.Writer, outputs []string, before map[string]fileStamp) error {
	sent := map[string]bool{} // outputs may nest: each file once
	send := func(p string) error {
		if sent[p] {
			return nil
		}
		sent[p] = true
		return sendFile(w, p)
	}
	complain := func(err error) error {
		return w.WriteFrame(wire.TypeStderr, []byte("bpfmatrix init: "+err.Error()+"\n"))
	}
	for _, out := range outputs {
		fi, err := os.Stat(out)
		if errors.Is(err, os.ErrNotExist) {
			continue // the job did not write it
		}
		if err != nil {
			if err := complain(fmt.Errorf("send %s: %w", out, err)); err != nil {
				return err
			}
			continue
		}
		if fi.Mode().IsRegular() {
			if err := send(out); err != nil {
				return err
			}
			continue
		}
		if !fi.IsDir() {
			continue
		}
		err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return complain(fmt.Errorf("send %s: %w", p, err))
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if was, ok := before[p]; ok && was == (fileStamp{info.ModTime(), info.Size()}) {
				return nil
			}
			return send(p)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sendFile sends one file; a read error goes to the job's stderr.
func sendFile(w *wire.Writer, p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return w.WriteFrame(wire.TypeStderr, []byte(fmt.Sprintf("bpfmatrix init: send %s: %v\n", p, err)))
	}
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), fileChunk)
		if err := w.WriteFrame(wire.TypeFile, wire.FilePayload(p, b[:n])); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
