package check

import (
	"context"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// Check loads the inputs' readable objects in every kernel (one boot per
// kernel) and tabulates the verdicts. opts.Values must have passed
// CheckValues for these objects. The loads are returned too, for their
// logs (WriteLogs), crashes (Crashes) and VM results. Check returns an
// error only when ctx ends; a kernel that fails is a column with its Error.
func Check(ctx context.Context, specs []catalog.KernelSpec, inputs []Input, opts Options) (Report, []KernelLoad, error) {
	loads := Load(ctx, specs, Objects(inputs), opts)
	if err := ctx.Err(); err != nil {
		return Report{}, loads, err
	}
	return BuildReport(inputs, loads), loads, nil
}
