// Package matrix turns results into the published artifacts: matrix.json
// (the versioned schema, read back strictly), matrix.md, index.html,
// junit.xml, a JSON Lines stream, and the diff between two matrices.
//
// It is pure: results in, bytes out. It boots nothing and touches no network;
// the only I/O is Write and Read, and every write is atomic (temp file in the
// same directory, then rename), so a reader never sees half a report.
//
// Every status is kept apart everywhere: an inconclusive feature is shown
// as "?", counted as skipped in JUnit and is never a loss in a diff; a
// present one (declared by the kernel's BTF, judged by no probe) is shown as
// "○" with what was seen, skipped in JUnit, never counted as supported, and
// neither a gain nor a loss in a diff. An unsupported
// feature is shown with its reason (version, commit, config option,
// privilege, architecture). A finding (an outcome that contradicts the
// version and config expectation, or a verifier outcome that contradicts its
// case's expectation) is never hidden: it is a JUnit failure and is listed in
// the Markdown and HTML reports.
//
// A kernel that failed to boot keeps its column everywhere, with its error.
//
// Merge combines the matrices of several runs (CI shards) into one: inputs
// are validated, kernels are ordered by a caller-given rank (the catalog's
// order) then name, so the merge of shards is the matrix of one run over all
// of them, and two results under one kernel name from different images
// (digests) are ErrConflict, never a silent pick.
package matrix
