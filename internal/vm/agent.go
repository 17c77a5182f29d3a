package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

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
//  3. otherwise `go build` of AgentPackage (CGO_ENABLED=0, GOARCH) into
//     the cache, once per process. Go's build cache makes this cheap after
//     the first time; it needs the go command and the module in the
//     current module's graph, which holds for `go test` in this module and
//     in modules that import bpfmatrix.
func AgentBinary(ctx context.Context, arch catalog.Arch) (string, error) {
	return agentBinary.find(ctx, arch)
}

// InitBinary returns the path of a static bpfmatrix-init for arch, found
// like AgentBinary's ($BPFMATRIX_INIT_<GOARCH>, $BPFMATRIX_INIT,
// bpfmatrix-init[-<GOARCH>] next to the executable, else `go build` of
// InitPackage).
func InitBinary(ctx context.Context, arch catalog.Arch) (string, error) {
	return initBinary.find(ctx, arch)
}

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
	b.once.Do(func() { b.path, b.err = g.build(ctx, arch) })
	return b.path, b.err
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

func (g *guestBinary) build(ctx context.Context, arch catalog.Arch) (string, error) {
	fail := func(err error) (string, error) { return "", fmt.Errorf("build %s: %w", g.name, err) }
	cache, err := cacheDir()
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(cache, "agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	final := filepath.Join(dir, g.name+"-"+arch.GOARCH())
	tmp, err := os.CreateTemp(dir, ".build-*")
	if err != nil {
		return fail(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags="+AgentLDFlags, "-o", tmp.Name(), g.pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.GOARCH())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("set %s_%s or run make build: %w: %s", g.env, strings.ToUpper(arch.GOARCH()), err, bytes.TrimSpace(out.Bytes())))
	}
	// Rename is atomic: a concurrent build by another process replaces the
	// file whole, never half-written.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fail(err)
	}
	return final, nil
}
