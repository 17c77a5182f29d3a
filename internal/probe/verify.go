package probe

import (
	"fmt"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// VersionViolations checks the version claims of the tables against a
// kernel's result both ways, as cilium/ebpf's testutils do: a feature
// unsupported without a version, config, privilege or program-type
// explanation (a Finding), and a feature supported on a kernel older than
// the version the table says introduced it, overall or on arch (Spec.Arch:
// the table is wrong, or the distribution backported it). arch is spelled
// as in the catalog (x86_64, arm64). Tests assert that the list is empty.
func VersionViolations(version Version, arch string, feats []result.Feature) []string {
	var out []string
	for _, f := range feats {
		if f.Finding != "" {
			out = append(out, f.Finding)
		}
		if f.Status != result.Supported {
			continue
		}
		s, ok := LookupSpec(f.Kind, f.Name)
		if !ok {
			continue
		}
		if s.Version != "" {
			if v := mustVersion(s.Version); version.Less(v) {
				out = append(out, fmt.Sprintf("%s: supported on %s but the table says introduced in %s", f.Key(), version, s.Version))
				continue
			}
		}
		for _, a := range s.Arch {
			if a.Arch == arch && version.Less(mustVersion(a.Version)) {
				out = append(out, fmt.Sprintf("%s: supported on %s %s but the table says %s got it in %s", f.Key(), version, arch, arch, a.Version))
			}
		}
	}
	return out
}
