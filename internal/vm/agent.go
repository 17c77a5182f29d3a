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

// AgentPackage is the import path of the guest agent.
const AgentPackage = "github.com/bpfmatrix/bpfmatrix/cmd/bpfmatrix-agent"

var agentBuilds sync.Map // GOARCH -> *agentBuild

type agentBuild struct {
	once sync.Once
	path string
	err  error
}

// AgentLDFlags strips the symbol table and DWARF from the agent (Go's
// tracebacks keep working): it goes into every initramfs, and under TCG the
// kernel's cpio unpacking is a measurable part of the boot (8.0 MB -> 5.5 MB
// took `exec` from +0.62 s to +0.25 s over a bare boot of debian-6.1 in one
// BenchmarkBoot run each). The Makefile uses the same flags.
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
	host := arch.GOARCH() == runtime.GOARCH
	if p := os.Getenv("BPFMATRIX_AGENT_" + strings.ToUpper(arch.GOARCH())); p != "" {
		return p, nil
	}
	if p := os.Getenv("BPFMATRIX_AGENT"); p != "" && host {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		names := []string{"bpfmatrix-agent-" + arch.GOARCH()}
		if host {
			names = append(names, "bpfmatrix-agent")
		}
		for _, n := range names {
			p := filepath.Join(filepath.Dir(exe), n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && filepath.Clean(p) != filepath.Clean(exe) {
				return p, nil
			}
		}
	}
	v, _ := agentBuilds.LoadOrStore(arch.GOARCH(), &agentBuild{})
	b := v.(*agentBuild)
	b.once.Do(func() { b.path, b.err = buildAgent(ctx, arch) })
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

func buildAgent(ctx context.Context, arch catalog.Arch) (string, error) {
	cache, err := cacheDir()
	if err != nil {
		return "", fmt.Errorf("build agent: %w", err)
	}
	dir := filepath.Join(cache, "agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build agent: %w", err)
	}
	final := filepath.Join(dir, "bpfmatrix-agent-"+arch.GOARCH())
	tmp, err := os.CreateTemp(dir, ".build-*")
	if err != nil {
		return "", fmt.Errorf("build agent: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags="+AgentLDFlags, "-o", tmp.Name(), AgentPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.GOARCH())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build agent (set BPFMATRIX_AGENT_%s or run make build): %w: %s", strings.ToUpper(arch.GOARCH()), err, bytes.TrimSpace(out.Bytes()))
	}
	// Rename is atomic: a concurrent build by another process replaces the
	// file whole, never half-written.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("build agent: %w", err)
	}
	return final, nil
}
