package matrix

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// ErrConflict: two inputs of Merge hold results for one kernel name from
// different kernel images (digests).
var ErrConflict = errors.New("conflicting results")

// Merge combines the matrices of several runs (shards of one matrix, possibly
// written on different machines and architectures) into one. Every input is
// validated first (an invalid one is ErrInvalid, naming its position). The
// result's kernels are ordered by rank (the catalog position; a negative rank
// sorts after every ranked kernel), then by name, so the merge of shards
// equals one run over all their kernels in catalog order, whatever the order
// of the inputs. Generated is the newest input's: merging the same inputs
// again gives the same bytes.
//
// One kernel name in two inputs is kept once when both results come from the
// same image (or one of them has no digest, a kernel that failed before it
// was fetched): the result without an error wins, else the first input's.
// Two different digests for one name are ErrConflict: those are different
// kernels, and no report can show both under one name.
func Merge(rank func(name string) int, ms ...*result.Matrix) (*result.Matrix, error) {
	out := &result.Matrix{Schema: result.SchemaVersion}
	at := map[string]int{} // kernel name -> index in out.Kernels
	for i, m := range ms {
		if err := Validate(m); err != nil {
			return nil, fmt.Errorf("merge input %d: %w", i+1, err)
		}
		if m.Generated.After(out.Generated) {
			out.Generated = m.Generated
		}
		for _, kr := range m.Kernels {
			j, seen := at[kr.Kernel.Name]
			if !seen {
				at[kr.Kernel.Name] = len(out.Kernels)
				out.Kernels = append(out.Kernels, kr)
				continue
			}
			prev := &out.Kernels[j]
			if a, b := prev.Kernel.Digest, kr.Kernel.Digest; a != "" && b != "" && a != b {
				return nil, fmt.Errorf("merge: kernel %s: %w: digest %s in one input, %s in input %d", kr.Kernel.Name, ErrConflict, a, b, i+1)
			}
			if prev.Error != "" && kr.Error == "" {
				*prev = kr
			}
		}
	}
	rankOf := func(name string) int {
		if r := rank(name); r >= 0 {
			return r
		}
		return int(^uint(0) >> 1)
	}
	slices.SortStableFunc(out.Kernels, func(a, b result.KernelResult) int {
		return cmp.Or(cmp.Compare(rankOf(a.Kernel.Name), rankOf(b.Kernel.Name)), cmp.Compare(a.Kernel.Name, b.Kernel.Name))
	})
	// No second Validate: every invariant is per kernel except unique
	// names, which the loop above ensures.
	return out, nil
}
