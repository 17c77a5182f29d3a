package observe

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ObjectRun is what `check --run` learned about one user object in one
// kernel: per program whether it attached and ran, and its maps' contents
// afterwards. It crosses the VM boundary inside object.ObjectReport.
type ObjectRun struct {
	// Error is set when the object could not be read at all.
	Error    string       `json:"error,omitempty"`
	Programs []ProgramRun `json:"programs,omitempty"`
}

// ProgramRun is one program's attach and run.
type ProgramRun struct {
	Program string `json:"program"`
	Section string `json:"section"`
	// Attach says how it was attached ("kprobe do_unlinkat"), or is empty
	// when it was not (AttachError says why).
	Attach      string `json:"attach,omitempty"`
	AttachError string `json:"attach_error,omitempty"`
	Errno       string `json:"errno,omitempty"`
	// RunCount is the kernel's run count for the program (BPF_ENABLE_STATS,
	// 5.8+) after the generic triggers; Ran is RunCount > 0.
	RunCount uint64 `json:"run_count"`
	Ran      bool   `json:"ran"`
	// Maps are the program's maps after the run (each program is loaded
	// with its own copy of the object's maps).
	Maps []MapDump `json:"maps,omitempty"`
}

// MapDump is a map's contents, hex-encoded, up to maxDumpEntries entries.
type MapDump struct {
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Entries   []MapEntry `json:"entries,omitempty"`
	Truncated bool       `json:"truncated,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// MapEntry is one key and value, hex-encoded.
type MapEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

const maxDumpEntries = 256

// RunObject loads each program of the object at path on its own (with its
// own maps, pins stripped), attaches it the way its section name says,
// runs the generic triggers (getpid, an open, an unlink, a UDP datagram on
// lo, reading iterators, a BPF_PROG_TEST_RUN for packet programs), and
// reports whether each program ran and what its maps hold. A program that
// does not load is reported with the load error as AttachError: its
// verifier verdict is the load report's business.
func RunObject(path string) ObjectRun {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return ObjectRun{Error: err.Error()}
	}
	// Counting runs needs BPF stats (5.8+); without them RunCount stays 0.
	if stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer stats.Close()
	}
	lo := setLoopbackUp()
	var out ObjectRun
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		out.Programs = append(out.Programs, runProgram(spec, name, lo))
	}
	return out
}

func runProgram(spec *ebpf.CollectionSpec, name string, lo int) ProgramRun {
	ps := spec.Programs[name]
	pr := ProgramRun{Program: name, Section: ps.SectionName}
	one := spec.Copy()
	for n := range one.Programs {
		if n != name {
			delete(one.Programs, n)
		}
	}
	for _, m := range one.Maps {
		m.Pinning = ebpf.PinNone
	}
	coll, err := ebpf.NewCollection(one)
	if err != nil {
		pr.AttachError, pr.Errno = "load: "+firstLine(err.Error()), errnoName(err)
		return pr
	}
	defer coll.Close()
	prog := coll.Programs[name]
	how, l, err := attachBySection(prog, ps, lo)
	if err != nil {
		pr.AttachError, pr.Errno = firstLine(err.Error()), errnoName(err)
	} else {
		pr.Attach = how
		genericTriggers(prog, l)
		l.Close()
	}
	if st, err := prog.Stats(); err == nil {
		pr.RunCount = st.RunCount
	}
	pr.Ran = pr.RunCount > 0
	mapNames := make([]string, 0, len(coll.Maps))
	for n := range coll.Maps {
		mapNames = append(mapNames, n)
	}
	slices.Sort(mapNames)
	for _, n := range mapNames {
		pr.Maps = append(pr.Maps, dumpMap(n, coll.Maps[n]))
	}
	return pr
}

// attachBySection attaches prog the way libbpf's section names say.
func attachBySection(prog *ebpf.Program, ps *ebpf.ProgramSpec, lo int) (string, io.Closer, error) {
	sec := ps.SectionName
	kind, arg, _ := strings.Cut(sec, "/")
	switch kind {
	case "kprobe", "kretprobe":
		if arg == "" {
			return "", nil, errors.New("no function in the section name")
		}
		var l link.Link
		var err error
		if kind == "kprobe" {
			l, err = link.Kprobe(arg, prog, nil)
		} else {
			l, err = link.Kretprobe(arg, prog, nil)
		}
		return kind + " " + arg, l, err
	case "tracepoint", "tp":
		group, ev, ok := strings.Cut(arg, "/")
		if !ok {
			return "", nil, errors.New("section name is not tracepoint/GROUP/EVENT")
		}
		l, err := link.Tracepoint(group, ev, prog, nil)
		return "tracepoint " + arg, l, err
	case "raw_tracepoint", "raw_tp":
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: arg, Program: prog})
		return "raw_tracepoint " + arg, l, err
	case "fentry", "fexit", "fmod_ret", "tp_btf", "fentry.s", "fexit.s", "fmod_ret.s":
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		return kind + " " + arg, l, err
	case "lsm", "lsm.s":
		l, err := link.AttachLSM(link.LSMOptions{Program: prog})
		return "lsm " + arg, l, err
	case "iter", "iter.s":
		l, err := link.AttachIter(link.IterOptions{Program: prog})
		return "iter " + arg, l, err
	case "xdp":
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: lo, Flags: link.XDPGenericMode})
		return "xdp generic on lo", l, err
	case "tc", "classifier", "tcx":
		l, err := link.AttachTCX(link.TCXOptions{Interface: lo, Program: prog, Attach: ebpf.AttachTCXIngress})
		return "tcx ingress on lo", l, err
	case "socket":
		s, err := attachSocketFilter(nil, prog)
		return "SO_ATTACH_BPF on a UDP socket on lo", s, err
	case "cgroup_skb", "cgroup":
		if ps.AttachType == ebpf.AttachNone {
			return "", nil, fmt.Errorf("section %q names no cgroup attach point", sec)
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: "/sys/fs/cgroup", Attach: ps.AttachType, Program: prog})
		return "root cgroup " + ps.AttachType.String(), l, err
	case "sk_lookup":
		ns, err := os.Open("/proc/self/ns/net")
		if err != nil {
			return "", nil, err
		}
		defer ns.Close()
		l, err := link.AttachNetNs(int(ns.Fd()), prog)
		return "sk_lookup on this netns", l, err
	case "perf_event":
		pe, err := attachCPUClock(nil, prog)
		return "cpu-clock perf event on this thread", pe, err
	case "uprobe", "uretprobe":
		// uprobe/PATH:SYMBOL (libbpf's auto-attach form).
		bin, sym, ok := strings.Cut(arg, ":")
		if !ok || bin == "" || sym == "" {
			return "", nil, fmt.Errorf("section %q names no PATH:SYMBOL to attach to", sec)
		}
		ex, err := link.OpenExecutable(bin)
		if err != nil {
			return "", nil, err
		}
		var l link.Link
		if kind == "uprobe" {
			l, err = ex.Uprobe(sym, prog, nil)
		} else {
			l, err = ex.Uretprobe(sym, prog, nil)
		}
		return kind + " " + arg, l, err
	}
	return "", nil, fmt.Errorf("section %q: no generic way to attach it", sec)
}

// genericTriggers makes the events a generic program may hook happen.
func genericTriggers(prog *ebpf.Program, l io.Closer) {
	getpid(nil, nil)
	_ = openFile(nil, nil)
	if d, err := os.MkdirTemp("", "bpfmatrix-run"); err == nil {
		p := filepath.Join(d, "unlink-me")
		if f, err := os.Create(p); err == nil {
			f.Close()
			os.Remove(p)
		}
		os.Remove(d)
	}
	_ = sendUDP(nil, nil)
	if fs, ok := l.(*filteredSocket); ok {
		_ = fs.roundTrip()
	}
	if it, ok := l.(*link.Iter); ok {
		if r, err := it.Open(); err == nil {
			io.Copy(io.Discard, r)
			r.Close()
		}
	}
	if _, ok := l.(*perfEvent); ok {
		for i := 0; i < 2_000_000; i++ {
			uprobeSink += uint64(i)
		}
	}
}

func dumpMap(name string, m *ebpf.Map) MapDump {
	d := MapDump{Name: name, Type: m.Type().String()}
	switch m.Type() {
	case ebpf.RingBuf, ebpf.PerfEventArray, ebpf.ProgramArray, ebpf.ArrayOfMaps, ebpf.HashOfMaps, ebpf.StructOpsMap:
		d.Error = "not dumped: its values are not data"
		return d
	}
	if m.KeySize() == 0 {
		d.Error = "not dumped: no keys"
		return d
	}
	var k, v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		if len(d.Entries) == maxDumpEntries {
			d.Truncated = true
			break
		}
		d.Entries = append(d.Entries, MapEntry{Key: hex.EncodeToString(k), Value: hex.EncodeToString(v)})
	}
	if err := it.Err(); err != nil {
		d.Error = err.Error()
	}
	return d
}
