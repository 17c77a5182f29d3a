package probe

import (
	"context"
	"runtime"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Probe probes the running kernel and returns its result: kernel identity,
// BPF-related config, every feature classified, and (with
// Options.BpftoolPath) the bpftool cross-check. The caller needs CAP_BPF and
// CAP_PERFMON or CAP_SYS_ADMIN (root); see CheckPrivilege.
func Probe(ctx context.Context, opts Options) (*result.KernelResult, error) {
	start := time.Now()
	obs, env, cfg, err := Observe(ctx, opts)
	if err != nil {
		return nil, err
	}
	classified := time.Now()
	feats := Classify(env, obs)
	SortFeatures(feats)
	if opts.Phase != nil {
		opts.Phase("classify", time.Since(classified))
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := opts.Release
	if release == "" {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	kr := &result.KernelResult{
		Schema: result.SchemaVersion,
		Kernel: result.Kernel{
			Name:    "host",
			Release: release,
			Version: env.Version.String(),
			Arch:    string(catalog.ArchOf(runtime.GOARCH)),
		},
		Config:    RelevantConfig(cfg),
		ProbeTime: result.Duration(time.Since(start)),
		Features:  feats,
	}
	if opts.BpftoolPath != "" {
		checked := time.Now()
		kr.Bpftool = CrossCheck(ctx, opts.BpftoolPath, kr.Features)
		if opts.Phase != nil {
			opts.Phase("bpftool cross-check (after probe time)", time.Since(checked))
		}
	}
	return kr, nil
}

var kindOrder = map[result.Kind]int{
	result.KindSystem: 0, result.KindProgramType: 1, result.KindMapType: 2, result.KindAttachType: 3,
	result.KindLinkType: 4, result.KindMisc: 5, result.KindHelper: 6,
	result.KindBTF: 7, result.KindStructOps: 8, result.KindKfunc: 9,
}

// SortFeatures orders features by kind, then by program type and enum
// value, so that results from different kernels line up.
func SortFeatures(fs []result.Feature) {
	type key struct {
		kind int
		val  int64
	}
	idx := make([]int, len(fs))
	ks := make([]key, len(fs))
	for i := range fs {
		f := &fs[i]
		k := key{kind: kindOrder[f.Kind]}
		if f.Kind == result.KindHelper {
			p, _ := LookupSpec(result.KindProgramType, f.ProgramType)
			h, _ := LookupSpec(result.KindHelper, f.Name)
			k.val = p.Value*1000 + h.Value
		} else if f.Kind == result.KindKfunc || f.Kind == result.KindBTF || f.Kind == result.KindStructOps {
			// The kernel's own list first, then by program type; by name
			// inside each (kfuncs.go, btffeatures.go, structops.go).
			if f.ProgramType != "" {
				p, _ := LookupSpec(result.KindProgramType, f.ProgramType)
				k.val = p.Value + 1
			}
		} else if s, ok := LookupSpec(f.Kind, f.Name); ok {
			k.val = s.Value
		} else {
			k.val = undeclaredOrder(specKey{f.Kind, f.Name})
		}
		idx[i], ks[i] = i, k
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := ks[idx[a]], ks[idx[b]]
		if ka.kind != kb.kind {
			return ka.kind < kb.kind
		}
		if ka.val != kb.val {
			return ka.val < kb.val
		}
		return fs[idx[a]].Name < fs[idx[b]].Name
	})
	sorted := make([]result.Feature, len(fs))
	for i, j := range idx {
		sorted[i] = fs[j]
	}
	copy(fs, sorted)
}

// Counts tallies features by status.
func Counts(fs []result.Feature) map[result.Status]int {
	c := map[result.Status]int{}
	for _, f := range fs {
		c[f.Status]++
	}
	return c
}

// CheckPrivilege reports whether the process can load BPF programs the
// probes need: it must be root or hold CAP_SYS_ADMIN / CAP_BPF.
func CheckPrivilege() bool {
	if unix.Geteuid() == 0 {
		return true
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	return has(unix.CAP_SYS_ADMIN) || (has(39) && has(38)) // CAP_BPF and CAP_PERFMON
}
