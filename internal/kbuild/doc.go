// Package kbuild builds bootable kernels from source for `bpfmatrix kernels
// build`: the only route to kernels no registry publishes any more (4.x) and
// the way to test config variants of one version (no BTF, no JIT, lockdown).
//
// A source is a Debian linux-source-X.Y package, fetched through
// internal/fetch's verified archive path (signed InRelease, Packages by its
// listed SHA256, the .deb by its listed size and SHA256) from the suites the
// embedded catalog names for X.Y, or a local kernel.org tarball
// (linux-X.Y.tar.{xz,gz}). The kernel is configured the way its own tree
// expects: `make tinyconfig`, then scripts/kconfig/merge_config.sh -m with the
// named kconfig groups (kernels/configs/<group>.config and, where an
// architecture needs more, <group>.<arch>.config; "base" always comes first),
// then `make olddefconfig`. The resulting .config is checked against every
// line the groups asked for: an option olddefconfig dropped (an unmet
// dependency: BPF_JIT without MODULES, TMPFS without SHMEM) is an
// *OptionDroppedError naming it and its group, before anything compiles.
//
// Build compiles bzImage (x86_64) or Image (arm64, with the
// aarch64-linux-gnu- cross compiler; ErrNoCrossCompiler when it is not
// installed) under nice with -j the number of CPUs. Progress lines go to
// Options.Progress; the whole build log goes to a file that is kept, and
// named in the error, when the build fails.
//
// Cache: Options.CacheDir/built/<key>/ holds the image, its .config and
// build.json, where key digests the source's SHA256, the config groups'
// bytes and the compiler's version line: the same inputs never build twice,
// and a changed fragment or compiler builds again. An entry is built in a
// temporary directory and renamed into place under a per-key flock, so
// concurrent builds of one kernel build it once and a killed build leaves
// nothing. Each built kernel is recorded as an entry of
// Options.CacheDir/built/catalog.json (the catalog's own schema, a file
// source naming the cached image and config; rewritten atomically under a
// flock), which the CLI merges over the embedded catalog so that the built
// kernel is usable by name in every command.
package kbuild
