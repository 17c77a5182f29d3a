// Package catalog parses the kernel catalog (kernels/catalog.json) into
// KernelSpec values. It does no I/O: fetching a kernel is internal/fetch's job.
//
// A catalog entry names a kernel (debian-6.1, 6.6-arm64, ...), the mainline
// version it is based on, its architecture, and the sources it can be obtained
// from, in order of preference. Unknown keys are rejected so that a typo in the
// catalog is an error, not a silently ignored source.
//
// User catalogs: ParseFile reads one in the same format, with one-line
// errors naming the file, the line of the offending entry and its name
// (*CatalogError), and file-source paths relative to the file's
// directory; Default().Merge(user) puts it over the embedded catalog (a
// user entry replaces the embedded entry of the same name in its place,
// new names follow). Marshal writes specs in the format ParseFile reads,
// for tools that record kernels (kernels built here) in such a file. The
// CLI reads the file (--catalog, BPFMATRIX_CATALOG); this package never
// does.
//
// Kernels named on the command line rather than in a catalog become
// KernelSpec values too: ParseOCIRef parses oci:REGISTRY/REPO:TAG (or
// @sha256:...) into an OCISource that carries its own registry, and a
// FileSource's Digest pins an image's content. A spec whose Version is
// zero leaves the version to the image (internal/fetch reads it there);
// catalog entries always state theirs.
package catalog
