package vm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Sentinels for errors.Is; the error itself is a *Error with the details.
var (
	// ErrBootTimeout: the agent did not say hello within BootTimeout.
	ErrBootTimeout = errors.New("boot timeout")
	// ErrRunTimeout: the job did not finish within RunTimeout.
	ErrRunTimeout = errors.New("run timeout")
	// ErrPanic: the kernel panicked (the console says "Kernel panic").
	ErrPanic = errors.New("kernel panic")
	// ErrQEMUExit: QEMU ended before the agent reported the job's exit
	// status, without a kernel panic on the console (bad arguments, a
	// triple fault, the agent dying, a truncated result).
	ErrQEMUExit = errors.New("qemu exited early")
	// ErrShutdown: the job halted, powered off or restarted the machine
	// (reboot(2)) before its exit status was reported. The Error's Kind is
	// one of ErrHalted, ErrPoweredOff and ErrRestarted, which all match
	// ErrShutdown with errors.Is.
	ErrShutdown = errors.New("the job shut the machine down")

	ErrHalted     error = shutdownError("the job halted the machine")
	ErrPoweredOff error = shutdownError("the job powered the machine off")
	ErrRestarted  error = shutdownError("the job restarted the machine")
)

// shutdownError is one way a job can end the machine under the agent.
type shutdownError string

func (e shutdownError) Error() string        { return string(e) }
func (e shutdownError) Is(target error) bool { return target == ErrShutdown }

// shutdownMarkers are the kernel's own words for reboot(2)'s commands
// (kernel/reboot.c, all pr_emerg, so "quiet" keeps them), each with the
// error it means. A POWER_OFF on a machine that cannot power off (x86_64
// with acpi=off) is turned into a HALT by the kernel and says so.
var shutdownMarkers = []struct {
	line string
	kind error
}{
	{"reboot: System halted", ErrHalted},
	{"reboot: Power down", ErrPoweredOff},
	{"reboot: Restarting system", ErrRestarted},
}

// shutdownKind returns the shutdown the console line reports, if any.
func shutdownKind(line []byte) error {
	for _, m := range shutdownMarkers {
		if bytes.Contains(line, []byte(m.line)) {
			return m.kind
		}
	}
	return nil
}

// consoleShutdown returns the last shutdown the console reports, if any.
func consoleShutdown(console []byte) error {
	var kind error
	for _, l := range bytes.Split(console, []byte("\n")) {
		if k := shutdownKind(l); k != nil {
			kind = k
		}
	}
	return kind
}

// Error is a failed VM run. Kind is one of the sentinels above.
type Error struct {
	Kind error
	// Booted reports whether the agent said hello: if not, the boot itself
	// broke and a retry may help.
	Booted bool
	// Detail says more, e.g. QEMU's exit status and stderr.
	Detail string
	// Cmdline is the exact QEMU argv; Repro is a shell line that reruns it.
	Cmdline []string
	Repro   string
	// ConsoleTail is the end of the kernel console.
	ConsoleTail []string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if len(e.ConsoleTail) > 0 {
		b.WriteString("\nlast console lines:\n  " + strings.Join(e.ConsoleTail, "\n  "))
	}
	if e.Repro != "" {
		b.WriteString("\nreproduce with: " + e.Repro)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Kind }

// consoleTail returns the last n non-empty lines of the console.
func consoleTail(console []byte, n int) []string {
	lines := strings.Split(strings.ReplaceAll(string(console), "\r", ""), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimRight(lines[i], " \t"); l != "" {
			out = append(out, l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// panicMarkers start the interesting part of a console that shows a crash.
var panicMarkers = []string{"Kernel panic", "sysrq: Trigger a crash", "BUG:", "Oops:", "kernel BUG at"}

// crashTail returns the console from just before the first crash marker, up
// to max lines, or the last n lines when there is no marker.
func crashTail(console []byte, n, max int) []string {
	all := consoleTail(console, 1<<30)
	for i, l := range all {
		for _, m := range panicMarkers {
			if strings.Contains(l, m) {
				from := max0(i - 3)
				if len(all)-from > max {
					// Keep the start of the crash and the end of the console.
					return append(append(all[from:from+max/2:from+max/2], "..."), all[len(all)-max/2:]...)
				}
				return all[from:]
			}
		}
	}
	return consoleTail(console, n)
}

func max0(i int) int {
	if i < 0 {
		return 0
	}
	return i
}

// panicked reports whether the console shows a kernel panic.
func panicked(console []byte) bool {
	return bytes.Contains(console, []byte("Kernel panic")) || bytes.Contains(console, []byte("kernel BUG at"))
}

func wrapf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
