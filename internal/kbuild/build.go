package kbuild

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bpfmatrix/bpfmatrix/internal/digest"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
)

// ErrNoCrossCompiler: an arm64 build on a host without aarch64-linux-gnu-gcc
// (Debian's gcc-aarch64-linux-gnu).
var ErrNoCrossCompiler = errors.New("no cross compiler")

// ErrBadSource: SOURCE is neither a linux-source-X.Y package name nor a
// readable kernel tarball.
var ErrBadSource = errors.New("bad kernel source")

// debianSourceRE is a Debian kernel source package name.
var debianSourceRE = regexp.MustCompile(`^linux-source-(\d+\.\d+)$`)

// Options configure Build.
type Options struct {
	// CacheDir is bpfmatrix's cache directory; builds live under built/.
	CacheDir string
	// Configs holds configs/<group>.config (kernels.Configs).
	Configs fs.FS
	// Arch is the target architecture (default x86_64).
	Arch catalog.Arch
	// Groups are applied after the base group, in order.
	Groups []string
	// Name is the catalog name of the built kernel; default
	// built-<major.minor>-<groups>[-arm64].
	Name string
	// Fetcher fetches linux-source-* packages; nil for tarball sources.
	Fetcher *fetch.Fetcher
	// Catalog names the Debian suites that carry each version (default:
	// the embedded catalog).
	Catalog *catalog.Catalog
	// Progress receives one line per step and a heartbeat while make runs.
	Progress io.Writer
	// Jobs is make's -j (default runtime.NumCPU()).
	Jobs int
}

// Built is a built kernel.
type Built struct {
	Name    string       `json:"name"`
	Version string       `json:"version"` // from the tree's Makefile: 6.1.192
	Arch    catalog.Arch `json:"arch"`
	Image   string       `json:"image"`  // absolute path in the cache
	Config  string       `json:"config"` // the .config it was built with
	Key     string       `json:"key"`
	// Source names what was built: "debian linux-source-6.1 6.1.192-3
	// (bookworm-security)" or the tarball's path.
	Source       string   `json:"source"`
	SourceSHA256 string   `json:"source_sha256"`
	ConfigSHA256 string   `json:"config_sha256"`
	Compiler     string   `json:"compiler"`
	Groups       []string `json:"groups"`
	// BuildSeconds is how long the build took when it ran (wall clock).
	BuildSeconds float64   `json:"build_seconds"`
	BuiltAt      time.Time `json:"built_at"`
	// Cached is true when the cache already held the kernel.
	Cached bool `json:"-"`
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "build: "+format+"\n", args...)
	}
}

func builtDir(cacheDir string) string { return filepath.Join(cacheDir, "built") }

// resolvedSource is a tarball on disk and its identity.
type resolvedSource struct {
	tarball, sha256, desc string
}

// Prepare checks what can be checked before anything is fetched or built
// (bad input): the groups, the architecture's compiler, a tarball's
// presence. It returns the fragments to apply.
func Prepare(source string, opts Options) ([]Fragment, error) {
	arch := opts.Arch
	if arch == "" {
		arch = catalog.AMD64
	}
	if arch != catalog.AMD64 && arch != catalog.ARM64 {
		return nil, fmt.Errorf("arch %q: want x86_64 or arm64", arch)
	}
	if arch == catalog.ARM64 && runtime.GOARCH != "arm64" {
		if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
			return nil, fmt.Errorf("build arm64: %w: aarch64-linux-gnu-gcc not found (install gcc-aarch64-linux-gnu)", ErrNoCrossCompiler)
		}
	}
	if !debianSourceRE.MatchString(source) {
		st, err := os.Stat(source)
		if err != nil {
			return nil, fmt.Errorf("%w %q: not a linux-source-X.Y package name nor a readable tarball: %w", ErrBadSource, source, err)
		}
		if !st.Mode().IsRegular() || st.Size() == 0 {
			return nil, fmt.Errorf("%w %q: not a regular, non-empty file", ErrBadSource, source)
		}
	}
	if opts.Name != "" && !regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]*$`).MatchString(opts.Name) {
		return nil, fmt.Errorf("name %q: want lower-case letters, digits, dots and dashes", opts.Name)
	}
	return Fragments(opts.Configs, arch, opts.Groups)
}

// Build builds source with opts' groups, or returns the cached build of the
// same inputs, and records it in the built catalog.
func Build(ctx context.Context, source string, opts Options) (*Built, error) {
	frags, err := Prepare(source, opts)
	if err != nil {
		return nil, err
	}
	if opts.Arch == "" {
		opts.Arch = catalog.AMD64
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	cc, err := compilerVersion(opts.Arch)
	if err != nil {
		return nil, err
	}
	src, err := resolveSource(ctx, source, opts)
	if err != nil {
		return nil, err
	}
	cfgDigest := configDigest(opts.Arch, frags)
	kh := sha256.Sum256([]byte(src.sha256 + "\n" + cfgDigest + "\n" + cc + "\n"))
	key := hex.EncodeToString(kh[:8])

	root := builtDir(opts.CacheDir)
	for _, d := range []string{"locks", "tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("build kernel: %w", err)
		}
	}
	l := flock.New(filepath.Join(root, "locks", key+".lock"))
	if ok, err := l.TryLockContext(ctx, 200*time.Millisecond); err != nil || !ok {
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("lock build %s: %w", key, err)
	}
	defer l.Unlock()

	b, err := readBuilt(filepath.Join(root, key))
	if err == nil {
		b.Cached = true
		opts.progress("cached: %s (key %s)", b.Image, key)
	} else {
		if b, err = build(ctx, src, frags, opts, key, cfgDigest, cc); err != nil {
			return nil, err
		}
	}
	if opts.Name != "" {
		b.Name = opts.Name
	}
	if err := recordInCatalog(opts.CacheDir, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readBuilt reads a cache entry and checks that its files are there.
func readBuilt(dir string) (*Built, error) {
	data, err := os.ReadFile(filepath.Join(dir, "build.json"))
	if err != nil {
		return nil, err
	}
	var b Built
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "build.json"), err)
	}
	b.Image, b.Config = filepath.Join(dir, filepath.Base(b.Image)), filepath.Join(dir, "config")
	for _, p := range []string{b.Image, b.Config} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			return nil, fmt.Errorf("cache entry %s: %s missing or empty", dir, p)
		}
	}
	return &b, nil
}

// compilerVersion is the first line of the compiler's --version: part of
// the cache key, since another compiler builds another kernel.
func compilerVersion(arch catalog.Arch) (string, error) {
	cc := "gcc"
	if arch == catalog.ARM64 && runtime.GOARCH != "arm64" {
		cc = "aarch64-linux-gnu-gcc"
	}
	out, err := exec.Command(cc, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run %s --version: %w (scripts/install-deps.sh installs the build dependencies)", cc, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// resolveSource returns the tarball for source: a verified Debian package's
// /usr/src/linux-source-X.Y.tar.xz, or the file named.
func resolveSource(ctx context.Context, source string, opts Options) (*resolvedSource, error) {
	m := debianSourceRE.FindStringSubmatch(source)
	if m == nil {
		sum, err := digest.File(source)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadSource, source, err)
		}
		abs, _ := filepath.Abs(source)
		return &resolvedSource{tarball: abs, sha256: sum, desc: "tarball " + abs}, nil
	}
	if opts.Fetcher == nil {
		return nil, fmt.Errorf("fetch %s: no fetcher", source)
	}
	suites := debianSuites(opts.Catalog, m[1])
	if len(suites) == 0 {
		return nil, fmt.Errorf("%w %q: no Debian suite in the catalog carries %s", ErrBadSource, source, m[1])
	}
	opts.progress("fetching %s from %s (verified: InRelease, Packages, .deb)", source, strings.Join(suites, ", "))
	p, err := opts.Fetcher.DebianPackage(ctx, suites, "amd64", source)
	if err != nil {
		return nil, err
	}
	tarball, err := p.Lookup("/usr/src/" + source + ".tar.xz")
	if err != nil {
		return nil, fmt.Errorf("find %s.tar.xz in %s: %w", source, p.Source(), err)
	}
	pk := p.Packages[0]
	return &resolvedSource{tarball: tarball, sha256: pk.SHA256, desc: fmt.Sprintf("debian %s %s (%s)", pk.Name, pk.Version, pk.Suite)}, nil
}

// debianSuites returns the suites of the catalog's Debian kernels of
// version mm (major.minor), in catalog order: the same suites that carry a
// version's images carry its linux-source package.
func debianSuites(c *catalog.Catalog, mm string) []string {
	if c == nil {
		c = catalog.Default()
	}
	want, err := catalog.ParseVersion(mm)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range c.Kernels {
		if k.Version.Mainline() != want.Mainline() {
			continue
		}
		for _, s := range k.Sources {
			if s.Debian != nil && !seen[s.Debian.Suite] {
				seen[s.Debian.Suite] = true
				out = append(out, s.Debian.Suite)
			}
		}
	}
	return out
}

// BuildError is a failed build step; Log is the kept build log.
type BuildError struct {
	Step string
	Log  string
	Err  error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build kernel: %s: %v (log: %s)", e.Step, e.Err, e.Log)
}

func (e *BuildError) Unwrap() error { return e.Err }

// build runs the build in a temporary directory and renames its results
// into built/<key>.
func build(ctx context.Context, src *resolvedSource, frags []Fragment, opts Options, key, cfgDigest, cc string) (*Built, error) {
	root := builtDir(opts.CacheDir)
	start := time.Now()
	tmp, err := os.MkdirTemp(filepath.Join(root, "tmp"), key+"-")
	if err != nil {
		return nil, fmt.Errorf("build kernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	logPath := filepath.Join(root, "logs", key+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("build kernel: %w", err)
	}
	defer logf.Close()
	fail := func(step string, err error) (*Built, error) {
		return nil, &BuildError{Step: step, Log: logPath, Err: err}
	}

	opts.progress("unpacking %s", src.desc)
	srcDir := filepath.Join(tmp, "src")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return fail("unpack", err)
	}
	if err := runLogged(ctx, logf, srcDir, nil, "tar", "-xf", src.tarball, "--strip-components=1"); err != nil {
		return fail("unpack "+src.tarball, err)
	}
	version, err := makefileVersion(filepath.Join(srcDir, "Makefile"))
	if err != nil {
		return fail("read version", err)
	}

	karch, image, cross := "x86_64", "arch/x86/boot/bzImage", ""
	if opts.Arch == catalog.ARM64 {
		karch, image = "arm64", "arch/arm64/boot/Image"
		if runtime.GOARCH != "arm64" {
			cross = "aarch64-linux-gnu-"
		}
	}
	makeArgs := []string{"ARCH=" + karch}
	if cross != "" {
		makeArgs = append(makeArgs, "CROSS_COMPILE="+cross)
	}
	mk := func(step string, nice bool, args ...string) error {
		argv := append([]string{"make", "-C", srcDir}, makeArgs...)
		argv = append(argv, args...)
		if nice {
			// A kernel build takes every core for minutes: nice keeps the
			// machine (and other builds' VMs) responsive.
			argv = append([]string{"nice", "-n", "5"}, argv...)
		}
		if err := runLogged(ctx, logf, srcDir, nil, argv[0], argv[1:]...); err != nil {
			return &BuildError{Step: step, Log: logPath, Err: err}
		}
		return nil
	}

	opts.progress("configuring %s for %s: tinyconfig + %s", version, opts.Arch, groupList(frags))
	if err := mk("make tinyconfig", false, "tinyconfig"); err != nil {
		return nil, err
	}
	fragDir := filepath.Join(tmp, "fragments")
	mergeArgs := []string{"-m", filepath.Join(srcDir, ".config")}
	for i, f := range frags {
		p := filepath.Join(fragDir, fmt.Sprintf("%02d-%s", i, f.Name))
		if err := atomicfile.Write(p, f.Data, false); err != nil {
			return fail("write fragment", err)
		}
		mergeArgs = append(mergeArgs, p)
	}
	env := append(os.Environ(), "ARCH="+karch)
	if err := runLogged(ctx, logf, srcDir, env, filepath.Join(srcDir, "scripts/kconfig/merge_config.sh"), mergeArgs...); err != nil {
		return fail("merge_config.sh", err)
	}
	if err := mk("make olddefconfig", false, "olddefconfig"); err != nil {
		return nil, err
	}
	config, err := os.ReadFile(filepath.Join(srcDir, ".config"))
	if err != nil {
		return fail("read .config", err)
	}
	if err := checkConfig(config, frags); err != nil {
		return nil, fmt.Errorf("configure %s: %w", version, err)
	}

	target := filepath.Base(image)
	opts.progress("compiling %s (make -j%d %s; log %s)", version, opts.Jobs, target, logPath)
	stop := heartbeat(opts, logPath, start)
	err = mk("make "+target, true, "-j"+strconv.Itoa(opts.Jobs), target)
	stop()
	if err != nil {
		return nil, err
	}

	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fail("store", err)
	}
	imgName := map[catalog.Arch]string{catalog.AMD64: "bzImage", catalog.ARM64: "Image"}[opts.Arch]
	if err := os.Rename(filepath.Join(srcDir, image), filepath.Join(out, imgName)); err != nil {
		return fail("store image", err)
	}
	if err := atomicfile.Write(filepath.Join(out, "config"), config, true); err != nil {
		return fail("store config", err)
	}
	dst := filepath.Join(root, key)
	b := &Built{
		Name:    defaultName(version, opts),
		Version: version, Arch: opts.Arch,
		Image: filepath.Join(dst, imgName), Config: filepath.Join(dst, "config"),
		Key: key, Source: src.desc, SourceSHA256: src.sha256, ConfigSHA256: cfgDigest, Compiler: cc,
		Groups: opts.Groups, BuildSeconds: time.Since(start).Seconds(), BuiltAt: time.Now().UTC(),
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fail("store", err)
	}
	if err := atomicfile.Write(filepath.Join(out, "build.json"), append(data, '\n'), true); err != nil {
		return fail("store", err)
	}
	// A half-written entry from a killed rename cannot exist (rename is
	// atomic); one without build.json is not an entry and is replaced.
	os.RemoveAll(dst)
	if err := os.Rename(out, dst); err != nil {
		return fail("store", err)
	}
	opts.progress("built %s in %s: %s", version, time.Since(start).Round(time.Second), b.Image)
	return b, nil
}

func groupList(frags []Fragment) string {
	var gs []string
	for _, f := range frags {
		if len(gs) == 0 || gs[len(gs)-1] != f.Group {
			gs = append(gs, f.Group)
		}
	}
	return strings.Join(gs, " + ")
}

// defaultName is built-<major.minor>-<groups>[-arm64].
func defaultName(version string, opts Options) string {
	n := "built"
	if v, err := catalog.ParseVersion(version); err == nil {
		n += "-" + v.Mainline().String()
	}
	for _, g := range opts.Groups {
		if g != BaseGroup {
			n += "-" + g
		}
	}
	if opts.Arch == catalog.ARM64 {
		n += "-arm64"
	}
	return n
}

// makefileVersion reads VERSION, PATCHLEVEL and SUBLEVEL from a kernel
// tree's top Makefile.
func makefileVersion(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan() && i < 20; i++ {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if vals["VERSION"] == "" || vals["PATCHLEVEL"] == "" {
		return "", fmt.Errorf("%s: no VERSION and PATCHLEVEL (not a kernel tree)", p)
	}
	v := vals["VERSION"] + "." + vals["PATCHLEVEL"]
	if s := vals["SUBLEVEL"]; s != "" && s != "0" {
		v += "." + s
	}
	return v, nil
}

// runLogged runs a command with its output in the build log.
func runLogged(ctx context.Context, logf io.Writer, dir string, env []string, name string, args ...string) error {
	fmt.Fprintf(logf, "+ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// heartbeat prints the elapsed time and the build log's last line every
// 30 s until stopped: a kernel build is minutes of silence otherwise.
func heartbeat(opts Options, logPath string, start time.Time) func() {
	if opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				opts.progress("%s: %s", time.Since(start).Round(time.Second), lastLine(logPath))
			}
		}
	}()
	return func() { close(done) }
}

func lastLine(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-512, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
