package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/bpfmatrix/bpfmatrix/internal/digest"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// Guest paths where the job finds the kernel's config and bpftool.
const (
	guestConfig  = "/boot/config"
	guestBpftool = "/usr/sbin/bpftool"
)

// Options configure a matrix run.
type Options struct {
	Fetcher *fetch.Fetcher
	// CacheDir holds cached results (CacheDir/results); empty disables the cache.
	CacheDir string
	// NoCache ignores cached results (they are still refreshed).
	NoCache bool
	// Parallel is how many kernels run at once (default 1: under TCG one VM
	// with 2 vCPUs already uses both cores of these machines).
	Parallel int
	// CPUs and Memory per VM (defaults from internal/vm).
	CPUs, Memory int
	// BootTimeout and RunTimeout per VM.
	BootTimeout, RunTimeout time.Duration
	// Bpftool is the host bpftool to cross-check with inside each guest of
	// the host's architecture (with its shared libraries); empty skips the
	// cross-check there.
	Bpftool string
	// ForeignBpftool gives guests of another architecture Debian's bpftool
	// for theirs, with its libraries (fetch.Fetcher.Tools: verified and
	// cached like kernels), so that their results carry the cross-check too.
	// When it cannot be fetched the kernel still runs; its result's bpftool
	// check carries the error, and that result is not cached.
	ForeignBpftool bool
	// Verifier also runs the verifier corpus.
	Verifier bool
	// Observe also runs the attach-and-observe section (internal/observe):
	// features of kind observe and KernelResult.ObserveTime.
	Observe bool
	// Agent overrides vm.AgentBinary.
	Agent string
	// Logger receives progress records (kernel started, cached, failed).
	Logger *slog.Logger
	// Console receives VM consoles (verbose mode); nil buffers them.
	Console io.Writer
}

// Run produces one KernelResult per spec, in the order given. It returns an
// error only when the run as a whole could not start (ctx cancelled, no
// agent); per-kernel failures are recorded in KernelResult.Error.
func Run(ctx context.Context, specs []catalog.KernelSpec, opts Options) (*result.Matrix, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 1
	}
	m := &result.Matrix{Schema: result.SchemaVersion, Generated: time.Now().UTC(), Kernels: make([]result.KernelResult, len(specs))}
	skipped := Each(ctx, len(specs), opts.Parallel, func(i int) {
		m.Kernels[i] = runKernel(ctx, specs[i], opts)
	})
	for _, i := range skipped {
		m.Kernels[i] = failed(specs[i], nil, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		return m, err
	}
	return m, nil
}

func failed(spec catalog.KernelSpec, k *fetch.Kernel, err error) result.KernelResult {
	return result.KernelResult{Schema: result.SchemaVersion, Kernel: kernelInfo(spec, k), Error: err.Error()}
}

func kernelInfo(spec catalog.KernelSpec, k *fetch.Kernel) result.Kernel {
	ki := result.Kernel{Name: spec.Name, Version: spec.Version.String(), Arch: string(spec.Arch)}
	if k != nil {
		// A kernel given by OCI reference leaves its version to the
		// image; the fetched kernel has it.
		ki.Version = k.Version.String()
		ki.Release = k.Release
		ki.Source = k.Source
		ki.PackageVersion = k.PackageVersion
		ki.Digest = k.Digest
	}
	return ki
}

func runKernel(ctx context.Context, spec catalog.KernelSpec, opts Options) result.KernelResult {
	log := opts.Logger.With("kernel", spec.Name)
	k, err := opts.Fetcher.Fetch(ctx, spec)
	if err != nil {
		log.Warn("fetch failed", "err", err)
		return failed(spec, nil, err)
	}
	agent, job, key, agentDigest, bpftoolErr, err := resolve(ctx, spec, k, opts, false)
	if err != nil {
		return failed(spec, k, err)
	}
	cache := opts.cache()
	if !opts.NoCache {
		if kr, ok := cache.load(key); ok {
			log.Info("using cached result", "key", key[:12])
			kr.Cached = true
			kr.Kernel = kernelInfo(spec, k)
			return *kr
		}
	}
	log.Info("booting", "image", k.Image, "source", k.Source)
	var kr result.KernelResult
	res, err := AgentJSON(ctx, vm.Options{
		Arch: spec.Arch, Kernel: k.Image, Agent: agent,
		Memory: opts.Memory, CPUs: opts.CPUs,
		BootTimeout: opts.BootTimeout, RunTimeout: opts.RunTimeout,
		Console: opts.Console, Logger: log,
	}, job, &kr)
	if err != nil {
		log.Warn("vm failed", "err", err)
		return failed(spec, k, err)
	}
	if kr.Schema != result.SchemaVersion {
		return failed(spec, k, fmt.Errorf("decode agent result: schema %d, want %d", kr.Schema, result.SchemaVersion))
	}
	kr.Kernel = kernelInfo(spec, k)
	kr.Kernel.Release = res.Release
	kr.BootTime = result.Duration(res.BootTime)
	kr.Agent = "sha256:" + agentDigest
	if bpftoolErr != nil {
		// Not cached: the next run fetches bpftool again and checks.
		kr.Bpftool = &result.BpftoolCheck{Error: bpftoolErr.Error()}
		log.Warn("no bpftool cross-check", "err", bpftoolErr)
		return kr
	}
	if err := cache.store(key, &kr); err != nil {
		log.Warn("store result in cache", "err", err)
	}
	return kr
}

// resolve picks the agent and bpftool for spec's arch and builds the job and
// its cache key. offline takes a foreign-arch bpftool only from the cache.
// bpftoolErr says why a foreign-arch bpftool is missing (the job runs
// without it); err is fatal for the kernel.
func resolve(ctx context.Context, spec catalog.KernelSpec, k *fetch.Kernel, opts Options, offline bool) (agent string, job vm.Job, key, agentDigest string, bpftoolErr, err error) {
	agent = opts.Agent
	if agent == "" {
		if agent, err = vm.AgentBinary(ctx, spec.Arch); err != nil {
			return "", job, "", "", nil, err
		}
	}
	bpftool, libs, bpftoolErr, err := bpftoolFor(ctx, spec, opts, offline)
	if err != nil {
		return "", job, "", "", nil, err
	}
	job, key, agentDigest, err = buildJob(k, agent, bpftool, libs, opts)
	return agent, job, key, agentDigest, bpftoolErr, err
}

// errToolsNotCached: CachedKeys found no foreign-arch bpftool in the cache.
var errToolsNotCached = errors.New("bpftool for this architecture not cached")

// bpftoolFor returns the bpftool for spec's guest and the files it needs
// there (guest path -> host path), or "" for none: the host's own for the
// host's architecture (an error there is fatal, as the host's install is
// broken), Debian's for another (an error there is returned as bpftoolErr).
func bpftoolFor(ctx context.Context, spec catalog.KernelSpec, opts Options, offline bool) (bin string, libs map[string]string, bpftoolErr, err error) {
	if spec.Arch.GOARCH() == hostGOARCH() {
		if opts.Bpftool == "" {
			return "", nil, nil, nil
		}
		files, err := vm.DynamicClosure(opts.Bpftool)
		if err != nil {
			return "", nil, nil, err
		}
		bin = files[opts.Bpftool]
		delete(files, opts.Bpftool)
		return bin, files, nil, nil
	}
	if !opts.ForeignBpftool || opts.Fetcher == nil {
		return "", nil, nil, nil
	}
	var tools *fetch.Tools
	if offline {
		t, ok := opts.Fetcher.CachedTools(spec.Arch)
		if !ok {
			return "", nil, errToolsNotCached, nil
		}
		tools = t
	} else if tools, bpftoolErr = opts.Fetcher.Tools(ctx, spec.Arch); bpftoolErr != nil {
		return "", nil, bpftoolErr, nil
	}
	return tools.Bpftool, tools.BpftoolLibs, nil, nil
}

func (o Options) cache() resultCache {
	if o.CacheDir == "" {
		return resultCache{}
	}
	return resultCache{dir: filepath.Join(o.CacheDir, "results")}
}

// CachedKeys returns the result-cache key of every kernel when every kernel
// image and every result is already in the cache, without network, boots or
// decoding; ok is false otherwise. Callers use it to tell that a report built
// from exactly these results is already up to date.
func CachedKeys(ctx context.Context, specs []catalog.KernelSpec, opts Options) (keys []string, ok bool) {
	cache := opts.cache()
	if cache.dir == "" || opts.NoCache {
		return nil, false
	}
	for _, spec := range specs {
		k, ok := opts.Fetcher.Cached(spec)
		if !ok {
			return nil, false
		}
		_, _, key, _, bpftoolErr, err := resolve(ctx, spec, k, opts, true)
		if err != nil || bpftoolErr != nil || !cache.has(key) {
			return nil, false
		}
		keys = append(keys, key)
	}
	return keys, true
}

// buildJob assembles the guest job, the cache key that identifies its result
// and the agent's digest. The key covers everything that decides a result,
// each by content hashed now (a file edited in the cache must not return the
// result computed from the old one): the kernel image; every file the guest
// receives (the kernel's config, bpftool and its libraries) by guest path;
// the agent; the job's arguments; the VM's size; and the host's feature
// tables and verifier corpus, which say what counts as a finding.
func buildJob(k *fetch.Kernel, agent, bpftool string, bpftoolLibs map[string]string, opts Options) (vm.Job, string, string, error) {
	job := vm.Job{Program: agent, Files: map[string]string{}}
	job.Args = []string{"matrix"}
	if k.Config != "" {
		job.Files[guestConfig] = k.Config
		job.Args = append(job.Args, "--config", guestConfig)
	}
	if opts.Verifier {
		job.Args = append(job.Args, "--verifier")
	}
	if opts.Observe {
		job.Args = append(job.Args, "--observe")
	}
	if bpftool != "" {
		for g, h := range bpftoolLibs {
			job.Files[g] = h
		}
		job.Files[guestBpftool] = bpftool
		job.Args = append(job.Args, "--bpftool", guestBpftool)
	}
	if k.Image == "" {
		return job, "", "", fmt.Errorf("kernel %s: no image", k.Name)
	}
	imageDigest, err := fileDigest(k.Image)
	if err != nil {
		return job, "", "", fmt.Errorf("digest kernel image: %w", err)
	}
	agentDigest, err := fileDigest(agent)
	if err != nil {
		return job, "", "", fmt.Errorf("digest agent: %w", err)
	}
	corpus, err := corpusDigest()
	if err != nil {
		return job, "", "", err
	}
	parts := []string{
		"kernel=sha256:" + imageDigest,
		"agent=sha256:" + agentDigest,
		"args=" + strings.Join(job.Args, "\x00"),
		fmt.Sprintf("vm=%d cpus, %d MiB", opts.CPUs, opts.Memory),
		"tables=" + probe.TablesDigest(),
		"corpus=" + corpus,
	}
	for _, g := range slices.Sorted(maps.Keys(job.Files)) {
		hash := fileDigest
		if g == guestConfig {
			// Small, and what a finding is judged against: never memoised.
			hash = digest.File
		}
		d, err := hash(job.Files[g])
		if err != nil {
			return job, "", "", fmt.Errorf("digest %s: %w", g, err)
		}
		parts = append(parts, "file "+g+"=sha256:"+d)
	}
	return job, cacheKey(parts...), agentDigest, nil
}

func lastLine(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if i := bytes.LastIndexByte([]byte(s), '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no output on stderr"
	}
	return s
}
