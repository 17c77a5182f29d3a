package object

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/verifier"
)

// libbpfTimeout bounds one bpftool load: the verifier's own limits end a
// load within seconds even under TCG; this catches a hung tool.
const libbpfTimeout = 5 * time.Minute

// loadLibbpf loads the object at path with libbpf, through bpftool: one
// "bpftool -d prog loadall" per program, on a copy of the object in which
// every other program's section is marked not executable, so that libbpf
// skips those programs (and their relocations), and another program of the
// same section has its symbol made untyped, so that one rejection hides
// nothing, as with cilium/ebpf. -d makes bpftool load at log level 1+2+4
// and print libbpf's debug output, which carries each program's verifier
// log between "-- BEGIN PROG LOAD LOG --" and "-- END PROG LOAD LOG --",
// and "BPF program load failed: REASON" on a rejection. Values are not
// applied: bpftool cannot set them (the report notes it).
func loadLibbpf(path string, opts LoadOptions, notes []string) ObjectReport {
	rep := ObjectReport{Path: path, Loader: string(LoaderLibbpf), Notes: notes}
	if opts.Bpftool == "" {
		rep.Error = fmt.Sprintf("load %s with libbpf: no bpftool in the guest", path)
		return rep
	}
	if len(opts.Values.Variables)+len(opts.Values.MaxEntries)+len(opts.Values.AttachTargets) > 0 {
		rep.Notes = append(rep.Notes, "values from user space not applied: the libbpf loader (bpftool) cannot set them")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		rep.Error = fmt.Sprintf("load %s: %v", path, err)
		return rep
	}
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		rep.Error = fmt.Sprintf("parse %s: %v", path, err)
		return rep
	}
	progs, maps := elfNames(ef)
	progSec := map[string]int{} // program -> section index
	progSym := map[string]int{} // program -> symbol index
	syms, _ := ef.Symbols()
	for i, s := range syms {
		if slices.Contains(progs, s.Name) && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			progSec[s.Name] = int(s.Section)
			progSym[s.Name] = i + 1 // Symbols leaves out the null symbol
		}
	}
	want := progs
	if len(opts.Programs) > 0 {
		want = opts.Programs
	}
	dir, err := os.MkdirTemp("", "bpfmatrix-libbpf-")
	if err != nil {
		rep.Error = fmt.Sprintf("load %s: %v", path, err)
		return rep
	}
	defer os.RemoveAll(dir)

	// A struct_ops map's relocations name every program it holds: those
	// load together (libbpf: "struct_ops reloc ...: cannot find prog"
	// otherwise), and a rejection among them can hide the others'.
	structOps := map[string]bool{}
	for name, sec := range progSec {
		if sec > 0 && sec < len(ef.Sections) && strings.HasPrefix(ef.Sections[sec].Name, "struct_ops") {
			structOps[name] = true
		}
	}

	mapErr := map[string]string{}
	loadedMaps := false
	for i, name := range want {
		img := slices.Clone(raw)
		for other, sec := range progSec {
			switch {
			case structOps[name] && structOps[other]:
				// Loaded with it: see structOps.
			case sec != progSec[name]:
				clearExec(img, ef, sec)
			case other != name:
				// Same section (two SEC("xdp") functions): libbpf finds
				// programs by their function symbols, and skips the
				// relocations and BTF records of code no symbol claims.
				hideSymbol(img, ef, progSym[other])
			}
		}
		obj := filepath.Join(dir, strconv.Itoa(i)+"-"+filepath.Base(path))
		if err := os.WriteFile(obj, img, 0o644); err != nil {
			rep.Error = fmt.Sprintf("load %s: %v", path, err)
			return rep
		}
		pin := fmt.Sprintf("/sys/fs/bpf/bpfmatrix-libbpf-%d-%d", os.Getpid(), i)
		out, runErr := runBpftool(opts.Bpftool, "-d", "prog", "loadall", obj, pin)
		os.RemoveAll(pin)
		po := parseLibbpfOutput(name, out, runErr)
		po.Object, po.Program, po.Loader = path, name, string(LoaderLibbpf)
		if po.Accepted && !opts.FullLog {
			po.Log = ""
		}
		rep.Programs = append(rep.Programs, po)
		for m, e := range libbpfMapErrors(out) {
			mapErr[m] = e
		}
		if runErr == nil || strings.Contains(out, "BPF program load failed") {
			loadedMaps = true // libbpf creates every map before it loads a program
		}
	}
	for _, m := range maps {
		mo := MapOutcome{Name: m, Type: "-"}
		for lm, e := range mapErr {
			if lm == m || strings.HasSuffix(lm, m) {
				mo.Error = e
			}
		}
		switch {
		case mo.Error != "":
		case loadedMaps:
			mo.Created = true
		default:
			mo.Error = "not created: libbpf stopped before creating maps (see the programs' errors)"
		}
		rep.Maps = append(rep.Maps, mo)
	}
	return rep
}

// hideSymbol makes symbol sym of img (a copy of the object ef was read
// from) STT_NOTYPE, so that libbpf sees no program there.
func hideSymbol(img []byte, ef *elf.File, sym int) {
	symtab := ef.SectionByType(elf.SHT_SYMTAB)
	if symtab == nil || sym <= 0 {
		return
	}
	off := symtab.Offset + uint64(sym)*uint64(elf.Sym64Size) + 4 // st_info
	if off >= uint64(len(img)) {
		return
	}
	img[off] = img[off]&0xf0 | byte(elf.STT_NOTYPE)
}

// clearExec clears SHF_EXECINSTR in section sec's header of img (a copy of
// the object ef was read from): libbpf then skips it as a program section.
func clearExec(img []byte, ef *elf.File, sec int) {
	// ELF64 header: e_shoff at 0x28, e_shentsize at 0x3a; section header:
	// sh_flags at offset 8.
	bo := binary.LittleEndian
	shoff := bo.Uint64(img[0x28:])
	entsize := uint64(bo.Uint16(img[0x3a:]))
	off := shoff + uint64(sec)*entsize + 8
	if off+8 > uint64(len(img)) {
		return
	}
	bo.PutUint64(img[off:], bo.Uint64(img[off:])&^uint64(elf.SHF_EXECINSTR))
}

func runBpftool(bpftool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), libbpfTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bpftool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

var (
	libbpfLoadFailed = regexp.MustCompile(`(?m)^libbpf: prog '([^']+)': BPF program load failed: (.*)$`)
	libbpfMapFailed  = regexp.MustCompile(`(?m)^libbpf: map '([^']+)': failed to create: (.*)$`)
	// libbpf_find_attach_btf_id: the target is not in the kernel's BTF
	// (ESRCH, -3).
	libbpfNoTarget = regexp.MustCompile(`(?m)^libbpf: prog '([^']+)': failed to find kernel BTF type ID of '([^']+)': -3$`)
	libbpfWarning  = regexp.MustCompile(`(?m)^(libbpf: .*(?:[Ff]ailed|[Ee]rror|not found|unsupported|invalid).*)$`)
)

// parseLibbpfOutput reads bpftool -d's output for program name.
func parseLibbpfOutput(name, out string, runErr error) ProgramOutcome {
	var po ProgramOutcome
	log := progLoadLog(out, name)
	if runErr == nil {
		st := verifier.ParseStats(log)
		po.Accepted, po.Insns, po.PeakStates, po.Summary, po.Log = true, st.Insns, st.PeakStates, st.Processed, log
		if st.VerifyUsec >= 0 {
			po.VerifyTime = strconv.FormatInt(st.VerifyUsec, 10) + "us"
		}
		return po
	}
	for _, m := range libbpfLoadFailed.FindAllStringSubmatch(out, -1) {
		if m[1] != name {
			continue
		}
		st := verifier.ParseStats(log)
		po.Insns, po.PeakStates, po.Log = st.Insns, st.PeakStates, log
		po.Errno = errnoFromText(m[2])
		po.Summary = verifier.SummaryLine(log)
		if po.Summary == "" {
			po.Summary = "libbpf: " + m[2]
		}
		return po
	}
	for _, m := range libbpfNoTarget.FindAllStringSubmatch(out, -1) {
		if m[1] == name {
			po.NeedsValue = attachTargetMissing(m[2], name)
			po.Log = out
			return po
		}
	}
	// Refused before the verifier (a map, BTF, an extern, the attach
	// target): libbpf's warnings say why; the program was not judged.
	var why []string
	for _, m := range libbpfWarning.FindAllStringSubmatch(out, -1) {
		why = append(why, strings.TrimPrefix(m[1], "libbpf: "))
	}
	if len(why) == 0 {
		why = append(why, "bpftool: "+oneLine(lastLines(out, 2))+": "+runErr.Error())
	}
	po.Summary = "libbpf: " + strings.Join(why, "; ")
	po.Log = out
	return po
}

// progLoadLog is the verifier log libbpf printed for program name.
func progLoadLog(out, name string) string {
	begin := "libbpf: prog '" + name + "': -- BEGIN PROG LOAD LOG --\n"
	i := strings.Index(out, begin)
	if i < 0 {
		return ""
	}
	rest := out[i+len(begin):]
	if j := strings.Index(rest, "-- END PROG LOAD LOG --"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func libbpfMapErrors(out string) map[string]string {
	errs := map[string]string{}
	for _, m := range libbpfMapFailed.FindAllStringSubmatch(out, -1) {
		errs[m[1]] = "libbpf: failed to create: " + m[2]
	}
	return errs
}

// errnoFromText maps libbpf's strerror text ("Permission denied", or
// "-13") to an errno name.
func errnoFromText(s string) string {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(strings.TrimPrefix(s, "-")); err == nil && n > 0 {
		return unix.ErrnoName(unix.Errno(n))
	}
	for e := unix.Errno(1); e < 134; e++ {
		if strings.EqualFold(e.Error(), s) {
			return unix.ErrnoName(e)
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " ")
}
