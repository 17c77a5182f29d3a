package observe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Options configure Run.
type Options struct {
	Kernel Kernel
	// Burst is the number of events per delivery burst: 0 means 100,000,
	// a negative number skips the bursts.
	Burst int
}

// DefaultBurst is the number of events a delivery burst writes.
const DefaultBurst = 100_000

// env is what the families share during a run.
type env struct {
	kernel       Kernel
	maps         *maps
	slot         int // the running family's counter slot
	syscallFunc  string
	exe          *link.Executable
	exeErr       error
	uprobeOffset uint64
	lo           int
	cgroupRoot   string
	cgroup       string
	cgroupErr    error
}

// Run attaches, triggers and observes every hook family, then runs the
// delivery bursts, and returns their rows. An error means the section
// could not start at all (no counter map); everything else is a row.
func Run(ctx context.Context, opts Options) ([]result.Feature, error) {
	out := outRingbuf
	if features.HaveMapType(ebpf.RingBuf) != nil {
		out = outPerf
	}
	m, err := newMaps(out)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	e := &env{kernel: opts.Kernel, maps: m, syscallFunc: syscallFunc()}
	e.setup()
	defer e.teardown()
	// A perf event array drops what is written while no reader has a
	// buffer for the CPU: open the reader before any trigger.
	rd, err := e.newReader(os.Getpagesize()*4, false)
	if err != nil {
		return nil, err
	}
	defer rd.Close()

	type outcome struct {
		attachErr  error
		reason     *result.Reason // why not attached
		triggerErr error
		fired      uint64
		delivers   bool
	}
	outs := make([]outcome, len(families))
	for i, f := range families {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e.slot = i
		o := &outs[i]
		prog, delivers, err := load(m, i, f.shape(e))
		if err != nil {
			o.attachErr = fmt.Errorf("load: %w", err)
			o.reason = e.attachReason(f, err)
			continue
		}
		o.delivers = delivers
		l, err := f.attach(e, prog)
		if err != nil {
			prog.Close()
			o.attachErr = fmt.Errorf("attach: %w", err)
			o.reason = e.attachReason(f, err)
			continue
		}
		o.triggerErr = f.trigger(e, l)
		l.Close()
		prog.Close()
		o.fired, _ = m.count(i)
	}

	delivered, err := rd.drain(len(families))
	rows := make([]result.Feature, 0, 3*len(families)+2)
	for i, f := range families {
		o := outs[i]
		attached := result.Feature{Kind: result.KindObserve, Name: f.name + ".attached", Status: result.Supported}
		fired := result.Feature{Kind: result.KindObserve, Name: f.name + ".fired"}
		deliv := result.Feature{Kind: result.KindObserve, Name: f.name + ".delivered"}
		if o.attachErr != nil {
			attached.Status, attached.Reason, attached.Errno = result.Unsupported, o.reason, errnoName(o.attachErr)
			fired.Status, fired.Reason = result.Unsupported, inherit("not attached", o.reason)
			deliv.Status, deliv.Reason = result.Unsupported, inherit("not attached", o.reason)
			rows = append(rows, attached, fired, deliv)
			continue
		}
		if o.fired > 0 {
			fired.Status, fired.Value = result.Supported, fmt.Sprintf("ran %d times", o.fired)
		} else {
			fired.Status = result.Unsupported
			fired.Reason = e.silentReason(f, o.triggerErr)
			fired.Errno = errnoName(o.triggerErr)
		}
		switch {
		case fired.Status != result.Supported:
			deliv.Status, deliv.Reason = result.Unsupported, inherit("did not fire", fired.Reason)
		case !o.delivers:
			deliv.Status = result.Unsupported
			deliv.Reason = &result.Reason{Kind: result.ReasonProgramType, Detail: "the program type is not offered the " + m.out.String() + " output helper"}
		case err != nil:
			deliv.Status = result.Unsupported
			deliv.Reason = &result.Reason{Kind: result.ReasonUnexplained, Detail: "read " + m.out.String() + ": " + err.Error()}
		case delivered[i] > 0:
			deliv.Status, deliv.Value = result.Supported, fmt.Sprintf("%d events through the %s", delivered[i], m.out)
		default:
			deliv.Status = result.Unsupported
			deliv.Reason = &result.Reason{Kind: result.ReasonUnexplained, Detail: fmt.Sprintf("ran %d times, no event came out of the %s", o.fired, m.out)}
		}
		rows = append(rows, attached, fired, deliv)
	}
	if opts.Burst >= 0 {
		n := opts.Burst
		if n == 0 {
			n = DefaultBurst
		}
		rows = append(rows, e.bursts(ctx, n)...)
	}
	return rows, nil
}

// inherit is a later step's reason: the first failed step's, said so.
func inherit(what string, r *result.Reason) *result.Reason {
	if r == nil {
		return &result.Reason{Kind: result.ReasonUnexplained, Detail: what}
	}
	c := *r
	if c.Detail == "" {
		c.Detail = what
	} else {
		c.Detail = what + ": " + c.Detail
	}
	return &c
}

// attachReason explains a failed load or attach: the family's needs first
// (version, arch, config), then its own explanation, then unexplained.
func (e *env) attachReason(f family, err error) *result.Reason {
	if r := e.kernel.explain(f.need); r != nil {
		if r.Detail == "" {
			r.Detail = firstLine(err.Error())
		} else {
			r.Detail += ": " + firstLine(err.Error())
		}
		return r
	}
	if f.attachReason != nil {
		if r := f.attachReason(e, err); r != nil {
			return r
		}
	}
	return &result.Reason{Kind: result.ReasonUnexplained, Detail: firstLine(err.Error())}
}

func (e *env) silentReason(f family, triggerErr error) *result.Reason {
	if triggerErr != nil {
		return &result.Reason{Kind: result.ReasonUnexplained, Detail: "trigger: " + firstLine(triggerErr.Error())}
	}
	if f.silent != nil {
		if r := f.silent(e); r != nil {
			return r
		}
	}
	return &result.Reason{Kind: result.ReasonUnexplained, Detail: "attached and triggered, never ran"}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// syscallFunc is the kernel function behind getpid(2) on this
// architecture (the syscall wrappers got arch prefixes in 4.17).
func syscallFunc() string {
	if runtime.GOARCH == "arm64" {
		return "__arm64_sys_getpid"
	}
	return "__x64_sys_getpid"
}

// setup prepares what the families trigger on: lo up, this executable for
// the uprobes, a child cgroup, securityfs for the LSM list.
func (e *env) setup() {
	e.lo = setLoopbackUp()
	e.exeErr = e.openSelf()
	e.cgroupRoot = "/sys/fs/cgroup"
	var st unix.Statfs_t
	if err := unix.Statfs(e.cgroupRoot, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		if err := unix.Mount("cgroup2", e.cgroupRoot, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			e.cgroupErr = fmt.Errorf("mount cgroup2: %w", err)
		}
	}
	e.cgroup = filepath.Join(e.cgroupRoot, cgroupDir)
	if e.cgroupErr == nil {
		if err := os.Mkdir(e.cgroup, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			e.cgroupErr = fmt.Errorf("create child cgroup: %w", err)
		}
	}
	if _, err := os.Stat("/sys/kernel/security/lsm"); err != nil {
		_ = unix.Mount("securityfs", "/sys/kernel/security", "securityfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
}

func (e *env) teardown() {
	if e.cgroupErr == nil {
		os.Remove(e.cgroup)
	}
}

// setLoopbackUp sets lo up (the guest's init leaves it down) and returns
// its index.
func setLoopbackUp() int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 1
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return 1
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err == nil {
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		_ = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
	idx, err := unix.NewIfreq("lo")
	if err == nil && unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, idx) == nil {
		return int(idx.Uint32())
	}
	return 1
}

// openSelf finds uprobeTarget's file offset in this executable through
// /proc/self/maps: the agent is stripped (-s -w), so there is no symbol to
// name, and the mapping gives the offset whether or not it is PIE.
func (e *env) openSelf() error {
	path, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find executable: %w", err)
	}
	pc := uint64(reflect.ValueOf(uprobeTarget).Pointer())
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00a5c000 r-xp 00000000 00:02 12 /init
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil || pc < start || pc >= end {
			continue
		}
		e.uprobeOffset = pc - start + off
		e.exe, err = link.OpenExecutable(fields[5])
		return err
	}
	return fmt.Errorf("find %#x in /proc/self/maps of %s", pc, path)
}

// reader reads the events buffer, whichever kind it is.
type reader struct {
	rb *ringbuf.Reader
	pb *perf.Reader
}

func (e *env) newReader(perCPU int, watermark bool) (*reader, error) {
	var r reader
	var err error
	switch e.maps.out {
	case outRingbuf:
		r.rb, err = ringbuf.NewReader(e.maps.events)
	case outPerf:
		wm := 0
		if watermark {
			wm = perCPU / 2
		}
		// Wake the reader at half a buffer, not at every sample: one
		// wakeup per event costs an interrupt each, which under arm64
		// TCG made a 100,000-event burst take 13.6 s (measured).
		r.pb, err = perf.NewReaderWithOptions(e.maps.events, perCPU, perf.ReaderOptions{Watermark: wm})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s reader: %w", e.maps.out, err)
	}
	return &r, nil
}

func (r *reader) Close() error {
	if r.rb != nil {
		return r.rb.Close()
	}
	if r.pb != nil {
		return r.pb.Close()
	}
	return nil
}

// flush makes what sits below a perf reader's watermark readable.
func (r *reader) flush() {
	if r.pb != nil {
		r.pb.Flush()
	}
}

func (r *reader) setDeadline(t time.Time) {
	if r.rb != nil {
		r.rb.SetDeadline(t)
	}
	if r.pb != nil {
		r.pb.SetDeadline(t)
	}
}

// read returns the next event's sample and the number of samples the
// kernel reported lost before it (perf buffers only).
func (r *reader) read(rrec *ringbuf.Record, prec *perf.Record) ([]byte, uint64, error) {
	if r.rb != nil {
		err := r.rb.ReadInto(rrec)
		return rrec.RawSample, 0, err
	}
	if r.pb != nil {
		err := r.pb.ReadInto(prec)
		return prec.RawSample, prec.LostSamples, err
	}
	return nil, 0, os.ErrDeadlineExceeded
}

// drain reads every event already written and counts them by slot.
func (r *reader) drain(slots int) ([]uint64, error) {
	counts := make([]uint64, slots)
	r.setDeadline(time.Now().Add(50 * time.Millisecond))
	var rrec ringbuf.Record
	var prec perf.Record
	for {
		sample, _, err := r.read(&rrec, &prec)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return counts, nil
			}
			return counts, err
		}
		count(counts, sample)
	}
}

func count(counts []uint64, sample []byte) {
	if len(sample) < 8 {
		return
	}
	slot := int(sample[0]) | int(sample[1])<<8
	if slot < len(counts) {
		counts[slot]++
	}
}
