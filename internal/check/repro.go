package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bpfmatrix/bpfmatrix/internal/needs"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// ReproDir is the default artifact directory of a repro of obj on spec:
// repro-OBJECT-KERNEL-TIME.
func ReproDir(obj *object.Object, spec catalog.KernelSpec, now time.Time) string {
	base := strings.TrimSuffix(filepath.Base(obj.Path), filepath.Ext(obj.Path))
	return fmt.Sprintf("repro-%s-%s-%s", base, spec.Name, now.Format("20060102-150405"))
}

// ReproResult is what Repro found.
type ReproResult struct {
	// Dir is the artifact directory.
	Dir string
	// Text is the annotated report for people: one "=== OBJECT PROGRAM on
	// KERNEL (RELEASE): VERDICT" header and annotated log per program.
	Text []byte
	// Failed counts programs rejected or without a verdict, and maps not
	// created (needs_value, needs_module and not_loaded do not count).
	Failed int
	Load   KernelLoad
}

// Repro boots spec once, loads obj (opts.Programs, or all) with the
// level-2 log kept, and writes an artifact directory at out: raw and
// annotated logs, a copy of the object, kernel.json, result.json, the
// console, the initramfs and rerun.sh (this repro and the exact QEMU line).
// out must not exist; everything is staged next to it and renamed into
// place at the end, so an interrupted repro leaves no half artifact, and a
// killed one's stage is removed by the next repro there (a vm.RunDir:
// locked while its repro lives).
//
// The error is set when no verdict came back (the kernel failed, or the
// object could not be loaded at all: then Load.Report carries the stack of
// a loader crash).
func Repro(ctx context.Context, spec catalog.KernelSpec, obj *object.Object, out string, opts Options) (*ReproResult, error) {
	parent := filepath.Dir(filepath.Clean(out))
	rd, err := vm.NewRunDir(parent, ReproStagePrefix)
	if err != nil {
		return nil, fmt.Errorf("create artifact directory: %w", err)
	}
	defer rd.Close()
	stage := rd.Path()
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact directory: %w", err)
	}
	opts.FullLog, opts.TempDir, opts.KeepFiles, opts.Parallel = true, stage, true, 1
	kl := Load(ctx, []catalog.KernelSpec{spec}, []*object.Object{obj}, opts)[0]
	res := &ReproResult{Dir: out, Load: kl}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if kl.Err != nil {
		return res, kl.Err
	}
	or := kl.Report.Objects[0]
	if or.Error != "" {
		return res, fmt.Errorf("repro on %s: %s", spec.Name, or.Error)
	}

	art := artifact{dir: stage}
	// Keep the initramfs the VM booted with, so that the QEMU line reruns
	// exactly this boot.
	qemuLine := ""
	if kl.VM != nil {
		initrd, err := moveInitramfs(stage, kl.VM.Cmdline)
		if err != nil {
			return res, err
		}
		final := filepath.Join(out, "initramfs.cpio")
		if abs, err := filepath.Abs(final); err == nil {
			final = abs
		}
		qemuLine = strings.ReplaceAll(kl.VM.Repro, initrd, final)
		art.write("console.log", kl.VM.Console)
	}
	objCopy := filepath.Base(obj.Path)
	if err := copyFile(obj.Path, filepath.Join(stage, objCopy)); err != nil {
		return res, fmt.Errorf("copy object: %w", err)
	}
	col := Column(kl)
	kinfo, _ := json.MarshalIndent(col, "", "  ")
	art.write("kernel.json", append(kinfo, '\n'))
	rep, _ := json.MarshalIndent(kl.Report, "", "  ")
	art.write("result.json", append(rep, '\n'))

	var rerun bytes.Buffer
	fmt.Fprintf(&rerun, "#!/bin/sh\n# Reproduce: %s on %s (%s, kernel image %s).\n", obj.Path, spec.Name, col.Release, col.Digest)
	fmt.Fprintf(&rerun, "# Run from this directory. The bpfmatrix way (fetches the kernel if needed):\n")
	cmdArgs := []string{"bpfmatrix", "repro", "--kernel", spec.Name}
	for _, p := range opts.Programs {
		cmdArgs = append(cmdArgs, "--program", p)
	}
	if opts.Loader != "" {
		cmdArgs = append(cmdArgs, "--loader", string(opts.Loader))
	}
	cmdArgs = append(cmdArgs, opts.Values.Args()...)
	cmdArgs = append(cmdArgs, objCopy)
	fmt.Fprintf(&rerun, "%s\n", vm.ShellQuote(cmdArgs))
	fmt.Fprintf(&rerun, "# The same boot with QEMU alone (console on stdout, agent frames in bpfmatrix-data.bin):\n# %s\n", qemuLine)
	art.write("rerun.sh", rerun.Bytes())

	var ex *needs.Explainer
	if spec := obj.AnalysisSpec(); spec != nil {
		ex, _ = needs.NewExplainer(spec) // no explainer: the kernel's log stands alone
	}
	why := func(kind, name string) string {
		if ex == nil {
			return ""
		}
		var s string
		var ok bool
		if kind == KindMap {
			s, ok = ex.Map(name, col.Kernel)
		} else {
			s, ok = ex.Program(name, col.Kernel)
		}
		if !ok {
			return ""
		}
		return "why: " + s + "\n"
	}
	// moduleNeed names the module a refused program or map needs ("" for
	// none): the kernel's log follows, but it is no verdict on the object.
	moduleNeed := func(kind, name string) string {
		if ex == nil || kl.Modules == nil {
			return ""
		}
		mods := needs.Modules{Kfuncs: kl.Modules.Kfuncs, StructOps: kl.Modules.StructOps}
		var n needs.ModuleNeed
		var ok bool
		if kind == KindMap {
			n, ok = ex.MapModule(name, mods)
		} else {
			n, ok = ex.ProgramModule(name, mods)
		}
		if !ok {
			return ""
		}
		return n.String() + ", which the guest does not load"
	}
	var text bytes.Buffer
	loader := ""
	if or.Loader == string(object.LoaderLibbpf) {
		loader = " [libbpf]"
	}
	for _, m := range or.Maps {
		switch {
		case m.NeedsValue != "":
			fmt.Fprintf(&text, "=== %s map %s (%s) on %s (%s)%s: NEEDS A VALUE: %s\n", filepath.Base(obj.Path), m.Name, m.Type, spec.Name, col.Release, loader, m.NeedsValue)
		case !m.Created && moduleNeed(KindMap, m.Name) != "":
			fmt.Fprintf(&text, "=== %s map %s (%s) on %s (%s)%s: NEEDS A MODULE: %s\n", filepath.Base(obj.Path), m.Name, m.Type, spec.Name, col.Release, loader, moduleNeed(KindMap, m.Name))
		case !m.Created:
			fmt.Fprintf(&text, "=== %s map %s (%s) on %s (%s)%s: NOT CREATED: %s\n", filepath.Base(obj.Path), m.Name, m.Type, spec.Name, col.Release, loader, m.Error)
			text.WriteString(why(KindMap, m.Name))
			res.Failed++
		case len(or.Programs) == 0:
			fmt.Fprintf(&text, "=== %s map %s (%s) on %s (%s)%s: CREATED\n", filepath.Base(obj.Path), m.Name, m.Type, spec.Name, col.Release, loader)
		}
	}
	for _, p := range or.Programs {
		verdict := "ACCEPTED"
		summary := ""
		switch {
		case p.Error != "":
			// Not judged: the reason, and for a loader crash its stack (Log).
			verdict = "ERROR: " + p.Error
			res.Failed++
		case p.NeedsValue != "":
			verdict = "NEEDS A VALUE: " + p.NeedsValue
		case !p.Accepted && moduleNeed(KindProgram, p.Program) != "":
			verdict, summary = "NEEDS A MODULE: "+moduleNeed(KindProgram, p.Program), p.Summary
		case p.Inconclusive != "":
			verdict = "NOT LOADED: " + p.Inconclusive
		case !p.Accepted:
			verdict, summary = "REJECTED", p.Summary
			res.Failed++
		}
		fmt.Fprintf(&text, "=== %s %s on %s (%s)%s: %s\n", filepath.Base(obj.Path), p.Program, spec.Name, col.Release, loader, verdict)
		if verdict == "REJECTED" {
			text.WriteString(why(KindProgram, p.Program))
		}
		if p.Log == "" {
			fmt.Fprintln(&text, "(no verifier log)")
			continue
		}
		src, _ := obj.Sources(p.Program)
		var ann bytes.Buffer
		if err := object.Annotate(&ann, p.Log, summary, src); err != nil {
			return res, err
		}
		art.write(p.Program+".log", []byte(strings.TrimRight(p.Log, "\n")+"\n"))
		art.write(p.Program+".annotated.log", ann.Bytes())
		text.Write(ann.Bytes())
		fmt.Fprintln(&text)
	}
	if art.err != nil {
		return res, fmt.Errorf("write artifacts: %w", art.err)
	}
	if err := rd.Commit(out); err != nil {
		return res, fmt.Errorf("write artifacts: %w", err)
	}
	fmt.Fprintf(&text, "artifacts: %s\n", out)
	res.Text = text.Bytes()
	return res, nil
}

// artifact writes files into dir, keeping the first error.
type artifact struct {
	dir string
	err error
}

func (a *artifact) write(name string, b []byte) {
	if a.err == nil {
		a.err = os.WriteFile(filepath.Join(a.dir, name), b, 0o644)
	}
}

// moveInitramfs moves the initramfs named in the QEMU argv to
// stage/initramfs.cpio and returns its old path.
func moveInitramfs(stage string, argv []string) (string, error) {
	for i, a := range argv {
		if a == "-initrd" && i+1 < len(argv) {
			old := argv[i+1]
			if err := os.Rename(old, filepath.Join(stage, "initramfs.cpio")); err != nil {
				return "", fmt.Errorf("keep initramfs: %w", err)
			}
			os.Remove(filepath.Dir(old)) // the now empty run directory
			return old, nil
		}
	}
	return "", errors.New("keep initramfs: no -initrd in the QEMU command")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ReproStagePrefix names repro's staging directories (see vm.RunDir).
const ReproStagePrefix = ".bpfmatrix-repro-"
