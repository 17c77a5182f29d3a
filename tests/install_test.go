package tests

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

const modulePath = "github.com/bpfmatrix/bpfmatrix"

// moduleProxy is a GOPROXY=file:// directory serving this checkout as
// modulePath at a made-up version, with every other module coming from the
// machine's module download cache (also a valid file proxy), so that `go
// install modulePath/cmd/bpfmatrix@version` works as it would against
// proxy.golang.org for a released version, without the network.
type moduleProxy struct {
	version string
	env     []string // GOPROXY, GONOSUMDB, GOTOOLCHAIN, GOFLAGS, GOMODCACHE, GOCACHE
	modDir  string   // GOMODCACHE/modulePath@version, once downloaded
}

func goEnvValue(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// newModuleProxy zips the checkout as `go mod download` expects a module
// zip: every file git would commit (tracked, or untracked and not ignored,
// so that uncommitted work is what gets tested), under
// "<module>@<version>/", leaving out what the go command leaves out of a
// module zip: directories holding another module (a nested go.mod, such
// as the test modules under testdata) and vendor directories. The
// version is unique per run (a module cache entry is immutable) and removed
// from the module cache afterwards.
func newModuleProxy(t *testing.T) *moduleProxy {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	version := fmt.Sprintf("v0.0.0-installtest.%d", time.Now().UnixNano())
	dir := filepath.Join(t.TempDir(), "proxy")
	vdir := filepath.Join(dir, modulePath, "@v")
	require.NoError(t, os.MkdirAll(vdir, 0o755))

	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	list, err := ls.Output()
	require.NoError(t, err)
	names := strings.Split(strings.TrimRight(string(list), "\x00"), "\x00")
	var nested []string // directories of other modules, with a trailing slash
	for _, name := range names {
		if path.Base(name) == "go.mod" && name != "go.mod" {
			nested = append(nested, path.Dir(name)+"/")
		}
	}
	inNested := func(name string) bool {
		for _, d := range nested {
			if strings.HasPrefix(name, d) {
				return true
			}
		}
		return strings.HasPrefix(name, "vendor/") || strings.Contains(name, "/vendor/")
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	n := 0
	for _, name := range names {
		if inNested(name) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink (not allowed in module zips)
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		require.NoError(t, err)
		w, err := zw.Create(modulePath + "@" + version + "/" + filepath.ToSlash(name))
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
		n++
	}
	require.NoError(t, zw.Close())
	require.Greater(t, n, 100, "files in the module zip")
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	info, err := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"list": []byte(version + "\n"), version + ".info": info, version + ".mod": gomod, version + ".zip": zbuf.Bytes(),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(vdir, name), data, 0o644))
	}

	modcache := goEnvValue(t, "GOMODCACHE")
	p := &moduleProxy{
		version: version,
		modDir:  filepath.Join(modcache, modulePath+"@"+version),
		env: []string{
			"GOPROXY=file://" + dir + ",file://" + filepath.Join(modcache, "cache", "download"),
			// The made-up version is in no checksum database, and
			// sum.golang.org is not reachable from the machines these
			// tests run on: every other module comes out of the local
			// download cache, whose zips were checked against the
			// checksum database (or this module's go.sum) when they were
			// first downloaded.
			"GONOSUMDB=" + modulePath,
			"GOSUMDB=off",
			"GOTOOLCHAIN=local",
			"GOMODCACHE=" + modcache,
			"GOCACHE=" + goEnvValue(t, "GOCACHE"),
		},
	}
	t.Cleanup(func() { p.removeFromModCache(t, modcache) })
	return p
}

// removeFromModCache deletes the made-up version from the module cache
// (whose files the go command makes read-only).
func (p *moduleProxy) removeFromModCache(t *testing.T, modcache string) {
	if _, err := os.Stat(p.modDir); err == nil {
		filepath.WalkDir(p.modDir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
		assert.NoError(t, os.RemoveAll(p.modDir))
	}
	dl := filepath.Join(modcache, "cache", "download", modulePath, "@v")
	old, _ := filepath.Glob(filepath.Join(dl, p.version+".*"))
	for _, f := range old {
		os.Remove(f)
	}
	if list, err := os.ReadFile(filepath.Join(dl, "list")); err == nil {
		var keep []string
		for _, v := range strings.Split(strings.TrimSpace(string(list)), "\n") {
			if v != "" && v != p.version {
				keep = append(keep, v)
			}
		}
		s := strings.Join(keep, "\n")
		if s != "" {
			s += "\n"
		}
		os.WriteFile(filepath.Join(dl, "list"), []byte(s), 0o644)
	}
}

// cleanEnv is the environment without the variables that would hand
// bpfmatrix guest binaries or a cache, or steer the go command.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "BPFMATRIX_") || strings.HasPrefix(k, "GO") || k == "XDG_CACHE_HOME" || k == "CGO_ENABLED" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// pathWithoutGo is $PATH without the directories holding a go command.
func pathWithoutGo() string {
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "go")); err == nil {
			continue
		}
		keep = append(keep, d)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// TestGoInstall is the README's one install, the way an outsider does it:
// `go install .../cmd/bpfmatrix@VERSION` into an empty GOBIN, then exec
// (x86_64 and arm64) and check from a directory outside any module, with a
// GOFLAGS that breaks any build in the current module graph. The guest
// binaries are built once from the module cache's copy of VERSION; the
// second run finds them with no go command on PATH.
func TestGoInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("installs bpfmatrix and boots kernels")
	}
	fetchKernel(t, "debian-6.1")
	fetchKernel(t, "debian-6.1-arm64")
	amd64Prog := buildStaticFor(t, "./testdata/archprobe", "archprobe", catalog.AMD64)
	arm64Prog := buildStaticFor(t, "./testdata/archprobe", "archprobe", catalog.ARM64)
	object, err := filepath.Abs(obj("loop.o"))
	require.NoError(t, err)
	kernels := cacheDir(t)

	p := newModuleProxy(t)
	tmp := t.TempDir()
	gobin := filepath.Join(tmp, "gobin")
	work := filepath.Join(tmp, "work") // no go.mod here or above (t.TempDir is under $TMPDIR)
	xdg := filepath.Join(tmp, "xdg")
	for _, d := range []string{gobin, work, xdg} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}

	install := exec.Command("go", "install", modulePath+"/cmd/bpfmatrix@"+p.version)
	install.Dir = work
	install.Env = cleanEnv(append(p.env, "GOBIN="+gobin, "HOME="+os.Getenv("HOME"))...)
	out, err := install.CombinedOutput()
	require.NoError(t, err, "go install: %s", out)
	entries, err := os.ReadDir(gobin)
	require.NoError(t, err)
	require.Len(t, entries, 1, "go install puts only bpfmatrix into GOBIN, no guest binaries")
	bin := filepath.Join(gobin, "bpfmatrix")

	env := cleanEnv(append(p.env,
		"XDG_CACHE_HOME="+xdg, // the guest-binary cache; kernels come from --cache-dir
		"GOFLAGS=-mod=vendor", // what a vendoring user has set: breaks `go build` in any module without vendor/
	)...)
	run := func(t *testing.T, path string, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--cache-dir", kernels}, args...)...)
		cmd.Dir = work
		cmd.Env = append(env, "PATH="+path)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		t.Logf("bpfmatrix %s: %v in %v", strings.Join(args, " "), err, time.Since(start).Round(100*time.Millisecond))
		require.NoError(t, err, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
		return stdout.String(), stderr.String()
	}

	stdout, _ := run(t, os.Getenv("PATH"), "version")
	assert.Contains(t, stdout, "bpfmatrix "+p.version+" ")

	guest := filepath.Join(xdg, "bpfmatrix", "agent")
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		entries []string // guest binaries this run builds
	}{
		{"exec x86_64", []string{"exec", "--kernel", "debian-6.1", "--", amd64Prog}, `"machine":"x86_64"`, []string{"bpfmatrix-init-amd64"}},
		{"exec arm64", []string{"exec", "--kernel", "debian-6.1-arm64", "--", arm64Prog}, `"machine":"aarch64"`, []string{"bpfmatrix-init-arm64"}},
		{"check", []string{"check", "--kernels", "debian-6.1", object}, "accepted", []string{"bpfmatrix-agent-amd64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _ := run(t, os.Getenv("PATH"), tc.args...)
			assert.Contains(t, stdout, tc.want)
			for _, e := range tc.entries {
				m, _ := filepath.Glob(filepath.Join(guest, p.version+"-*", e))
				assert.Len(t, m, 1, "%s built into the cache, keyed by the version", e)
			}
		})
	}

	built, err := filepath.Glob(filepath.Join(guest, p.version+"-*", "bpfmatrix-*"))
	require.NoError(t, err)
	require.Len(t, built, 3)
	mtimes := map[string]time.Time{}
	for _, b := range built {
		fi, err := os.Stat(b)
		require.NoError(t, err)
		mtimes[b] = fi.ModTime()
	}
	t.Run("second run builds nothing", func(t *testing.T) {
		noGo := pathWithoutGo()
		_, err := exec.LookPath("go")
		require.NoError(t, err)
		stdout, _ := run(t, noGo, "exec", "--kernel", "debian-6.1-arm64", "--", arm64Prog)
		assert.Contains(t, stdout, `"machine":"aarch64"`)
		stdout, _ = run(t, noGo, "check", "--kernels", "debian-6.1", object)
		assert.Contains(t, stdout, "accepted")
		for b, m := range mtimes {
			fi, err := os.Stat(b)
			require.NoError(t, err)
			assert.Equal(t, m, fi.ModTime(), "%s rebuilt", b)
		}
	})
}

// vendoredTest is the test of a user module that imports vmtest and
// vendors its dependencies: its closure runs inside debian-6.1 (through the
// installed bpfmatrix CLI) and proves it from there (PID 1 is
// bpfmatrix-init, not the host's init).
const vendoredTest = `package vendored

import (
	"os"
	"strings"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }

func TestInGuest(t *testing.T) {
	vmtest.Run(t, []string{"debian-6.1"}, func(t *testing.T) {
		comm, err := os.ReadFile("/proc/1/comm")
		if err != nil {
			t.Fatal(err)
		}
		release, err := os.ReadFile("/proc/sys/kernel/osrelease")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("GUEST pid1=%s release=%s", strings.TrimSpace(string(comm)), strings.TrimSpace(string(release)))
	})
}
`

// TestVendoredVmtest: a module requiring bpfmatrix at a released version,
// vendored with `go mod vendor` (so its builds run with -mod=vendor, and
// vendor/ holds only the packages it imports, not cmd/bpfmatrix-init),
// runs `go test` with vmtest. The guest binary comes from the module
// cache's copy of that version.
func TestVendoredVmtest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	fetchKernel(t, "debian-6.1")
	kernels := cacheDir(t)
	p := newModuleProxy(t)
	// One fixed directory (under a flock), not a fresh one per run: the
	// go command's build cache is keyed by file paths (no -trimpath in a
	// user's go test), so that the vendored cilium/ebpf, go-containerregistry
	// and the rest compile once per machine rather than on every run (2 min
	// here).
	mod := filepath.Join(os.TempDir(), "bpfmatrix-vendored-module")
	lock := flock.New(mod + ".lock")
	require.NoError(t, lock.Lock())
	t.Cleanup(func() { os.RemoveAll(mod); lock.Unlock() })
	require.NoError(t, os.RemoveAll(mod))
	require.NoError(t, os.MkdirAll(mod, 0o755))
	gosum, err := os.ReadFile("../go.sum")
	require.NoError(t, err)
	for name, data := range map[string]string{
		"go.mod":        "module example.com/vendored\n\ngo 1.26.8\n\nrequire " + modulePath + " " + p.version + "\n",
		"go.sum":        string(gosum),
		"guest_test.go": vendoredTest,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(mod, name), []byte(data), 0o644))
	}
	// The guest binaries land in the kernel cache's agent/ directory,
	// under the made-up version: remove them afterwards.
	t.Cleanup(func() {
		old, _ := filepath.Glob(filepath.Join(kernels, "agent", p.version+"-*"))
		for _, o := range old {
			os.RemoveAll(o)
		}
	})
	// vmtest drives the installed CLI: install it the way a user would.
	gobin := t.TempDir()
	install := exec.Command("go", "install", modulePath+"/cmd/bpfmatrix@"+p.version)
	install.Dir = gobin
	install.Env = cleanEnv(append(p.env, "GOBIN="+gobin, "HOME="+os.Getenv("HOME"))...)
	out, err := install.CombinedOutput()
	require.NoError(t, err, "go install: %s", out)
	env := cleanEnv(append(p.env, "BPFMATRIX_CACHE="+kernels, "GOSUMDB=off", "BPFMATRIX_BIN="+filepath.Join(gobin, "bpfmatrix"))...)
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("go %s: %v in %v", strings.Join(args, " "), err, time.Since(start).Round(100*time.Millisecond))
		require.NoError(t, err, "go %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	goCmd("mod", "tidy")
	goCmd("mod", "vendor")
	_, err = os.Stat(filepath.Join(mod, "vendor", modulePath, "vmtest"))
	require.NoError(t, err, "vmtest is vendored")
	_, err = os.Stat(filepath.Join(mod, "vendor", modulePath, "cmd", "bpfmatrix-init"))
	require.ErrorIs(t, err, fs.ErrNotExist, "the guest binary's package is not vendored")
	// What the guest build reads: `go test` records no dependencies in a
	// test binary's build info (golang.org/issue/33976).
	modules, err := os.ReadFile(filepath.Join(mod, "vendor", "modules.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(modules), "# "+modulePath+" "+p.version+"\n")
	out = []byte(goCmd("test", "-count=1", "-v", "./..."))
	assert.Regexp(t, `GUEST pid1=init release=6\.1\.`, string(out))
	built, _ := filepath.Glob(filepath.Join(kernels, "agent", p.version+"-*", "bpfmatrix-init-amd64"))
	assert.Len(t, built, 1, "bpfmatrix-init built from the module cache, keyed by the version")
}

// TestGoInstallFromCheckout: `go install ./cmd/bpfmatrix` in a checkout (a
// development build, no version to fetch) into an empty GOBIN, then used
// from a directory outside any module: the guest binaries are built in the
// checkout the binary was compiled from, for both arches.
func TestGoInstallFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("installs bpfmatrix and boots kernels")
	}
	fetchKernel(t, "debian-6.1")
	fetchKernel(t, "debian-6.1-arm64")
	amd64Prog := buildStaticFor(t, "./testdata/archprobe", "archprobe", catalog.AMD64)
	object, err := filepath.Abs(obj("loop.o"))
	require.NoError(t, err)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	tmp := t.TempDir()
	gobin, work, xdg := filepath.Join(tmp, "gobin"), filepath.Join(tmp, "work"), filepath.Join(tmp, "xdg")
	for _, d := range []string{gobin, work, xdg} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	install := exec.Command("go", "install", "./cmd/bpfmatrix")
	install.Dir = root
	install.Env = cleanEnv("GOBIN="+gobin, "GOFLAGS=-mod=mod")
	out, err := install.CombinedOutput()
	require.NoError(t, err, "go install: %s", out)
	entries, err := os.ReadDir(gobin)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only bpfmatrix in GOBIN")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"exec x86_64", []string{"exec", "--kernel", "debian-6.1", "--", amd64Prog}, `"machine":"x86_64"`},
		{"check arm64", []string{"check", "--kernels", "debian-6.1-arm64", object}, "accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(gobin, "bpfmatrix"), append([]string{"--cache-dir", cacheDir(t)}, tc.args...)...)
			cmd.Dir = work
			// GOFLAGS=-mod=vendor would break a build in the current
			// module; the guest binaries' build is isolated from it.
			cmd.Env = cleanEnv("XDG_CACHE_HOME="+xdg, "GOFLAGS=-mod=vendor")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tc.want)
		})
	}
	built, _ := filepath.Glob(filepath.Join(xdg, "bpfmatrix", "agent", "dir-*", "bpfmatrix-*"))
	assert.Len(t, built, 2, "bpfmatrix-init-amd64 and bpfmatrix-agent-arm64, built in the checkout: %v", built)
}
