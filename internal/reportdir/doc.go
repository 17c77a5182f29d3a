// Package reportdir owns the directory that `bpfmatrix run` writes a report
// into: which files in it bpfmatrix wrote and what they held (the stamp),
// whether the report there is up to date, and replacing it with another, so
// that neither a killed run nor two runs at once can leave a stamp vouching
// for content the directory does not hold.
//
// The contract:
//
//   - Open creates the directory if needed, proves it is a writable directory
//     and takes its lock (DIR/.bpfmatrix.lock, flock), held until Close: one
//     writer at a time, a second one waits. A path that is a file, lies under
//     a file or cannot be written is ErrUnusable, found before any work.
//   - A new report is built in a staging directory inside DIR (Stage) and
//     put in place by Commit: it first writes an incomplete stamp listing
//     the files of the old report and of the new one, renames each staged
//     file into place, removes the files the previous stamp lists that the new
//     report does not have, and writes the complete stamp last. A run killed
//     at any point leaves either the old report with its complete stamp, or
//     a stamp marked incomplete (never up to date, and listing every file
//     the next Commit may have to remove); its staging directory is removed
//     by the next Open.
//   - UpToDate is true only for a complete stamp written for the same build
//     and the same kernels with the same result keys, whose every file still
//     holds the digest the stamp recorded. File existence proves nothing.
//   - Only files a stamp lists are ever removed, and only while they still
//     hold what bpfmatrix wrote; every operation goes through an os.Root, so
//     neither a crafted stamp ("../x") nor a symbolic link inside DIR reaches
//     outside it. Files bpfmatrix did not write are left alone.
//   - A run that must not replace the report (every kernel failed) is
//     committed to DIR/failed-run instead, a report directory of its own; the
//     next run that writes a report to DIR, or finds it up to date, removes it.
package reportdir
