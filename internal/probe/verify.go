package probe

import (
	"fmt"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// VersionViolations checks the version claims of the tables against a
// kernel's result both ways, as cilium/ebpf's testutils do: a feature
// unsupported without a version, config, privilege or program-type
// explanation (a Finding), and a feature supported on a kernel older than
// the version the table says introduced it (the table is wrong, or the
// distribution backported it). Tests assert that the list is empty.
func VersionViolations(version Version, feats []result.Feature) []string {
	var out []string
	for _, f := range feats {
		if f.Finding != "" {
			out = append(out, f.Finding)
		}
		if f.Status != result.Supported {
			continue
		}
		s, ok := LookupSpec(f.Kind, f.Name)
		if !ok || s.Version == "" {
			continue
		}
		if v := mustVersion(s.Version); version.Less(v) {
			out = append(out, fmt.Sprintf("%s: supported on %s but the table says introduced in %s", f.Key(), version, s.Version))
		}
	}
	return out
}
