package probe

import "context"

// probeDimensions runs the probes of the dimensions that read the whole
// BTF (btfIndex): BTF features (btffeatures.go), struct_ops types and
// their members (structops.go) and kfuncs per program type (kfuncs.go).
// They run last: struct_ops and kfuncs reuse the program type variants
// the program-type probes found loadable. Without the kernel's BTF only
// the BTF features are probed (they load their own BTF).
func (r *runner) probeDimensions(ctx context.Context, idx *btfIndex) {
	r.probeBTFFeatures()
	if idx == nil {
		return
	}
	r.probeStructOps(ctx, idx)
	r.probeKfuncMatrix(ctx, idx)
}
