// Package catalog parses the kernel catalog (kernels/catalog.json) into
// KernelSpec values. It does no I/O: fetching a kernel is internal/fetch's job.
//
// A catalog entry names a kernel (debian-6.1, 6.6-arm64, ...), the mainline
// version it is based on, its architecture, and the sources it can be obtained
// from, in order of preference. Unknown keys are rejected so that a typo in the
// catalog is an error, not a silently ignored source.
package catalog
