package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/gofrs/flock"
	"pault.ag/go/debian/version"
)

// maxPackageSet bounds a dependency closure: the sets this package serves
// (busybox-static, bpftool) need seven packages; a runaway closure means a
// wrong name, not a bigger download.
const maxPackageSet = 40

// packageRecordSchema versions the package-set record format.
const packageRecordSchema = 1

// Package is one Debian package of a Packages set.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Suite   string `json:"suite"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// Packages is a set of Debian packages unpacked into one directory, as dpkg
// would lay them out under / (no maintainer scripts run).
type Packages struct {
	// Root is the absolute path of the unpacked tree in the cache. Symlinks
	// in it are the packages' own; resolve guest paths with Lookup.
	Root string
	// Arch is the Debian architecture (arm64, amd64).
	Arch string
	// Packages are the packages in the tree, sorted by name: those asked for
	// and everything they Depend or Pre-Depend on.
	Packages []Package
	// Repaired names the cached tree this call found corrupt, moved to
	// quarantine and fetched again; empty when the cache was intact.
	Repaired []string
}

// Source names the packages, e.g. "debian arm64: bpftool 7.1.0+6.1.192-2
// (bookworm-security), busybox-static 1:1.35.0-4+deb12u1+b1 (bookworm), ...".
func (p *Packages) Source() string {
	var parts []string
	for _, pk := range p.Packages {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", pk.Name, pk.Version, pk.Suite))
	}
	return "debian " + p.Arch + ": " + strings.Join(parts, ", ")
}

// Lookup returns the host path of the file a guest would find at the
// absolute path guestPath if the tree were its root: symlinks are followed
// inside the tree (an absolute target is taken relative to it, ".." stops at
// it), so nothing outside Root is ever named. A path under /lib, /bin or
// /sbin is also looked up under /usr, where merged-/usr releases (trixie
// on) ship it and base-files' symlinks, which a package set lacks, would
// point.
func (p *Packages) Lookup(guestPath string) (string, error) {
	host, err := resolveInTree(p.Root, guestPath)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return host, err
	}
	for _, top := range []string{"/lib/", "/bin/", "/sbin/"} {
		if strings.HasPrefix(guestPath, top) {
			if h, err2 := resolveInTree(p.Root, "/usr"+guestPath); err2 == nil {
				return h, nil
			}
		}
	}
	return "", err
}

// packageRecord is the JSON file naming a cached package set's tree.
type packageRecord struct {
	Schema    int       `json:"schema"`
	Arch      string    `json:"arch"`
	Suites    []string  `json:"suites"`
	Names     []string  `json:"names"`
	Packages  []Package `json:"packages"`
	Tree      string    `json:"tree"` // directory name under trees/: the set's digest
	FetchedAt time.Time `json:"fetched_at"`
}

func (f *Fetcher) pkgRoot() string { return filepath.Join(f.opts.CacheDir, "packages") }

// packageSetKey names a request's record and lock: the same suites, arch and
// names (in any order) are the same entry. A request without dependencies
// (DebianPackage) is another entry; with them the key is what it always was.
func packageSetKey(suites []string, arch string, names []string, deps bool) string {
	n := append([]string(nil), names...)
	sort.Strings(n)
	b, _ := json.Marshal(struct {
		Suites []string
		Arch   string
		Names  []string
	}{suites, arch, n})
	if !deps {
		b = append(b, " nodeps"...)
	}
	h := sha256.Sum256(b)
	return arch + "-" + hex.EncodeToString(h[:8])
}

// treeDigest names a tree by the exact packages unpacked into it.
func treeDigest(pkgs []Package) string {
	h := sha256.New()
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CachedDebianPackages returns the set DebianPackages would return if the
// cache holds it and its tree matches the manifest written when it was
// unpacked (verifyTree: one lstat per file when nothing changed since the
// last hash). A tree that does not match is a miss, left for DebianPackages
// to quarantine and fetch again. It never touches the network.
func (f *Fetcher) CachedDebianPackages(suites []string, arch string, names []string) (*Packages, bool) {
	p, _, err := f.cachedPackages(suites, arch, names, true)
	return p, err == nil
}

// cachedPackages is CachedDebianPackages with the reason for a miss
// (errNoRecord, errNoManifest, a *CorruptBlobError) and the tree the
// record names.
func (f *Fetcher) cachedPackages(suites []string, arch string, names []string, deps bool) (*Packages, string, error) {
	data, err := os.ReadFile(filepath.Join(f.pkgRoot(), "records", packageSetKey(suites, arch, names, deps)+".json"))
	if err != nil {
		return nil, "", errNoRecord
	}
	r, err := parsePackageRecord(data)
	if err != nil {
		return nil, "", errNoRecord
	}
	root := filepath.Join(f.pkgRoot(), "trees", r.Tree)
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, r.Tree, errNoRecord
	}
	if err := f.verifyTree(root, r.Tree); err != nil {
		return nil, r.Tree, err
	}
	return &Packages{Root: root, Arch: r.Arch, Packages: r.Packages}, r.Tree, nil
}

// parsePackageRecord reads a package-set record; the tree it names is the
// digest of its package list, so a record cannot point elsewhere.
func parsePackageRecord(data []byte) (*packageRecord, error) {
	var r packageRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parse package record: %w", err)
	}
	if r.Schema != packageRecordSchema {
		return nil, fmt.Errorf("parse package record: schema %d, want %d", r.Schema, packageRecordSchema)
	}
	if r.Tree != treeDigest(r.Packages) {
		return nil, fmt.Errorf("parse package record: tree %q is not the digest of its packages", r.Tree)
	}
	return &r, nil
}

// DebianPackages returns the named binary packages of arch, with everything
// they Depend or Pre-Depend on (the first alternative of each relation,
// versions not compared: the newest wins), unpacked into one cached tree.
// Each suite is verified as for kernels: InRelease against the archive
// keyring, main/binary-<arch>/Packages.xz against the InRelease, each .deb
// against the size and SHA256 its index lists; a package is taken from the
// suite with its newest version, falling back to older ones the mirror
// answers 404 for. An *IntegrityError stops the fetch and nothing enters
// the cache. The tree is filled under a flock in a temporary directory and
// renamed into place; a cached set is returned without network access once
// it matches its manifest. A cached tree that does not is moved to
// quarantine and fetched again (Packages.Repaired names it); when it cannot
// be, the error wraps its *CorruptBlobError.
func (f *Fetcher) DebianPackages(ctx context.Context, suites []string, arch string, names []string) (*Packages, error) {
	return f.debianPackages(ctx, suites, arch, names, true)
}

// DebianPackage is DebianPackages for one package without its
// dependencies, verified and cached the same way: for a package wanted for
// its files rather than to run (linux-source-*, whose Depends on binutils
// and xz-utils are the host's business).
func (f *Fetcher) DebianPackage(ctx context.Context, suites []string, arch, name string) (*Packages, error) {
	return f.debianPackages(ctx, suites, arch, []string{name}, false)
}

func (f *Fetcher) debianPackages(ctx context.Context, suites []string, arch string, names []string, deps bool) (*Packages, error) {
	what := fmt.Sprintf("fetch %s packages %s", arch, strings.Join(names, ", "))
	if len(suites) == 0 {
		return nil, fmt.Errorf("%s: no Debian suite (apt sources name none)", what)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no package names", what)
	}
	if p, _, err := f.cachedPackages(suites, arch, names, deps); err == nil {
		return p, nil
	}
	for _, d := range []string{"records", "trees", "locks", "tmp", "manifests", "stamps"} {
		if err := os.MkdirAll(filepath.Join(f.pkgRoot(), d), 0o755); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	f.removeStalePackageTemps()
	key := packageSetKey(suites, arch, names, deps)
	l := flock.New(filepath.Join(f.pkgRoot(), "locks", key+".lock"))
	ok, err := l.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil || !ok {
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%s: lock cache entry: %w", what, err)
	}
	defer l.Unlock()
	p, tree, err := f.cachedPackages(suites, arch, names, deps)
	if err == nil {
		return p, nil
	}
	var corrupt *CorruptBlobError
	if errors.As(err, &corrupt) {
		if corrupt, err = f.quarantineTree(filepath.Join(f.pkgRoot(), "trees", tree), tree); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if corrupt == nil {
			if p, _, err := f.cachedPackages(suites, arch, names, deps); err == nil {
				return p, nil
			}
		}
	}
	p, replaced, err := f.fetchPackageSet(ctx, suites, arch, names, key, deps)
	if err != nil {
		if corrupt != nil {
			return nil, fmt.Errorf("%s: %w; fetching it again: %w", what, corrupt, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for _, c := range []*CorruptBlobError{corrupt, replaced} {
		if c != nil {
			p.Repaired = append(p.Repaired, c.Error())
		}
	}
	return p, nil
}

// suiteIndex is one suite's verified Packages index.
type suiteIndex struct {
	suite, base string
	index       []byte
}

// candidate is a package version offered by one suite.
type candidate struct {
	debPackage
	suite, base string
}

func (f *Fetcher) fetchPackageSet(ctx context.Context, suites []string, arch string, names []string, key string, deps bool) (*Packages, *CorruptBlobError, error) {
	var indexes []suiteIndex
	for _, s := range suites {
		base, _ := f.mirrorFor(s)
		if base == "" {
			return nil, nil, f.errNoMirror(s)
		}
		idx, err := f.debianIndex(ctx, base, s, arch)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s, err)
		}
		indexes = append(indexes, suiteIndex{suite: s, base: base, index: idx})
	}
	cands, err := resolveClosure(indexes, arch, names, deps)
	if err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Join(f.pkgRoot(), "tmp"), "tree-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, nil, err
	}
	links := map[string]bool{}
	var pkgs []Package
	for _, name := range sortedKeys(cands) {
		_, c, _, err := firstServed(debPackages(cands[name]), func(p debPackage) (struct{}, error) {
			return struct{}{}, f.unpackDeb(ctx, suiteOf(cands[name], p).base, p, tmp, links)
		})
		if err != nil {
			return nil, nil, err
		}
		pkgs = append(pkgs, Package{Name: c.Name, Version: c.Version.String(), Suite: suiteOf(cands[name], c).suite, SHA256: c.SHA256, Size: c.Size})
	}
	digest := treeDigest(pkgs)
	dst := filepath.Join(f.pkgRoot(), "trees", digest)
	// Another request resolving to the same packages (other names, same
	// closure) may have stored the same tree: storeTree keeps it if it
	// matches what was just unpacked.
	replaced, err := f.storeTree(tmp, digest)
	if err != nil {
		return nil, nil, err
	}
	rec := packageRecord{Schema: packageRecordSchema, Arch: arch, Suites: suites, Names: names, Packages: pkgs, Tree: digest, FetchedAt: f.now().UTC()}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.Write(filepath.Join(f.pkgRoot(), "records", key+".json"), append(data, '\n'), true); err != nil {
		return nil, nil, fmt.Errorf("store record: %w", err)
	}
	return &Packages{Root: dst, Arch: arch, Packages: pkgs}, replaced, nil
}

// resolveClosure returns, for each package of the closure of names, its
// candidates across the suites, newest first.
func resolveClosure(indexes []suiteIndex, arch string, names []string, deps bool) (map[string][]candidate, error) {
	out := map[string][]candidate{}
	neededBy := map[string]string{}
	queue := append([]string(nil), names...)
	for len(queue) > 0 {
		batch := map[string]bool{}
		for _, n := range queue {
			if _, done := out[n]; !done {
				batch[n] = true
			}
		}
		queue = nil
		if len(batch) == 0 {
			break
		}
		if len(out)+len(batch) > maxPackageSet {
			return nil, fmt.Errorf("resolve dependencies: more than %d packages", maxPackageSet)
		}
		found := map[string][]candidate{}
		for _, si := range indexes {
			pkgs, err := selectPackages(si.index, func(n string) bool { return batch[n] }, arch)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", si.suite, err)
			}
			for _, p := range pkgs {
				found[p.Name] = append(found[p.Name], candidate{debPackage: p, suite: si.suite, base: si.base})
			}
		}
		for _, n := range sortedKeys(batch) {
			cs := found[n]
			if len(cs) == 0 {
				why := ""
				if by := neededBy[n]; by != "" {
					why = " (needed by " + by + "; virtual packages are not resolved)"
				}
				return nil, fmt.Errorf("no package %s in %s main/binary-%s%s: %w", n, suiteNames(indexes), arch, why, errNotServed)
			}
			sort.SliceStable(cs, func(i, j int) bool { return version.Compare(cs[i].Version, cs[j].Version) > 0 })
			out[n] = cs
			if !deps {
				continue
			}
			for _, dep := range [][]string{relationNames(cs[0].PreDepends.Relations), relationNames(cs[0].Depends.Relations)} {
				for _, d := range dep {
					if _, seen := neededBy[d]; !seen {
						neededBy[d] = n
					}
					queue = append(queue, d)
				}
			}
		}
	}
	return out, nil
}

func suiteNames(indexes []suiteIndex) string {
	var s []string
	for _, si := range indexes {
		s = append(s, si.suite)
	}
	return strings.Join(s, "+")
}

func debPackages(cs []candidate) []debPackage {
	out := make([]debPackage, len(cs))
	for i, c := range cs {
		out[i] = c.debPackage
	}
	return out
}

// suiteOf finds the candidate p came from (the same file of the same suite).
func suiteOf(cs []candidate, p debPackage) candidate {
	for _, c := range cs {
		if c.Filename == p.Filename && c.SHA256 == p.SHA256 {
			return c
		}
	}
	return cs[0]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unpackDeb downloads p into a temp file, checks size and SHA256 against the
// index and unpacks its data.tar into root.
func (f *Fetcher) unpackDeb(ctx context.Context, base string, p debPackage, root string, links map[string]bool) error {
	tmp, err := f.downloadDeb(ctx, p.Name, base, p, filepath.Join(f.pkgRoot(), "tmp"))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	data, closeData, err := debData(tmp)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", p, err)
	}
	defer closeData()
	if err := extractTree(data, root, links); err != nil {
		return fmt.Errorf("unpack %s: %w", p, err)
	}
	return nil
}

// removeStalePackageTemps deletes temp trees and downloads a killed run left
// behind; only old ones, as a concurrent run may be filling fresh ones.
func (f *Fetcher) removeStalePackageTemps() {
	dir := filepath.Join(f.pkgRoot(), "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
