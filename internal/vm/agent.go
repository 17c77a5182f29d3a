package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// The two guest binaries. Both are static Go programs built for the guest's
// arch; either can be the VM's /init (internal/guest).
//
// bpfmatrix-agent carries everything the guest side of bpfmatrix does
// (probes, verifier corpus, object loads). It is /init when the job is the
// agent itself (run, check, repro), so it is in the initramfs once.
//
// bpfmatrix-init is only /init: mounts, RLIMIT_MEMLOCK, the job, the data
// port. It is /init for every other job (exec, go test -exec, vmtest,
// repro --shell). Under TCG the guest pays for every byte of initramfs (the
// kernel's cpio unpacking, about 20 ms per MB here) and for every package
// initializer of /init (each new code path is translated once): the agent
// is 5.5 MB and runs about 130 ms of package initializers (cilium/ebpf, the
// probe tables, the embedded corpus), the init 2.4 MB and a few ms.
var (
	agentBinary = guestBinary{name: "bpfmatrix-agent", env: "BPFMATRIX_AGENT", pkg: AgentPackage}
	initBinary  = guestBinary{name: "bpfmatrix-init", env: "BPFMATRIX_INIT", pkg: InitPackage}
)

// Import paths of the guest binaries.
const (
	AgentPackage = "github.com/bpfmatrix/bpfmatrix/cmd/bpfmatrix-agent"
	InitPackage  = "github.com/bpfmatrix/bpfmatrix/cmd/bpfmatrix-init"
)

// AgentLDFlags strips the symbol table and DWARF from the guest binaries
// (Go's tracebacks keep working): they go into every initramfs, and under
// TCG the kernel's cpio unpacking is a measurable part of the boot (the
// agent: 8.0 MB -> 5.5 MB took `exec` from +0.62 s to +0.25 s over a bare
// boot of debian-6.1 in one BenchmarkBoot run each). The Makefile uses the
// same flags.
const AgentLDFlags = "-s -w"

// AgentBinary returns the path of a static bpfmatrix-agent for arch:
//
//  1. $BPFMATRIX_AGENT_<GOARCH> (BPFMATRIX_AGENT_ARM64, ...), if set, or
//     $BPFMATRIX_AGENT when arch is the host's;
//  2. next to the running executable (what `make build` puts in bin/):
//     bpfmatrix-agent-<GOARCH>, or bpfmatrix-agent when arch is the
//     host's;
//  3. otherwise built with the go command (see [GuestSource]): from the
//     module cache's copy of the exact bpfmatrix version the running
//     binary was built from, into the cache (<cache>/agent/<version>-<key>/,
//     once per version, GOARCH and Go version; later runs need no go
//     command), or, for a development build, in the checkout it was
//     compiled from (else the current module graph), once per process.
func AgentBinary(ctx context.Context, arch catalog.Arch) (string, error) {
	return agentBinary.find(ctx, arch)
}

// InitBinary returns the path of a static bpfmatrix-init for arch, found
// like AgentBinary's ($BPFMATRIX_INIT_<GOARCH>, $BPFMATRIX_INIT,
// bpfmatrix-init[-<GOARCH>] next to the executable, else built from the
// module source of the running binary's bpfmatrix version).
func InitBinary(ctx context.Context, arch catalog.Arch) (string, error) {
	return initBinary.find(ctx, arch)
}

// ModulePath is the module the guest binaries' packages belong to.
const ModulePath = "github.com/bpfmatrix/bpfmatrix"

// ErrNoGuestSource is wrapped when a guest binary is neither given nor
// installed and the running bpfmatrix cannot say where its source is: a
// development build ("(devel)") run outside its checkout.
var ErrNoGuestSource = errors.New("no source for the guest binaries")

type guestBinary struct {
	name, env, pkg string
	builds         sync.Map // GOARCH -> *build
}

type build struct {
	once sync.Once
	path string
	err  error
}

func (g *guestBinary) find(ctx context.Context, arch catalog.Arch) (string, error) {
	host := arch.GOARCH() == runtime.GOARCH
	if p := os.Getenv(g.env + "_" + strings.ToUpper(arch.GOARCH())); p != "" {
		return p, nil
	}
	if p := os.Getenv(g.env); p != "" && host {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		names := []string{g.name + "-" + arch.GOARCH()}
		if host {
			names = append(names, g.name)
		}
		for _, n := range names {
			p := filepath.Join(filepath.Dir(exe), n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && filepath.Clean(p) != filepath.Clean(exe) {
				return p, nil
			}
		}
	}
	v, _ := g.builds.LoadOrStore(arch.GOARCH(), &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path, b.err = g.build(ctx, arch, sourceOf(debug.ReadBuildInfo()))
		if b.err != nil {
			b.err = fmt.Errorf("build %s for %s: %w", g.name, arch.GOARCH(), b.err)
		}
	})
	return b.path, b.err
}

// sourceKind says where a guest binary is built from.
type sourceKind int

const (
	// fromModule: a released module version, built in the module cache's
	// copy of it (the version `go install ...@VERSION` or a go.mod require
	// put in the running binary) and cached by that version.
	fromModule sourceKind = iota
	// fromDir: a local directory holding the module (a replace directive
	// naming a directory), built there once per process.
	fromDir
	// fromDevel: a development build; `go build` in the checkout it was
	// compiled from (builtFrom) when that is still there, else in the
	// current directory's module graph; once per process.
	fromDevel
	// fromCurrentModule: the build info does not name bpfmatrix at all,
	// which is what a test binary's looks like (`go test` records no
	// dependencies, golang.org/issue/33976): the version is the one the
	// current directory's module requires (see currentModuleSource).
	fromCurrentModule
)

// guestSource is the bpfmatrix source the running binary was built from.
type guestSource struct {
	kind               sourceKind
	Path, Version, Sum string // fromModule; Version is also kept for messages
	Dir                string // fromDir, as the replace directive wrote it
}

// sourceOf reads the bpfmatrix module out of the running binary's build
// info: the main module when the binary is bpfmatrix itself, else (a user's
// test binary importing vmtest) the dependency, following a replace.
func sourceOf(info *debug.BuildInfo, ok bool) guestSource {
	if !ok {
		return guestSource{kind: fromDevel, Version: "unknown"}
	}
	m, isMain := info.Main, true
	if m.Path != ModulePath {
		m, isMain = debug.Module{}, false
		for _, d := range info.Deps {
			if d.Path == ModulePath {
				m = *d
				break
			}
		}
		if m.Path == "" {
			return guestSource{kind: fromCurrentModule}
		}
	}
	if r := m.Replace; r != nil {
		if r.Version == "" {
			return guestSource{kind: fromDir, Dir: r.Path, Version: m.Version}
		}
		return guestSource{kind: fromModule, Path: r.Path, Version: r.Version, Sum: r.Sum}
	}
	// A main module without a sum was built in a checkout: since Go 1.24
	// its version is stamped from the VCS (v0.0.0-<time>-<commit>, with
	// +dirty for local changes), which no proxy need serve. `go install
	// pkg@VERSION` records the sum it verified.
	if m.Version == "" || m.Version == "(devel)" || strings.HasSuffix(m.Version, "+dirty") || (isMain && m.Sum == "") {
		v := m.Version
		if v == "" {
			v = "(devel)"
		}
		return guestSource{kind: fromDevel, Version: v}
	}
	return guestSource{kind: fromModule, Path: m.Path, Version: m.Version, Sum: m.Sum}
}

// cacheKey names a module build's cache entry: <version>-<hash of the
// module path, version, sum, the running binary's Go version and the
// ldflags>. The Go version is the running binary's, not the go command's:
// looking an entry up must not need the go command (`go install` builds
// the host binary with the toolchain that later builds the guest ones).
func (s guestSource) cacheKey() string {
	h := sha256.Sum256([]byte(strings.Join([]string{s.Path, s.Version, s.Sum, runtime.Version(), AgentLDFlags}, "\n")))
	v := strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, s.Version)
	return v + "-" + hex.EncodeToString(h[:6])
}

func cacheDir() (string, error) {
	if d := os.Getenv("BPFMATRIX_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "bpfmatrix"), nil
}

func (g *guestBinary) build(ctx context.Context, arch catalog.Arch, src guestSource) (string, error) {
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	agentDir := filepath.Join(cache, "agent")
	switch src.kind {
	case fromModule:
		return g.buildModule(ctx, arch, src, agentDir)
	case fromCurrentModule:
		cur, err := currentModuleSource(ctx)
		if err != nil {
			return "", err
		}
		return g.build(ctx, arch, cur)
	case fromDir:
		dir, err := replaceDir(src.Dir)
		if err != nil {
			return "", err
		}
		return g.buildInDir(ctx, arch, dir, agentDir)
	default:
		// A development build's own checkout is its exact source: build
		// there when it is still on disk, from whatever directory the
		// binary runs in (`go install ./cmd/bpfmatrix`, then use it
		// anywhere).
		if dir, ok := checkout(); ok {
			return g.buildInDir(ctx, arch, dir, agentDir)
		}
		p, err := g.buildInto(ctx, arch, "", g.pkg, filepath.Join(agentDir, "devel"), goEnv(arch, false))
		if err != nil && notInModuleGraph.MatchString(err.Error()) {
			return "", fmt.Errorf("%w: this bpfmatrix is a development build (version %s) whose checkout is not on disk (or it was built with -trimpath), and the current directory's module does not provide %s: run 'make build' in the bpfmatrix checkout (it puts the guest binaries next to bpfmatrix), set %s_%s, or install a release with 'go install %s/cmd/bpfmatrix@VERSION'",
				ErrNoGuestSource, src.Version, g.pkg, g.env, strings.ToUpper(arch.GOARCH()), ModulePath)
		}
		return p, err
	}
}

// buildInDir builds the guest package in dir, a directory holding this
// module, isolated from the caller's go.work and GOFLAGS, into an output
// directory of its own per source directory (two checkouts never replace
// each other's binaries).
func (g *guestBinary) buildInDir(ctx context.Context, arch catalog.Arch, dir, agentDir string) (string, error) {
	h := sha256.Sum256([]byte(filepath.Clean(dir)))
	out := filepath.Join(agentDir, "dir-"+hex.EncodeToString(h[:6]))
	return g.buildInto(ctx, arch, dir, "./"+strings.TrimPrefix(g.pkg, ModulePath+"/"), out, goEnv(arch, true))
}

// checkout is builtFrom; tests replace it to stand for a binary whose
// checkout is gone.
var checkout = builtFrom

// builtFrom returns the root of the checkout this binary was compiled
// from, when the compiler recorded it (a build without -trimpath, which is
// what `go build` and `go install ./cmd/bpfmatrix` do) and it still holds
// this module.
func builtFrom() (string, bool) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", false // -trimpath: the path is the import path
	}
	// file is <root>/internal/vm/agent.go.
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	return root, isModuleRoot(root)
}

// isModuleRoot reports whether dir's go.mod declares this module.
func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == ModulePath
		}
	}
	return false
}

// notInModuleGraph matches the go command's ways of saying that a package
// is not in the current module graph (outside any module, a module that
// does not require bpfmatrix, a vendor directory without it).
var notInModuleGraph = regexp.MustCompile(`no required module provides package|go\.mod file not found|cannot find main module|is not in std|cannot find module providing package|is not in vendor/modules\.txt|does not contain package`)

// buildModule builds from the module cache's copy of src into
// <agentDir>/<src.cacheKey()>/<name>-<GOARCH>, unless that entry exists:
// then no go command runs at all. The entry is filled under a flock, by
// rename, so concurrent processes build it once and never see half a file.
func (g *guestBinary) buildModule(ctx context.Context, arch catalog.Arch, src guestSource, agentDir string) (string, error) {
	entry := filepath.Join(agentDir, src.cacheKey())
	final := filepath.Join(entry, g.name+"-"+arch.GOARCH())
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		return final, nil
	}
	if err := os.MkdirAll(entry, 0o755); err != nil {
		return "", err
	}
	l := flock.New(entry + ".lock")
	ok, err := l.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil {
		return "", fmt.Errorf("lock %s: %w", entry, err)
	}
	if !ok {
		return "", ctx.Err()
	}
	defer l.Unlock()
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		return final, nil
	}
	// Under the lock nobody else writes into entry: leftovers are from a
	// killed build.
	if old, _ := filepath.Glob(filepath.Join(entry, ".*")); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	dir, err := downloadModule(ctx, src, entry)
	if err != nil {
		return "", err
	}
	return g.buildInto(ctx, arch, dir, "./"+strings.TrimPrefix(g.pkg, ModulePath+"/"), entry, goEnv(arch, true))
}

// downloadModule returns the module cache directory of src, downloading it
// if needed (after `go install ...@VERSION` it is there and this is
// offline). The go command runs in a throwaway module under tmpParent so
// that it neither reads nor writes the user's go.mod, go.work or vendor
// directory (a directory outside any module would still have its parents
// searched for one).
func downloadModule(ctx context.Context, src guestSource, tmpParent string) (string, error) {
	work, err := os.MkdirTemp(tmpParent, ".download-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module bpfmatrix.invalid/guestbuild\n"), 0o644); err != nil {
		return "", err
	}
	mod := src.Path + "@" + src.Version
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	// -json reports a module's error in its Error field (and exits 1).
	var info struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(stdout.Bytes(), &info); jerr != nil || info.Error != "" || runErr != nil {
		msg := info.Error
		if msg == "" {
			msg = strings.TrimSpace(stderr.String())
		}
		if runErr != nil && msg == "" {
			msg = runErr.Error()
		}
		return "", fmt.Errorf("download %s: %s", mod, goCommandError(ctx, runErr, msg))
	}
	if src.Sum != "" && info.Sum != "" && info.Sum != src.Sum {
		return "", fmt.Errorf("download %s: module cache has %s, the running binary was built from %s", mod, info.Sum, src.Sum)
	}
	return info.Dir, nil
}

// replaceDir resolves a replace directive's directory: relative ones are
// relative to the go.mod that wrote them, the current directory's module
// (where `go test` runs a test binary).
func replaceDir(dir string) (string, error) {
	if filepath.IsAbs(dir) {
		return dir, nil
	}
	root, ok := moduleRoot()
	if !ok {
		return "", fmt.Errorf("%w: replace directory %s is relative and the current directory is in no module", ErrNoGuestSource, dir)
	}
	return filepath.Join(root, dir), nil
}

// moduleRoot returns the directory of the go.mod governing the current
// directory, as the go command finds it.
func moduleRoot() (string, bool) {
	d, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

// currentModuleSource is the bpfmatrix version the current directory's
// module builds with, for a binary whose build info does not say (a test
// binary; `go test` runs it in its package directory). A vendored module
// compiled what vendor/modules.txt lists, so that is read first, without the
// go command or the network; otherwise `go list -m` answers, read-only
// (the user's go.mod and go.sum are never written). The sum comes from the
// module's go.sum when it has the line.
func currentModuleSource(ctx context.Context) (guestSource, error) {
	root, ok := moduleRoot()
	if !ok {
		return guestSource{}, fmt.Errorf("%w: the running binary's build info does not name %s and the current directory is in no module (set BPFMATRIX_INIT and BPFMATRIX_AGENT)", ErrNoGuestSource, ModulePath)
	}
	src, ok, err := vendoredSource(root)
	if err != nil {
		return guestSource{}, err
	}
	if !ok {
		if src, err = listedSource(ctx); err != nil {
			return guestSource{}, err
		}
	}
	if src.kind == fromDir && !filepath.IsAbs(src.Dir) {
		src.Dir = filepath.Join(root, src.Dir)
	}
	if src.kind == fromModule && src.Sum == "" {
		src.Sum = goSumLine(filepath.Join(root, "go.sum"), src.Path, src.Version)
	}
	return src, nil
}

// vendoredSource reads ModulePath's line of root/vendor/modules.txt:
// "# path version", "# path version => newpath newversion" or
// "# path version => ../dir".
func vendoredSource(root string) (guestSource, bool, error) {
	data, err := os.ReadFile(filepath.Join(root, "vendor", "modules.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return guestSource{}, false, nil
	}
	if err != nil {
		return guestSource{}, false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "#" || f[1] != ModulePath {
			continue
		}
		switch {
		case len(f) == 3:
			return guestSource{kind: fromModule, Path: ModulePath, Version: f[2]}, true, nil
		case len(f) == 5 && f[3] == "=>":
			return guestSource{kind: fromDir, Dir: f[4], Version: f[2]}, true, nil
		case len(f) == 6 && f[3] == "=>":
			return guestSource{kind: fromModule, Path: f[4], Version: f[5]}, true, nil
		}
		return guestSource{}, false, fmt.Errorf("parse %s: %q", filepath.Join(root, "vendor", "modules.txt"), line)
	}
	return guestSource{}, false, nil
}

// listedSource asks the go command which version of ModulePath the current
// module selects.
func listedSource(ctx context.Context) (guestSource, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", ModulePath)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return guestSource{}, fmt.Errorf("find the %s version of the current module: %w", ModulePath, goCommandError(ctx, err, strings.TrimSpace(stderr.String())))
	}
	var m struct {
		Path, Version string
		Replace       *struct{ Path, Version, Dir string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return guestSource{}, fmt.Errorf("find the %s version of the current module: %w", ModulePath, err)
	}
	switch {
	case m.Replace != nil && m.Replace.Version == "":
		return guestSource{kind: fromDir, Dir: m.Replace.Dir, Version: m.Version}, nil
	case m.Replace != nil:
		return guestSource{kind: fromModule, Path: m.Replace.Path, Version: m.Replace.Version}, nil
	case m.Version == "":
		// The current module is bpfmatrix itself.
		return guestSource{kind: fromDevel, Version: "(devel)"}, nil
	}
	return guestSource{kind: fromModule, Path: m.Path, Version: m.Version}, nil
}

// goSumLine returns the h1: hash go.sum lists for path@version's content,
// "" when it lists none.
func goSumLine(gosum, path, version string) string {
	data, err := os.ReadFile(gosum)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == path && f[1] == version {
			return f[2]
		}
	}
	return ""
}

// goEnv is the environment of a guest build: static, for the guest's arch.
// With isolated (a module source directory) the user's go.work and GOFLAGS
// (-mod=vendor, a -modfile, tags) cannot reach the build; -mod=mod lets a
// source tree without vendor/ build whatever GOFLAGS says.
func goEnv(arch catalog.Arch, isolated bool) []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.GOARCH())
	if isolated {
		env = append(env, "GOWORK=off", "GOFLAGS=-mod=mod")
	}
	return env
}

// buildInto runs `go build` of pkg in dir (the current directory when "")
// into outDir/<name>-<GOARCH>: a temporary file renamed into place, so a
// concurrent build by another process replaces the file whole, never
// half-written.
func (g *guestBinary) buildInto(ctx context.Context, arch catalog.Arch, dir, pkg, outDir string, env []string) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(outDir, g.name+"-"+arch.GOARCH())
	tmp, err := os.CreateTemp(outDir, ".build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags="+AgentLDFlags, "-o", tmp.Name(), pkg)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %s", pkg, goCommandError(ctx, err, strings.TrimSpace(out.String())))
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	return final, nil
}

// goCommandError describes a failed go command: a missing go command or a
// cancelled context in words, otherwise the go command's own output.
func goCommandError(ctx context.Context, err error, out string) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("no go command on PATH (it builds the guest binaries once per bpfmatrix version; or run 'make build' / set BPFMATRIX_INIT and BPFMATRIX_AGENT)")
	case out != "":
		return errors.New(out)
	}
	return err
}
