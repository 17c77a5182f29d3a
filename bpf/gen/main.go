// Command gen compiles the verifier corpus's C cases (bpf/corpus/*.c) into
// the committed objects (bpf/corpus/*.o), or with -check reports objects that
// are stale, missing or orphaned and exits 1.
//
// Output is deterministic: clang runs from bpf/corpus with relative paths and
// -fdebug-compilation-dir=. (BTF line info would otherwise carry the
// checkout's absolute path), and DWARF is stripped (llvm-strip -g, as bpf2go
// does) while .BTF and .BTF.ext stay. The objects depend on the clang
// version: CLANG/STRIP default to Debian bookworm's clang-14/llvm-strip-14.
//
// Usage: go run ./bpf/gen [-check] [-dir bpf]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"golang.org/x/sync/errgroup"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("gen", flag.ContinueOnError)
	check := fl.Bool("check", false, "compare freshly built objects with the committed ones instead of writing")
	dir := fl.String("dir", "bpf", "the bpf/ directory")
	if err := fl.Parse(args); err != nil {
		return err
	}
	clang := envOr("CLANG", "clang-14")
	strip := envOr("STRIP", "llvm-strip-14")

	raw, err := os.ReadFile(filepath.Join(*dir, "manifest.json"))
	if err != nil {
		return err
	}
	cases, err := bpf.ParseManifest(raw)
	if err != nil {
		return err
	}
	corpus := filepath.Join(*dir, "corpus")
	if err := checkSources(corpus, cases); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(corpus, ".gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for _, c := range cases {
		if c.Source != bpf.SourceC {
			continue
		}
		g.Go(func() error { return build(ctx, clang, strip, corpus, tmp, c) })
	}
	if err := g.Wait(); err != nil {
		return err
	}

	var stale []string
	for _, c := range cases {
		if c.Source != bpf.SourceC {
			continue
		}
		obj := c.Name + ".o"
		fresh, err := os.ReadFile(filepath.Join(tmp, obj))
		if err != nil {
			return err
		}
		old, err := os.ReadFile(filepath.Join(corpus, obj))
		if err == nil && bytes.Equal(old, fresh) {
			continue
		}
		if *check {
			stale = append(stale, obj)
			continue
		}
		// Rename within one directory: atomic.
		if err := os.Rename(filepath.Join(tmp, obj), filepath.Join(corpus, obj)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(corpus, obj))
	}
	if len(stale) > 0 {
		return fmt.Errorf("objects out of date with their sources or %s (run `make bpf`): %s", clang, strings.Join(stale, ", "))
	}
	return nil
}

// checkSources insists that corpus/*.c and the manifest's C cases match one to one
// and that no object lacks its case.
func checkSources(corpus string, cases []bpf.Case) error {
	want := map[string]bool{}
	for _, c := range cases {
		if c.Source == bpf.SourceC {
			want[c.Name] = true
			if _, err := os.Stat(filepath.Join(corpus, c.Name+".c")); err != nil {
				return fmt.Errorf("case %s: %w", c.Name, err)
			}
		}
	}
	ents, err := os.ReadDir(corpus)
	if err != nil {
		return err
	}
	var orphans []string
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if ext != ".c" && ext != ".o" {
			continue
		}
		if !want[strings.TrimSuffix(e.Name(), ext)] {
			orphans = append(orphans, e.Name())
		}
	}
	sort.Strings(orphans)
	if len(orphans) > 0 {
		return fmt.Errorf("files without a C case in manifest.json: %s", strings.Join(orphans, ", "))
	}
	return nil
}

func build(ctx context.Context, clang, strip, corpus, tmp string, c bpf.Case) error {
	rel, err := filepath.Rel(corpus, filepath.Join(tmp, c.Name+".o"))
	if err != nil {
		return err
	}
	args := []string{
		"-target", "bpf", "-O2", "-g", "-Wall", "-Werror",
		"-fdebug-compilation-dir=.", "-fno-ident",
		"-I../include", "-idirafter", "/usr/include/" + multiarch(),
	}
	args = append(args, c.CFlags...)
	args = append(args, "-c", c.Name+".c", "-o", rel)
	if err := runTool(ctx, corpus, clang, args...); err != nil {
		return fmt.Errorf("compile %s: %w", c.Name, err)
	}
	if err := runTool(ctx, corpus, strip, "-g", rel); err != nil {
		return fmt.Errorf("strip %s: %w", c.Name, err)
	}
	return nil
}

func runTool(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: %w\n%s", name, err, out.String())
		}
		return fmt.Errorf("%s: %w (install clang-14 and llvm-14, or set CLANG/STRIP)", name, err)
	}
	return nil
}

// multiarch names the directory of the asm/ UAPI headers that linux/types.h includes.
func multiarch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	default:
		return "x86_64-linux-gnu"
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
