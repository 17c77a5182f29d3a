package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalNumber maps a signal name from the guest (e.g. SIGKILL) to its number.
func signalNumber(name string) int {
	if s := unix.SignalNum(name); s != 0 {
		return int(s)
	}
	return 0
}

// SignalError is the cause of a command's context being cancelled by a
// signal: the command exits 128+Signal, as a shell reports a process the
// signal killed (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
type SignalError struct {
	Signal syscall.Signal
}

func (e *SignalError) Error() string { return "interrupted by " + unix.SignalName(e.Signal) }

// NotifyContext returns a context that is cancelled, with a *SignalError as
// its cause (context.Cause), at the first SIGINT, SIGTERM or SIGHUP, so that
// commands stop their VMs and remove their files. A second signal ends the
// process the default way. stop releases the signals.
func NotifyContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			cancel(&SignalError{Signal: s.(syscall.Signal)})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(nil)
		})
	}
}

// Interrupted turns err, if it is ctx's cancellation by a signal
// (NotifyContext), into an *ExitError with status 128+signal; anything else
// is returned as is. A run that ended by itself keeps its own status even
// when a signal came in meanwhile.
func Interrupted(ctx context.Context, err error) error {
	var se *SignalError
	if err == nil || !errors.Is(err, context.Canceled) || !errors.As(context.Cause(ctx), &se) {
		return err
	}
	return &ExitError{Code: 128 + int(se.Signal), Err: fmt.Errorf("interrupted (%s)", unix.SignalName(se.Signal))}
}
