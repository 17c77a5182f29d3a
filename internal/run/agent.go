package run

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// Each calls fn(i) for every i in [0, n), at most limit (default 1) at a
// time, and waits for them. Indices not started when ctx is done are skipped
// and returned, in order, for the caller to mark as cancelled.
func Each(ctx context.Context, n, limit int, fn func(i int)) (skipped []int) {
	if limit <= 0 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				skipped = append(skipped, i)
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
	slices.Sort(skipped)
	return skipped
}

// AgentJSON boots opts.Kernel, runs job (the agent with a subcommand that
// writes one JSON document on stdout) and decodes that document into v.
// opts.Stdout and opts.Stderr are replaced by buffers. The VM's result is
// returned whenever the VM ran. A non-zero exit status is an error carrying
// the last line of the job's stderr; so is output that is not one JSON
// document.
func AgentJSON(ctx context.Context, opts vm.Options, job vm.Job, v any) (*vm.Result, error) {
	var stdout, stderr bytes.Buffer
	opts.Stdout, opts.Stderr = &stdout, &stderr
	res, err := vm.Run(ctx, opts, job)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 || res.Signal != "" {
		status := fmt.Sprintf("status %d", res.ExitCode)
		if res.Signal != "" {
			status = "signal " + res.Signal
		}
		return res, fmt.Errorf("agent %v exited with %s: %s", job.Args, status, lastLine(stderr.String()))
	}
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(v); err != nil {
		return res, fmt.Errorf("decode agent result: %w", err)
	}
	if dec.More() {
		return res, fmt.Errorf("decode agent result: more than one JSON document")
	}
	return res, nil
}
