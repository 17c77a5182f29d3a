package observe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// burstChunk is how many events one BPF_PROG_TEST_RUN of the burst program
// writes (a bounded loop, 5.3+). One run per chunk rather than the
// syscall's repeat count: a repeated run interrupted by a signal (EINTR)
// is restarted from the start by cilium/ebpf, which would send some
// events twice.
const burstChunk = 1000

// Burst buffer sizes: a ring buffer of 256 KiB and a perf buffer of 64 KiB
// per CPU, sizes tracers commonly start with.
const (
	burstRingbufSize = 256 << 10
	burstPerfPages   = 16
)

// bursts measures delivery under load through each buffer kind.
func (e *env) bursts(ctx context.Context, n int) []result.Feature {
	rb := result.Feature{Kind: result.KindObserve, Name: "ringbuf.burst"}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		rb.Status = result.Unsupported
		rb.Reason = &result.Reason{Kind: result.ReasonVersion, Version: "5.8", Commit: "457f44363a88", Detail: firstLine(err.Error())}
		if e.kernel.Version != "" && !versionLess(e.kernel.Version, "5.8") {
			rb.Reason = &result.Reason{Kind: result.ReasonUnexplained, Detail: firstLine(err.Error())}
		}
	} else {
		rb = e.burst(ctx, outRingbuf, n, rb)
	}
	pb := e.burst(ctx, outPerf, n, result.Feature{Kind: result.KindObserve, Name: "perf_buffer.burst"})
	return []result.Feature{rb, pb}
}

func (e *env) burst(ctx context.Context, out output, n int, row result.Feature) result.Feature {
	fail := func(err error) result.Feature {
		row.Status = result.Unsupported
		row.Errno = errnoName(err)
		row.Reason = &result.Reason{Kind: result.ReasonUnexplained, Detail: firstLine(err.Error())}
		if r := e.kernel.explain(need{version: "5.3", config: []string{"CONFIG_NET"}}); r != nil {
			r.Detail = "the burst program is a bounded loop run with BPF_PROG_TEST_RUN: " + firstLine(err.Error())
			row.Reason = r
		}
		return row
	}
	m, err := newMaps(out)
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	if out == outRingbuf {
		// A bigger ring than the families' one: the burst is about the
		// reader keeping up, not about the first page filling.
		m.events.Close()
		if m.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_burst", Type: ebpf.RingBuf, MaxEntries: burstRingbufSize}); err != nil {
			return fail(err)
		}
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "obs_burst", Type: ebpf.XDP, License: "GPL", Instructions: burstProgram(m, out),
	})
	if err != nil {
		return fail(fmt.Errorf("load burst program: %w", err))
	}
	defer prog.Close()
	e2 := &env{maps: m}
	rd, err := e2.newReader(burstPerfPages*os.Getpagesize(), true)
	if err != nil {
		return fail(err)
	}
	var received, readerLost atomic.Uint64
	done := make(chan error, 1)
	go func() {
		var rrec ringbuf.Record
		var prec perf.Record
		for {
			sample, lost, err := rd.read(&rrec, &prec)
			if errors.Is(err, perf.ErrFlushed) {
				continue // flush's marker, not an end
			}
			if err != nil {
				if errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, perf.ErrClosed) {
					err = nil
				}
				done <- err
				return
			}
			readerLost.Add(lost)
			if len(sample) >= 8 {
				received.Add(1)
			}
		}
	}()
	start := time.Now()
	sent := 0
	var runErr error
	data := make([]byte, 64)
	for sent < n && ctx.Err() == nil {
		if _, err := prog.Run(&ebpf.RunOptions{Data: data}); err != nil {
			runErr = err
			break
		}
		sent += burstChunk
	}
	wrote := time.Since(start)
	rd.flush()
	drops := func() uint64 { v, _ := m.count(0); return v }
	// Wait for the reader to catch up: every event is either received or
	// counted as dropped by the program, or 1 s passes without progress.
	last, idle := received.Load(), time.Now()
	for received.Load()+drops() < uint64(sent) && time.Since(idle) < time.Second {
		time.Sleep(5 * time.Millisecond)
		rd.flush()
		if r := received.Load(); r != last {
			last, idle = r, time.Now()
		}
	}
	rd.Close()
	readErr := <-done
	if runErr != nil {
		return fail(fmt.Errorf("run burst program: %w", runErr))
	}
	if readErr != nil {
		return fail(fmt.Errorf("read %s: %w", out, readErr))
	}
	got, lost := received.Load(), drops()
	row.Status = result.Supported
	row.Value = fmt.Sprintf("sent %d, received %d, lost %d (%s, written in %s)", sent, got, lost, bufferSize(out), wrote.Round(time.Millisecond))
	if out == outPerf {
		row.Value += fmt.Sprintf(", reader's lost-sample count %d", readerLost.Load())
	}
	if missing := int64(sent) - int64(got) - int64(lost); missing != 0 {
		row.Value += fmt.Sprintf(", %d unaccounted", missing)
	}
	if got == 0 {
		row.Status = result.Unsupported
		row.Reason = &result.Reason{Kind: result.ReasonUnexplained, Detail: "no event came out of the " + out.String()}
	}
	return row
}

func bufferSize(out output) string {
	if out == outRingbuf {
		return fmt.Sprintf("%d KiB ring", burstRingbufSize>>10)
	}
	return fmt.Sprintf("%d KiB per CPU", burstPerfPages*os.Getpagesize()>>10)
}

// burstProgram writes burstChunk 8-byte events and counts in slot 0 of the
// counter map every one its output helper refused.
func burstProgram(m *maps, out output) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R7, 0),
		asm.StoreMem(asm.RFP, -16, asm.R7, asm.DWord).WithSymbol("loop"),
	}
	insns = append(insns, outputStack(m, out)...)
	return append(insns,
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.counters.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Add.Imm(asm.R7, 1).WithSymbol("next"),
		asm.JLT.Imm(asm.R7, burstChunk, "loop"),
		asm.Mov.Imm(asm.R0, 2), // XDP_PASS
		asm.Return(),
	)
}
