package probe

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/features"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/verifierlog"
)

// structOpsSleepableSuffix names a member row: "TYPE.MEMBER:sleepable" is
// whether MEMBER of struct_ops TYPE may be a sleepable program.
const structOpsSleepableSuffix = ":sleepable"

// structOpsType is one struct_ops type of the running kernel.
type structOpsType struct {
	name    string
	id      uint32
	members []structMember
}

// listStructOps returns the kernel's struct_ops types: a struct NAME for
// which the BTF also has the value type bpf_struct_ops_NAME, which every
// registration declares (BPF_STRUCT_OPS_TYPE before 6.9,
// DEFINE_STRUCT_OPS_VALUE_TYPE since) and nothing else does.
func (x *btfIndex) listStructOps() []structOpsType {
	var out []structOpsType
	for n := range x.structs {
		name, ok := strings.CutPrefix(n, "bpf_struct_ops_")
		if !ok {
			continue
		}
		if id, ok := x.structs[name]; ok {
			out = append(out, structOpsType{name: name, id: id, members: x.members(id)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

var (
	msgUnsupportedMember = []byte("unsupported member")
	msgNotStructOps      = []byte("not a supported struct")
	msgSleepable         = []byte("sleepable")
)

// structOpsVerdict reads the answer to a struct_ops program load: loaded,
// or walked by the verifier (its statistics count instructions) after the
// member checks, is "yes"; the verifier's refusal of the struct or member
// is "no" with its message.
func structOpsVerdict(res loadResult, sleepable bool) (Outcome, string) {
	if res.err == nil {
		return OutcomeSupported, ""
	}
	if interrupted(res.err) {
		return OutcomeError, "verification interrupted: " + res.err.Error()
	}
	log := res.raw
	if log == nil {
		log = []byte(res.log)
	}
	complaint := verifierlog.Complaint(log)
	switch {
	case bytes.Contains(log, msgNotStructOps), bytes.Contains(log, msgUnsupportedMember),
		sleepable && bytes.Contains(log, msgSleepable):
		return OutcomeNotOffered, string(complaint)
	}
	if errors.Is(res.err, unix.EPERM) {
		return OutcomePrivilege, res.err.Error()
	}
	if n, ok := verifierlog.Processed(log); ok && n > 0 && complaint != nil {
		return OutcomeSupported, ""
	}
	if complaint != nil {
		// Refused before the first instruction for a reason other than
		// the struct or member (a member check without a message).
		return OutcomeNotOffered, res.err.Error() + ": " + string(complaint)
	}
	return OutcomeNotOffered, res.err.Error()
}

// probeStructOps adds one row per struct_ops type (a non-sleepable program
// for its first member that the verifier accepts) and one per member that
// a program can implement, saying whether it may be sleepable.
func (r *runner) probeStructOps(ctx context.Context, x *btfIndex) {
	if x == nil {
		return
	}
	stype, ok := LookupSpec(result.KindProgramType, "struct_ops")
	if !ok {
		return
	}
	types := x.listStructOps()
	r.structOpsNotInBTF(types)
	typeOK := make([]bool, len(types))
	r.parallel(ctx, len(types), func(l *loader, i int) {
		t := types[i]
		o := Observation{Kind: result.KindStructOps, Name: t.name}
		o.Outcome, o.Detail = OutcomeNotSupported, "no member of "+t.name+" loads"
		for mi, m := range t.members {
			if !m.funcPtr {
				continue
			}
			res := l.load(loadRequest{progType: uint32(stype.Value), attachType: uint32(mi), attachBTFID: t.id,
				insns: retZero, wantLog: true})
			out, detail := structOpsVerdict(res, false)
			if out == OutcomeNotOffered && bytes.Contains([]byte(detail), msgUnsupportedMember) {
				continue // another member may be implementable
			}
			o.Outcome, o.Detail = out, detail
			if out == OutcomeSupported {
				o.Detail = "loads as " + t.name + ":" + m.name
			} else if out == OutcomeError {
				o.Err = detail
			}
			if out == OutcomeNotOffered {
				o.Outcome = OutcomeNotSupported
			}
			break
		}
		typeOK[i] = o.Outcome == OutcomeSupported
		r.add(o)
	})
	type memberJob struct {
		t   structOpsType
		idx int
	}
	var jobs []memberJob
	for i, t := range types {
		if !typeOK[i] {
			continue
		}
		for mi, m := range t.members {
			if m.funcPtr {
				jobs = append(jobs, memberJob{t, mi})
			}
		}
	}
	r.parallel(ctx, len(jobs), func(l *loader, i int) {
		j := jobs[i]
		o := Observation{Kind: result.KindStructOps, Name: j.t.name + "." + j.t.members[j.idx].name + structOpsSleepableSuffix}
		res := l.load(loadRequest{progType: uint32(stype.Value), attachType: uint32(j.idx), attachBTFID: j.t.id,
			flags: flagSleepable, insns: retZero, wantLog: true})
		o.Outcome, o.Detail = structOpsVerdict(res, true)
		if o.Outcome == OutcomeError {
			o.Err = o.Detail
		}
		r.add(o)
	})
}

// structOpsNotInBTF adds a row for each struct_ops type of
// features.StructOps the kernel's BTF lacks, where its version or config
// explains that. Otherwise no row: the type may be registered by a module
// (hid_bpf_ops lives in hid.ko), whose BTF this probe does not read.
func (r *runner) structOpsNotInBTF(types []structOpsType) {
	have := map[string]bool{}
	for _, t := range types {
		have[t.name] = true
	}
	for _, s := range features.StructOps {
		if have[s.Name] {
			continue
		}
		explained := false
		if v, err := catalog.ParseVersion(s.Version); err == nil && r.env.Version.Less(v) {
			explained = true
		}
		for _, c := range s.Config {
			if r.env.Config != nil && !r.env.Config.Enabled(c) {
				explained = true
			}
		}
		if explained {
			r.add(Observation{Kind: result.KindStructOps, Name: s.Name, Outcome: OutcomeNotSupported,
				Detail: "no struct " + s.Name + " with a bpf_struct_ops_" + s.Name + " value type in the kernel's BTF"})
		}
	}
}
