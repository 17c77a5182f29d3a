package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// DefaultKeyring is where Debian's debian-archive-keyring package installs
// the archive signing keys (a binary OpenPGP keyring).
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// DefaultAptDir is where apt sources are read from.
const DefaultAptDir = "/etc/apt"

// ErrNotObtainable is wrapped by Fetch when no source of a kernel could be
// reached or resolved here; the message names every source tried and why.
var ErrNotObtainable = errors.New("not obtainable here")

// ErrNotConfigured is wrapped (together with ErrNotObtainable) when no
// source of a kernel can work with this configuration: no Debian mirror
// (the apt sources name none, or name Ubuntu's archive, as on a
// GitHub-hosted runner), or a configured mirror that is not a Debian
// archive. The error is one line naming the setting to change; callers
// treat it as bad input.
var ErrNotConfigured = errors.New("not configured")

// DefaultOCIRegistry serves the catalog's OCI kernels when
// Options.OCIRegistry is empty: cilium/ci-kernels publishes its images
// there (ghcr.io/cilium/ci-kernels:<version>).
const DefaultOCIRegistry = "ghcr.io"

// configError is a source that cannot work with this configuration.
type configError struct{ msg string }

func (e *configError) Error() string        { return e.msg }
func (e *configError) Is(target error) bool { return target == ErrNotConfigured }

// notConfiguredError is Fetch's error when every source failed with a
// configError: their distinct messages on one line.
type notConfiguredError struct{ msgs []string }

func (e *notConfiguredError) Error() string { return strings.Join(e.msgs, "; ") }
func (e *notConfiguredError) Is(target error) bool {
	return target == ErrNotConfigured || target == ErrNotObtainable
}

// joinConfigErrors returns a *notConfiguredError when every error in errs
// is a configuration error, nil otherwise. A missing security mirror is
// left out when the main mirror is missing too: that fix comes first.
func joinConfigErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	noMain := false
	for _, err := range errs {
		if !errors.Is(err, ErrNotConfigured) {
			return nil
		}
		noMain = noMain || errors.Is(err, errNoMainMirror)
	}
	var msgs []string
	for _, err := range errs {
		if noMain && errors.Is(err, errNoSecurityMirror) {
			continue
		}
		var msg string
		var he *hintedConfigError
		var ce *configError
		switch {
		case errors.As(err, &he):
			msg = he.Error()
		case errors.As(err, &ce):
			msg = ce.Error()
		}
		if !contains(msgs, msg) {
			msgs = append(msgs, msg)
		}
	}
	return &notConfiguredError{msgs: msgs}
}

// IntegrityError is a download that failed verification: a bad signature, a
// hash or size mismatch, a truncated download, or an archive entry escaping
// its directory. Fetch stops at the first one instead of trying the next
// source, and nothing enters the cache.
type IntegrityError struct {
	What string
	Err  error
}

func (e *IntegrityError) Error() string { return "verify " + e.What + ": " + e.Err.Error() }
func (e *IntegrityError) Unwrap() error { return e.Err }

// Options configures a Fetcher. Empty mirror fields are filled from the apt
// sources under AptDir.
type Options struct {
	CacheDir             string // required
	DebianMirror         string // e.g. the URI of the machine's main Debian apt source
	DebianSecurityMirror string // the URI of the apt source whose suites end in -security
	OCIRegistry          string // host[:port] serving the catalog's OCI repositories (default DefaultOCIRegistry)
	// ToolSuites are the Debian suites Tools and DebianPackages' callers
	// take guest userland from, newest version across them winning (default:
	// the apt sources' security and archive suites, e.g. bookworm-security
	// and bookworm: the release the host's own busybox and bpftool come from).
	ToolSuites []string
	Keyring    string // default DefaultKeyring
	AptDir     string // default DefaultAptDir
	HTTPClient *http.Client
	// Progress, if set, is called as download bytes arrive; total is -1
	// when unknown. It may be called from several goroutines.
	Progress func(kernel string, done, total int64)
	// Now overrides the clock used for signature and key expiry (tests).
	Now func() time.Time
}

// Fetcher obtains kernels. It is safe for concurrent use.
type Fetcher struct {
	opts                 Options
	client               *http.Client
	mirror, mirrorOrigin string
	securityMirror       string
	securityMirrorOrigin string
	ociRegistry          string
	toolSuites           []string
	// aptForeign is the apt entry skipped as not Debian, for the hint.
	aptForeign string

	keyringOnce sync.Once
	keyring     openpgp.EntityList
	keyringErr  error
}

// Kernel is a kernel in the cache.
type Kernel struct {
	Name    string
	Arch    catalog.Arch
	Version catalog.Version
	// Release is the kernel's `uname -r` (e.g. 6.1.0-50-cloud-amd64), from
	// the package paths or the image header; "" if unknown.
	Release string
	// Image is the absolute path of the kernel image in the cache.
	Image string
	// Config and SystemMap are absolute paths, "" when the source had none.
	Config, SystemMap string
	// Modules is the path of the module index blob (ModuleIndex), "" until
	// ModuleIndex has built it.
	Modules string
	// Digest is "sha256:<hex>" of Image.
	Digest string
	// Source says where the kernel came from, e.g. "debian bookworm-security
	// linux-image-6.1.0-50-cloud-amd64-unsigned 6.1.158-1".
	Source string
	// PackageVersion is the Debian package version or the OCI manifest digest.
	PackageVersion string
	// Repaired names the cached blobs this Fetch found corrupt, moved to
	// quarantine and fetched again (one CorruptBlobError message each);
	// empty when the cache was intact.
	Repaired []string
}

// New returns a Fetcher. It reads the apt sources but does no network I/O.
func New(opts Options) (*Fetcher, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("new fetcher: no cache directory")
	}
	if opts.Keyring == "" {
		opts.Keyring = DefaultKeyring
	}
	if opts.AptDir == "" {
		opts.AptDir = DefaultAptDir
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fetcher{opts: opts, client: opts.HTTPClient}
	if f.client == nil {
		f.client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			// A host that drops packets (a registry behind a firewall)
			// fails in seconds instead of the kernel's TCP connect
			// timeout of about two minutes.
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 60 * time.Second,
			TLSHandshakeTimeout:   30 * time.Second,
		}}
	}
	apt := readAptSources(opts.AptDir)
	f.aptForeign = apt.Foreign
	f.ociRegistry = opts.OCIRegistry
	if f.ociRegistry == "" {
		f.ociRegistry = DefaultOCIRegistry
	}
	f.mirror, f.mirrorOrigin = pick(opts.DebianMirror, apt.Archive)
	f.securityMirror, f.securityMirrorOrigin = pick(opts.DebianSecurityMirror, apt.Security)
	f.toolSuites = opts.ToolSuites
	if len(f.toolSuites) == 0 {
		if apt.SecuritySuite != "" && f.securityMirror != "" {
			f.toolSuites = append(f.toolSuites, apt.SecuritySuite)
		}
		if apt.ArchiveSuite != "" {
			f.toolSuites = append(f.toolSuites, apt.ArchiveSuite)
		}
	}
	for _, d := range []string{f.tmpDir(), f.blobDir(), f.recordDir(), f.lockDir(), f.stampDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("new fetcher: %w", err)
		}
	}
	f.removeStaleTemps()
	return f, nil
}

func pick(flag, apt string) (string, string) {
	if flag != "" {
		return strings.TrimRight(flag, "/"), "configured"
	}
	if apt != "" {
		return apt, "from apt sources"
	}
	return "", ""
}

func (f *Fetcher) now() time.Time { return f.opts.Now() }

func (f *Fetcher) loadKeyring() (openpgp.EntityList, error) {
	f.keyringOnce.Do(func() { f.keyring, f.keyringErr = loadKeyring(f.opts.Keyring) })
	return f.keyring, f.keyringErr
}

var (
	errNoMainMirror     = &configError{"no Debian mirror configured: set BPFMATRIX_DEBIAN_MIRROR or --mirror to a Debian mirror"}
	errNoSecurityMirror = &configError{"no Debian security mirror configured: set BPFMATRIX_DEBIAN_SECURITY_MIRROR or --security-mirror to a Debian security mirror"}
)

// errNoMirror is the configError for a suite whose mirror is not
// configured. It names the apt entry that was passed over as not Debian's,
// if there was one.
func (f *Fetcher) errNoMirror(suite string) error {
	err := errNoMainMirror
	if strings.HasSuffix(suite, "-security") {
		err = errNoSecurityMirror
	}
	if f.aptForeign == "" {
		return err
	}
	// Keep err itself (joinConfigErrors compares the pointers) unless
	// there is something to add.
	return &hintedConfigError{configError: err, hint: "the apt sources name " + f.aptForeign + ", not a Debian archive"}
}

// hintedConfigError is a configError with the reason it applies here.
type hintedConfigError struct {
	*configError
	hint string
}

func (e *hintedConfigError) Error() string {
	head, tail, _ := strings.Cut(e.msg, ": ")
	return head + " (" + e.hint + "): " + tail
}
func (e *hintedConfigError) Unwrap() error { return e.configError }

// Fetch returns spec's kernel, from the cache if it is there and verified
// (Cached; no network access at all), otherwise from the first source that
// works. A cached blob found corrupt is quarantined and fetched again, and
// Kernel.Repaired names it; when no source can fetch it again, the error
// wraps its *CorruptBlobError (which says how to fix it) and the sources'
// errors. An image that is not a kernel for spec's architecture is never
// cached: the error wraps ErrNotKernelImage.
func (f *Fetcher) Fetch(ctx context.Context, spec catalog.KernelSpec) (*Kernel, error) {
	k, corrupt, err := f.cached(spec, true)
	if err == nil {
		return k, nil
	}
	unlock, err := f.lock(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", spec.Name, err)
	}
	defer unlock()
	// Another process may have filled (or repaired) the entry while we
	// waited; what we quarantined is still ours to report.
	k, more, err := f.cached(spec, true)
	corrupt = append(corrupt, more...)
	if err != nil {
		var replaced []*CorruptBlobError
		k, replaced, err = f.fetchSources(ctx, spec)
		if err != nil {
			if len(corrupt) > 0 {
				return nil, fmt.Errorf("fetch %s: %w; fetching it again: %w", spec.Name, corruptBlobs(corrupt), err)
			}
			return nil, fmt.Errorf("fetch %s: %w", spec.Name, err)
		}
		corrupt = append(corrupt, replaced...)
	}
	for _, c := range corrupt {
		k.Repaired = append(k.Repaired, c.Error())
	}
	return k, nil
}

// fetchSources tries spec's sources in order and commits the first kernel
// obtained.
func (f *Fetcher) fetchSources(ctx context.Context, spec catalog.KernelSpec) (*Kernel, []*CorruptBlobError, error) {
	var tried []string
	var errs []error
	for _, src := range spec.Sources {
		kf, desc, pkgVersion, err := f.fetchSource(ctx, spec, src)
		if err == nil {
			err = checkKernelFiles(kf, spec)
		}
		if err != nil {
			var ie *IntegrityError
			if errors.As(err, &ie) || errors.Is(err, ErrNotKernelImage) || ctx.Err() != nil {
				return nil, nil, fmt.Errorf("%s: %w", src, err)
			}
			tried = append(tried, fmt.Sprintf("%s: %v", src, err))
			errs = append(errs, err)
			continue
		}
		version, note, err := f.completeFromImage(spec, kf)
		if err != nil {
			kf.remove()
			return nil, nil, fmt.Errorf("%s: %w", src, err)
		}
		desc += note
		if len(tried) > 0 {
			desc += " (after " + strings.Join(tried, "; ") + ")"
		}
		k, replaced, err := f.commit(spec, version, kf, desc, pkgVersion)
		kf.remove()
		if err != nil {
			return nil, nil, err
		}
		return k, replaced, nil
	}
	if err := joinConfigErrors(errs); err != nil {
		return nil, nil, err
	}
	return nil, nil, fmt.Errorf("%w: %s", ErrNotObtainable, strings.Join(tried, "; "))
}

// completeFromImage fills in what the source did not say from the image
// itself (InspectImage): the release, the config from IKCONFIG when the
// source had no config file (note says so, for Kernel.Source), and the
// version when spec leaves it to the image (a zero Version: an OCI
// reference given on the command line). An image without a version
// string it needs wraps ErrNotKernelImage.
func (f *Fetcher) completeFromImage(spec catalog.KernelSpec, kf *kernelFiles) (version catalog.Version, note string, err error) {
	version = spec.Version
	if kf.Release != "" && kf.Config != nil && version.Major != 0 {
		return version, "", nil
	}
	info, err := InspectImage(kf.Image.Path, kf.Config == nil)
	if err != nil {
		if kf.Release == "" || version.Major == 0 {
			return version, "", err
		}
		// The source named the release and version; a config it lacks
		// stays missing, as it did before IKCONFIG was read.
		return version, "", nil
	}
	if kf.Release == "" {
		kf.Release = info.Release
	}
	if version.Major == 0 {
		version = info.Version
	}
	if kf.Config == nil && info.Config != nil {
		if kf.Config, err = writeTemp(f.tmpDir(), bytes.NewReader(info.Config)); err != nil {
			return version, "", fmt.Errorf("store IKCONFIG: %w", err)
		}
		note = " (config from the image's IKCONFIG)"
	}
	return version, note, nil
}

// checkKernelFiles refuses, before anything is cached, an image QEMU could
// not boot for spec's architecture (checkImage). A source that yields one
// is wrong input (a file source naming the wrong file, most likely), not a
// reason to try the next source.
func checkKernelFiles(kf *kernelFiles, spec catalog.KernelSpec) error {
	arch, format, err := checkImageFile(kf.Image.Path)
	if err != nil {
		kf.remove()
		return err
	}
	if arch != string(spec.Arch) {
		kf.remove()
		return fmt.Errorf("%w (%s, which boots on %s, not %s)", ErrNotKernelImage, format, arch, spec.Arch)
	}
	return nil
}

func (f *Fetcher) fetchSource(ctx context.Context, spec catalog.KernelSpec, src catalog.Source) (*kernelFiles, string, string, error) {
	switch {
	case src.Debian != nil:
		return f.fetchDebian(ctx, spec, src.Debian)
	case src.OCI != nil:
		return f.fetchOCI(ctx, spec, src.OCI)
	case src.File != nil:
		return f.fetchFile(spec, src.File)
	}
	return nil, "", "", fmt.Errorf("unknown source kind")
}

// fetchFile digests a local image (and config) into the cache.
func (f *Fetcher) fetchFile(spec catalog.KernelSpec, src *catalog.FileSource) (*kernelFiles, string, string, error) {
	img, err := copyToTemp(f.tmpDir(), src.Image)
	if err != nil {
		return nil, "", "", fmt.Errorf("read kernel image: %w", err)
	}
	kf := &kernelFiles{Image: img}
	if src.Config != "" {
		cfg, err := copyToTemp(f.tmpDir(), src.Config)
		if err != nil {
			kf.remove()
			return nil, "", "", fmt.Errorf("read kernel config: %w", err)
		}
		kf.Config = cfg
	}
	if src.Digest != "" && src.Digest != img.Digest {
		kf.remove()
		return nil, "", "", &IntegrityError{What: src.Image, Err: fmt.Errorf("hashes to %s, pinned as %s (the file changed since it was named)", img.Digest, src.Digest)}
	}
	abs, _ := filepath.Abs(src.Image)
	return kf, "file " + abs, img.Digest, nil
}

func copyToTemp(dir, p string) (*tempBlob, error) {
	in, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	return writeTemp(dir, in)
}

// Configured returns nil when spec is cached or at least one of its sources
// can be tried with this configuration; otherwise (every source is a
// Debian suite without a configured mirror) an error wrapping
// ErrNotConfigured and ErrNotObtainable, one line naming the setting. It
// does no network access, so callers check every kernel before booting any.
func (f *Fetcher) Configured(spec catalog.KernelSpec) error {
	if _, ok := f.Cached(spec); ok {
		return nil
	}
	var errs []error
	for _, src := range spec.Sources {
		if src.Debian == nil {
			return nil
		}
		if base, _ := f.mirrorFor(src.Debian.Suite); base != "" {
			return nil
		}
		errs = append(errs, f.errNoMirror(src.Debian.Suite))
	}
	return joinConfigErrors(errs)
}

// Obtainable says, without network access, whether spec can be fetched here
// and from which source, or why not. A cached kernel is always obtainable.
func (f *Fetcher) Obtainable(spec catalog.KernelSpec) (bool, string) {
	if _, ok := f.Cached(spec); ok {
		return true, "yes (cached)"
	}
	var why []string
	for _, src := range spec.Sources {
		switch {
		case src.Debian != nil:
			base, origin := f.mirrorFor(src.Debian.Suite)
			if base != "" {
				return true, fmt.Sprintf("yes (debian %s, mirror %s)", src.Debian.Suite, origin)
			}
			why = append(why, "debian "+src.Debian.Suite+": "+f.errNoMirror(src.Debian.Suite).Error())
		case src.OCI != nil:
			return true, "yes (oci " + src.OCI.Ref(f.ociRegistry) + ")"
		case src.File != nil:
			if _, err := os.Stat(src.File.Image); err == nil {
				return true, "yes (file)"
			} else {
				why = append(why, "file: "+err.Error())
			}
		}
	}
	return false, "no: " + strings.Join(why, "; ")
}
