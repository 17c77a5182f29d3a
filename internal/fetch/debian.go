package fetch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/ulikunitz/xz"
	"pault.ag/go/debian/control"
	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"
)

// debPackage is one stanza of a Packages index.
type debPackage struct {
	Name     string
	Version  version.Version
	Arch     string
	Filename string
	Size     int64
	SHA256   string
	Depends  dependency.Dependency
	// PreDepends matters for package sets (DebianPackages), not kernels.
	PreDepends dependency.Dependency
}

func (p debPackage) String() string { return p.Name + " " + p.Version.String() }

// mirrorFor returns the archive base URL serving suite.
func (f *Fetcher) mirrorFor(suite string) (string, string) {
	if strings.HasSuffix(suite, "-security") {
		return f.securityMirror, f.securityMirrorOrigin
	}
	return f.mirror, f.mirrorOrigin
}

// debianIndex fetches and verifies dists/<suite>/InRelease and the suite's
// main/binary-<arch>/Packages.xz, returning the decompressed index.
func (f *Fetcher) debianIndex(ctx context.Context, base, suite, arch string) ([]byte, error) {
	kr, err := f.loadKeyring()
	if err != nil {
		return nil, err
	}
	inrel, err := f.getBytes(ctx, base+"/dists/"+suite+"/InRelease", 64<<20)
	if errors.Is(err, errNotServed) {
		// Every Debian archive has dists/<suite>/InRelease for its suites:
		// a mirror without it is another distribution's (Ubuntu's has no
		// Debian suites) or a partial one.
		return nil, &configError{fmt.Sprintf("mirror %s has no Debian suite %s (%v), so it is not a Debian archive or not a complete one: set %s",
			base, suite, err, mirrorSetting(suite))}
	}
	if err != nil {
		return nil, fmt.Errorf("fetch InRelease: %w", err)
	}
	rel, err := verifyInRelease(inrel, kr, suite, f.now())
	if err != nil {
		return nil, f.explainForeignRelease(err, inrel, base, suite)
	}
	return f.fetchIndex(ctx, base, suite, rel, "main/binary-"+arch+"/Packages.xz")
}

// ubuntuKeyring is where Ubuntu's ubuntu-keyring package installs the
// archive signing keys (present on Ubuntu hosts such as GitHub's runners).
var ubuntuKeyring = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"

// explainForeignRelease looks at an InRelease that failed verification and
// says so when it is another distribution's: its (unverified) Origin is not
// Debian's. Verified by that distribution's keyring (Ubuntu's, when the
// host has it), it is a configuration error: the mirror is Ubuntu's
// archive. Otherwise it stays an integrity failure (a tampered InRelease
// can say anything), with the Origin it claims as a hint.
func (f *Fetcher) explainForeignRelease(err error, inrel []byte, base, suite string) error {
	origin, rsuite := releaseOrigin(inrel)
	if origin == "" || strings.HasPrefix(origin, "Debian") {
		return err
	}
	if block, _ := clearsign.Decode(inrel); block != nil {
		if kr, kerr := loadKeyring(ubuntuKeyring); kerr == nil && verifyAllSignatures(block, kr, f.now()) == nil {
			return &configError{fmt.Sprintf("mirror %s serves %s's archive, not Debian's (dists/%s/InRelease is signed by %s and says Origin: %s, Suite: %s): set %s",
				base, origin, suite, ubuntuKeyring, origin, rsuite, mirrorSetting(suite))}
		}
	}
	var ie *IntegrityError
	if errors.As(err, &ie) {
		ie.Err = fmt.Errorf("%w (unverified, it says Origin: %s, Suite: %s: if %s is not a Debian archive, set %s)", ie.Err, origin, rsuite, base, mirrorSetting(suite))
	}
	return err
}

// mirrorSetting names the setting that chooses suite's mirror.
func mirrorSetting(suite string) string {
	if strings.HasSuffix(suite, "-security") {
		return "BPFMATRIX_DEBIAN_SECURITY_MIRROR or --security-mirror to a Debian security mirror"
	}
	return "BPFMATRIX_DEBIAN_MIRROR or --mirror to a Debian mirror"
}

// releaseOrigin returns the Origin and Suite fields of a clearsigned
// InRelease, unverified ("" when it is not one).
func releaseOrigin(inrel []byte) (origin, suite string) {
	block, _ := clearsign.Decode(inrel)
	if block == nil {
		return "", ""
	}
	for _, line := range strings.Split(string(block.Plaintext), "\n") {
		if line == "" || line[0] == ' ' {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Origin":
			origin = strings.TrimSpace(v)
		case "Suite":
			suite = strings.TrimSpace(v)
		}
	}
	return origin, suite
}

// fetchIndex downloads one index file listed in rel and checks it against
// rel's SHA256 list, by-hash when the archive offers it so that a mirror
// update between the two requests cannot produce a spurious mismatch.
func (f *Fetcher) fetchIndex(ctx context.Context, base, suite string, rel *release, idxPath string) ([]byte, error) {
	ent, ok := rel.SHA256[idxPath]
	if !ok {
		return nil, fmt.Errorf("InRelease of %s lists no %s: %w", suite, idxPath, errNotServed)
	}
	url := base + "/dists/" + suite + "/" + idxPath
	if rel.AcquireByHash {
		url = base + "/dists/" + suite + "/" + idxPath[:strings.LastIndexByte(idxPath, '/')] + "/by-hash/SHA256/" + ent.SHA256
	}
	resp, err := f.get(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", idxPath, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if err := checkedCopy(&buf, resp.Body, suite+"/"+idxPath, ent.Size, ent.SHA256, nil); err != nil {
		return nil, err
	}
	return decompressIndex(idxPath, buf.Bytes())
}

func decompressIndex(name string, data []byte) ([]byte, error) {
	if !strings.HasSuffix(name, ".xz") {
		return data, nil
	}
	xr, err := xz.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	out, err := io.ReadAll(xr)
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	return out, nil
}

// selectPackages returns the packages of arch whose name matches re, newest
// version first (ties: the higher ABI name first).
func selectPackages(index []byte, match func(name string) bool, arch string) ([]debPackage, error) {
	var out []debPackage
	for len(index) > 0 {
		var stanza []byte
		if i := bytes.Index(index, []byte("\n\n")); i >= 0 {
			stanza, index = index[:i+1], index[i+2:]
		} else {
			stanza, index = index, nil
		}
		if !bytes.HasPrefix(stanza, []byte("Package: ")) {
			stanza = bytes.TrimLeft(stanza, "\n")
			if !bytes.HasPrefix(stanza, []byte("Package: ")) {
				continue
			}
		}
		nl := bytes.IndexByte(stanza, '\n')
		if nl < 0 {
			nl = len(stanza)
		}
		if !match(strings.TrimSpace(string(stanza[len("Package: "):nl]))) {
			continue
		}
		idx, err := control.ParseBinaryIndex(bufio.NewReader(bytes.NewReader(stanza)))
		if err != nil {
			return nil, fmt.Errorf("parse Packages stanza: %w", err)
		}
		for _, p := range idx {
			if p.Architecture.String() != arch && p.Architecture.String() != "all" {
				continue
			}
			if p.Filename == "" || p.SHA256 == "" || p.Size <= 0 {
				return nil, fmt.Errorf("parse Packages stanza %s: missing Filename, Size or SHA256", p.Package)
			}
			out = append(out, debPackage{
				Name: p.Package, Version: p.Version, Arch: p.Architecture.String(),
				Filename: p.Filename, Size: int64(p.Size), SHA256: p.SHA256, Depends: p.GetDepends(),
				PreDepends: p.GetPreDepends(),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if c := version.Compare(out[i].Version, out[j].Version); c != 0 {
			return c > 0
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

// companionBase returns the linux-base-* package a linux-binary-* package
// depends on at the same version: since 7.x Debian splits the image
// (linux-binary-<abi>, /usr/lib/modules/<abi>/vmlinuz) from its config and
// System.map (linux-base-<abi>, same directory).
func companionBase(p debPackage) (string, bool) {
	for _, rel := range p.Depends.Relations {
		for _, alt := range rel.Possibilities {
			if strings.HasPrefix(alt.Name, "linux-base-") && alt.Version != nil && alt.Version.Operator == "=" {
				return alt.Name, true
			}
		}
	}
	return "", false
}

// fetchDebian resolves src and extracts the kernel into the cache's tmp dir.
// errNotServed and network errors mean "not obtainable from this source";
// *IntegrityError means refuse.
func (f *Fetcher) fetchDebian(ctx context.Context, spec catalog.KernelSpec, src *catalog.DebianSource) (*kernelFiles, string, string, error) {
	base, _ := f.mirrorFor(src.Suite)
	if base == "" {
		return nil, "", "", f.errNoMirror(src.Suite)
	}
	re, err := regexp.Compile(src.Package)
	if err != nil {
		return nil, "", "", err
	}
	arch := spec.Arch.DebianArch()
	index, err := f.debianIndex(ctx, base, src.Suite, arch)
	if err != nil {
		return nil, "", "", err
	}
	cands, err := selectPackages(index, re.MatchString, arch)
	if err != nil {
		return nil, "", "", err
	}
	if len(cands) == 0 {
		return nil, "", "", fmt.Errorf("no package matching %s in %s main/binary-%s: %w", src.Package, src.Suite, arch, errNotServed)
	}
	kf, p, skipped, err := firstServed(cands, func(p debPackage) (*kernelFiles, error) {
		return f.fetchDeb(ctx, spec.Name, base, p, "", true)
	})
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", src.Suite, err)
	}
	desc := fmt.Sprintf("debian %s %s %s", src.Suite, p.Name, p.Version)
	if kf.Config == nil || kf.SystemMap == nil {
		extra, name, err := f.fetchCompanion(ctx, spec.Name, base, index, arch, p, kf.Release)
		if err != nil {
			kf.remove()
			return nil, "", "", err
		}
		if extra != nil {
			if kf.Config == nil {
				kf.Config, extra.Config = extra.Config, nil
			}
			if kf.SystemMap == nil {
				kf.SystemMap, extra.SystemMap = extra.SystemMap, nil
			}
			extra.remove()
			desc += " + " + name
		}
	}
	if len(skipped) > 0 {
		desc += fmt.Sprintf(" (fell back: %s not served by the mirror)", strings.Join(skipped, ", "))
	}
	return kf, desc, p.Version.String(), nil
}

// firstServed calls try on each candidate in order until one is served: a
// candidate answering 404 is skipped (and named in the returned list), any
// other error stops the search.
func firstServed[T any](cands []debPackage, try func(debPackage) (T, error)) (T, debPackage, []string, error) {
	var skipped []string
	for _, p := range cands {
		v, err := try(p)
		if errors.Is(err, errNotServed) {
			skipped = append(skipped, p.String())
			continue
		}
		if err != nil {
			var zero T
			return zero, p, skipped, fmt.Errorf("%s: %w", p, err)
		}
		return v, p, skipped, nil
	}
	var zero T
	return zero, debPackage{}, skipped, fmt.Errorf("every candidate answered 404 (%s): %w", strings.Join(skipped, ", "), errNotServed)
}

// fetchCompanion fetches the config and System.map of a linux-binary-*
// package from its linux-base-* companion. nil (no error) when p has none.
func (f *Fetcher) fetchCompanion(ctx context.Context, kernel, base string, index []byte, arch string, p debPackage, release string) (*kernelFiles, string, error) {
	name, ok := companionBase(p)
	if !ok {
		return nil, "", nil
	}
	bases, err := selectPackages(index, func(n string) bool { return n == name }, arch)
	if err != nil {
		return nil, "", err
	}
	for _, b := range bases {
		if version.Compare(b.Version, p.Version) != 0 {
			continue
		}
		kf, err := f.fetchDeb(ctx, kernel, base, b, release, false)
		if errors.Is(err, errNotServed) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", b, err)
		}
		return kf, b.Name, nil
	}
	return nil, "", nil
}

// fetchDeb downloads p into a temp file, checks size and SHA256 against the
// index, and extracts the kernel files.
func (f *Fetcher) fetchDeb(ctx context.Context, kernel, base string, p debPackage, wantRelease string, needImage bool) (*kernelFiles, error) {
	tmp, err := f.downloadDeb(ctx, kernel, base, p, f.tmpDir())
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	return extractDeb(tmp, f.tmpDir(), wantRelease, needImage)
}

// downloadDeb downloads p into a temp file in dir, checked against the
// index's size and SHA256 as it arrives (progress reported under label),
// and returns it rewound. The caller removes and closes it.
func (f *Fetcher) downloadDeb(ctx context.Context, label, base string, p debPackage, dir string) (*os.File, error) {
	resp, err := f.get(ctx, base+"/"+p.Filename)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(dir, "deb-*")
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	var progress func(done, total int64)
	if f.opts.Progress != nil {
		progress = func(done, total int64) { f.opts.Progress(label, done, total) }
	}
	err = checkedCopy(tmp, resp.Body, p.Filename, p.Size, p.SHA256, progress)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

// extractDeb unpacks the kernel files of a verified .deb.
func extractDeb(r io.Reader, tmpDir, wantRelease string, needImage bool) (*kernelFiles, error) {
	data, closeData, err := debData(r)
	if err != nil {
		return nil, fmt.Errorf("unpack deb: %w", err)
	}
	defer closeData()
	kf, err := extractKernel(data, tmpDir, wantRelease, needImage)
	if err != nil {
		return nil, fmt.Errorf("unpack deb: %w", err)
	}
	return kf, nil
}
