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
)

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
