package probe

import (
	"context"
	"errors"
	"fmt"
	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// A kernel declares in its BTF every member of the UAPI enums it was built
// with; the tables (tables.go) know the members of the releases they were
// written for. Members the tables do not know are reported too, named as
// bpftool would name them (BPF_MAP_TYPE_INSN_ARRAY: insn_array), with a
// status from a generic probe where one exists (a program of the type
// loads; a map of the type is created; BPF_PROG_ATTACH maps the attach type
// to a program type), else as present in the enum and not probed
// (result.Present: a gate must not read it as supported).

// enumKinds maps each kernel enum to its feature kind and member prefix.
var enumKinds = []struct {
	enum   string
	kind   result.Kind
	prefix string
}{
	{"bpf_prog_type", result.KindProgramType, "BPF_PROG_TYPE_"},
	{"bpf_map_type", result.KindMapType, "BPF_MAP_TYPE_"},
	{"bpf_attach_type", result.KindAttachType, "BPF_"},
	{"bpf_link_type", result.KindLinkType, "BPF_LINK_TYPE_"},
	{"bpf_func_id", result.KindHelper, "BPF_FUNC_"},
}

// undeclaredValue records the enum value of features found only in the
// kernel's BTF, for sorting.
var (
	undeclaredMu    sync.Mutex
	undeclaredValue = map[specKey]int64{}
)

func undeclaredOrder(k specKey) int64 {
	undeclaredMu.Lock()
	defer undeclaredMu.Unlock()
	return undeclaredValue[k]
}

// knownValue reports whether the tables have a member of kind with this
// enum value.
func knownValue(kind result.Kind, v int64) bool {
	s, ok := features.ByValue(kind, v)
	return ok && s.Enum != ""
}

// specKey names a feature by kind and name.
type specKey struct {
	kind result.Kind
	name string
}

// presentValue is the Value of a feature the kernel declares and no probe
// could judge.
func presentValue(enum, member string, v int64) string {
	return fmt.Sprintf("present, not probed: %s = %d in the kernel's enum %s", member, v, enum)
}

func (r *runner) probeUndeclared(ctx context.Context) {
	if r.kb == nil {
		return
	}
	type member struct {
		kind         result.Kind
		enum, member string
		name         string
		v            int64
	}
	var ms []member
	for _, e := range enumKinds {
		for n, v := range r.kb.enums[e.enum] {
			if strings.HasPrefix(n, "__") || strings.HasPrefix(n, "MAX_") || knownValue(e.kind, v) {
				continue
			}
			name := strings.ToLower(strings.TrimPrefix(n, e.prefix))
			if e.kind == result.KindHelper {
				if name == "unspec" {
					continue
				}
				name = "bpf_" + name
			}
			if e.kind != result.KindHelper && v == 0 && name == "unspec" {
				continue
			}
			ms = append(ms, member{e.kind, e.enum, n, name, v})
		}
	}
	sort.Slice(ms, func(a, b int) bool {
		if ms[a].kind != ms[b].kind {
			return ms[a].kind < ms[b].kind
		}
		return ms[a].v < ms[b].v
	})
	r.parallel(ctx, len(ms), func(l *loader, i int) {
		m := ms[i]
		o := Observation{Kind: m.kind, Name: m.name, Outcome: OutcomeSupported}
		present := presentValue(m.enum, m.member, m.v)
		switch m.kind {
		case result.KindProgramType:
			res := l.load(loadRequest{progType: uint32(m.v), insns: retZero, kernVersion: r.kernVersion})
			if res.err != nil {
				o.Outcome, o.Value = OutcomePresent, present+" (a plain load: "+res.err.Error()+")"
			}
		case result.KindMapType:
			err := createMap(&mapCreateAttr{mapType: uint32(m.v), keySize: 4, valueSize: 4, maxEntries: 1})
			if err != nil {
				o.Outcome, o.Value = OutcomePresent, present+" (a plain create: "+err.Error()+")"
			}
		case result.KindAttachType:
			if err := progAttachBadFd(uint32(m.v)); !errors.Is(err, unix.EBADF) {
				o.Outcome, o.Value = OutcomePresent, present
			}
		case result.KindHelper:
			o.ProgramType = "socket_filter"
			v, _ := classifyHelperLoad(l.load(loadRequest{progType: 1, insns: helperInsns(int32(m.v)), wantLog: true, logLevel: r.helperLogLevel}))
			if v != verdictSupported {
				o.Outcome, o.Value = OutcomePresent, present+" (not offered to socket_filter)"
			}
		default:
			o.Outcome, o.Value = OutcomePresent, present
		}
		if o.Outcome == OutcomeSupported {
			o.Detail = m.member + " = " + fmt.Sprint(m.v) + " in the kernel's enum " + m.enum
		}
		undeclaredMu.Lock()
		undeclaredValue[specKey{m.kind, m.name}] = m.v
		undeclaredMu.Unlock()
		r.add(o)
	})
}
