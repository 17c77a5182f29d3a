// Package fetch obtains kernel images for catalog entries and keeps them in a
// content-addressed cache. It is the only bpfmatrix package that touches the
// network.
//
// A kernel comes from the first of its catalog sources that works:
//
//   - debian: the suite's InRelease is fetched from the mirror named by the
//     machine's apt sources (or Options), its clearsigned signature is checked
//     against the Debian archive keyring, the Packages index is checked
//     against the SHA256 the InRelease lists, and the .deb against the size
//     and SHA256 the index lists. The .deb is unpacked in-process (ar plus
//     data.tar.{xz,zst,gz}; no dpkg, no root). Candidates are tried newest
//     first; a candidate the mirror does not serve (HTTP 404, seen for the
//     newest bullseye-security 5.10 images) falls back to the next one and
//     Kernel.Source records which package was used and which were skipped.
//     Since 7.x Debian splits a kernel into linux-binary-<abi> (the image, in
//     /usr/lib/modules/<abi>/vmlinuz) and linux-base-<abi> (config, and a
//     System.map stub): the config comes from the linux-base package the
//     linux-binary one depends on at the same version. Debian's System.map
//     files are stubs pointing at the -dbg package, so Kernel.SystemMap is
//     "" for Debian kernels. Valid-Until is not enforced (mirrors serve
//     expired sid indexes); the suite name inside the signed file is.
//     Mirrors come from Options, else from the first apt entry whose suite
//     is Debian's and whose host is not Ubuntu's: on a GitHub-hosted runner
//     (archive.ubuntu.com, ports.ubuntu.com) there is none, and a debian
//     source fails with ErrNotConfigured, one line naming
//     BPFMATRIX_DEBIAN_MIRROR. So does a configured mirror that answers 404
//     for a suite's InRelease, or serves an InRelease that Ubuntu's keyring
//     verifies (without that keyring it remains an *IntegrityError, with
//     the Origin it claims as a hint).
//   - oci: an image pulled with go-containerregistry (no daemon) from
//     Options.OCIRegistry (default DefaultOCIRegistry, ghcr.io);
//     cilium/ci-kernels (/boot/vmlinuz) and little-vm-helper
//     (/data/kernels/<v>/boot/vmlinuz-<release>) layouts. A registry that
//     cannot be connected to (unknown host, refused, 10 s dial timeout) is
//     one "registry ... not reachable" line, without retries.
//   - file: a local image and optional config, digested into the cache. A
//     FileSource.Digest pins the image: a file that no longer hashes to
//     it is an *IntegrityError (the CLI pins every image it is given, so
//     a rebuilt image at the same path is a new cache entry).
//
// What a source does not say is read from the image (InspectImage): the
// release from its version string (the x86 boot header's kernel_version,
// else the "Linux version" banner in the decompressed kernel: bzImage and
// EFI zboot payloads and gzip Images are decompressed with maintained
// readers for gzip, xz, lzma, zstd, lz4 and bzip2), the version when the
// spec leaves it zero, and the config from the kernel's IKCONFIG block
// when the source has no config file (Kernel.Source then says so). The
// file name is never read for any of these.
//
// Errors: Fetch wraps ErrNotObtainable, naming every source tried and why,
// when no source could be reached or resolved here (package missing,
// network down). When every source failed for want of configuration it
// also wraps ErrNotConfigured, and the message is one line naming the
// setting (Configured answers the same offline, before anything boots). An integrity failure (bad signature, hash
// or size mismatch, truncated download, tar entry escaping its directory) is
// an *IntegrityError: it stops the fetch at once instead of silently falling
// back, and nothing enters the cache. An image that is not a kernel QEMU
// could boot for the entry's architecture (empty, a program, a truncated
// header, another architecture's image; checkImage) wraps ErrNotKernelImage:
// bad input, refused before anything is cached or booted. A cached file
// that no longer matches its digest is a *CorruptBlobError (named, moved to
// quarantine, with the command that fetches it again); Fetch and
// DebianPackages return it only when no source could fetch it again, and
// otherwise name it in Kernel.Repaired / Packages.Repaired.
//
// Obtainable answers "could this kernel be fetched here?" offline (mirror or
// registry configured, file present); Check answers it over the network
// without downloading the kernel.
//
// Guest userland: DebianPackages fetches named binary packages and their
// Depends/Pre-Depends closure from one or more suites, verified exactly as
// kernels are (signed InRelease, Packages.xz by its listed SHA256, each .deb
// by its listed size and SHA256), and unpacks them into one tree as dpkg
// would under / (no maintainer scripts; symlinks kept and resolved only
// inside the tree; an entry escaping it is an *IntegrityError).
// DebianPackage does the same for one package without its dependencies
// (linux-source-X.Y for `kernels build`: its Depends are the host's
// business), as a cache entry of its own. Tools builds
// on it: Debian's static busybox and bpftool, with bpftool's interpreter and
// libraries at their Debian paths, for guests whose architecture differs
// from the host's. Their suites default to the release the host's apt
// sources name (Options.ToolSuites). Options.CacheDir/packages holds
// trees/<digest of the package list> and records/<arch>-<request hash>.json,
// filled under a per-request flock from a temporary directory renamed into
// place; a cached set is served without network access. Each tree has
// manifests/<tree>.json (every file's SHA256 and size, every symlink's
// target, written when it was unpacked from the verified .debs) and is
// checked against it as blobs are (below); a tree cached before manifests
// existed is fetched again rather than trusted.
//
// Cache: Options.CacheDir/kernels holds blobs/sha256/<hex> (image, config,
// System.map) and records/<name>-<spec hash>.json (which package, version,
// source and digests). Both are written as temp file + rename under a
// per-kernel flock, so a killed download or two concurrent runs never leave a
// broken entry. Fetch and Cached consult the cache first and never touch the
// network on a hit.
//
// Modules: ModuleIndex says which kfuncs and struct_ops types of a Debian
// kernel live in loadable modules (the guest loads none, so a program using
// one is refused for want of the module, not by the verifier). It is built
// on first use from the kernel's own .deb, downloaded again and verified as
// at fetch, read module by module (.ko, .ko.xz) from their ELF symbols
// (BTF ID sets) and BTF strings, and kept as a blob the record names
// ("modules"), verified like the image. Fetch itself does not build it: it
// would decompress the whole modules tree (30-55 s here) for every kernel.
//
// Verification: a blob's name is its digest, but a name is not content. Every
// blob is hashed where it lands when it enters the cache (a file already
// there under the same name is hashed too and replaced if wrong, never kept
// for its name and size), and again on a hit whenever its file may have
// changed since: stamps/<hex>.json records the device, inode, size, mtime
// and ctime of the file when it last hashed right (and, for an image, the
// format and architecture checkImage found), so a hit costs one stat and one
// small read (microseconds) and any write, truncation or replacement forces
// a rehash (milliseconds; BenchmarkVerifyBlob). Changes below the file
// system that leave all of these alone (a disk returning bad data) are not
// seen. Cached reports a corrupt blob as a miss and leaves it; Fetch moves it
// to quarantine/<hex>.<time> (kept for inspection, safe to delete) and
// fetches it again. Moving or replacing a blob happens under a per-blob
// flock, after checking that the file is still the one found corrupt, so a
// concurrent repair is never undone.
package fetch
