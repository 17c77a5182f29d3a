package object

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// SourceLine is where one instruction came from.
type SourceLine struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

func (s SourceLine) String() string {
	return fmt.Sprintf("%s:%d: %s", s.File, s.Line, s.Text)
}

// Sources maps each instruction of program (by raw instruction offset, the
// index the verifier prints) to its source line, from the object's BTF line
// info. Line info marks the first instruction of each line; the following
// ones inherit it. ok is false when the program has no line info (an object
// built without -g).
//
// The offsets are those of the instructions cilium/ebpf hands to the
// kernel: the ELF reader has already appended the called subprograms, and
// loading rewrites instructions in place (CO-RE, map FDs) without adding or
// removing any.
func (o *Object) Sources(program string) (src map[int]SourceLine, ok bool) {
	if o.Spec == nil {
		return nil, false
	}
	ps := o.Spec.Programs[program]
	if ps == nil {
		return nil, false
	}
	src = map[int]SourceLine{}
	var cur *SourceLine
	iter := ps.Instructions.Iterate()
	for iter.Next() {
		// Line 0 is the compiler saying "no particular line" (spills,
		// address arithmetic): keep the line before.
		if l, isLine := iter.Ins.Source().(*btf.Line); isLine && l != nil && l.LineNumber() > 0 {
			cur = &SourceLine{File: l.FileName(), Line: int(l.LineNumber()), Text: strings.TrimSpace(l.Line())}
			ok = true
		}
		if cur != nil {
			src[int(iter.Offset)] = *cur
		}
	}
	return src, ok
}

var (
	// insnLine is an instruction in a verifier log: "12: (85) call bpf_loop#181".
	insnLine = regexp.MustCompile(`^(\d+): \([0-9a-f]{2}\) (.*)$`)
	// indexLine is any line that starts with an instruction index: the
	// instruction itself or the register state at it ("12: R0=...").
	indexLine = regexp.MustCompile(`^(\d+): `)
	// insnState is the register state 6.x prints after an instruction.
	insnState = regexp.MustCompile(`\s+; .*$`)
)

// Failing is the instruction the verifier stopped at.
type Failing struct {
	Index int
	// Insn is the instruction as the log prints it ("call bpf_loop#181").
	Insn string
	// LogLine is the 0-based line of the log that shows it.
	LogLine int
}

// FailingInsn finds the last instruction the verifier reported before the
// line summary (its reason for the rejection; empty: the last line that is
// not a statistic). ok is false when the log names no instruction (a
// rejection before verification: bad BTF, unknown program type).
func FailingInsn(log, summary string) (Failing, bool) {
	lines := strings.Split(log, "\n")
	end := len(lines)
	summary = strings.TrimSpace(summary)
	for i := len(lines) - 1; i >= 0; i-- {
		if summary != "" && strings.TrimSpace(lines[i]) == summary {
			end = i
			break
		}
	}
	fallback := Failing{Index: -1}
	for i := end - 1; i >= 0; i-- {
		if m := insnLine.FindStringSubmatch(lines[i]); m != nil {
			n, _ := strconv.Atoi(m[1])
			return Failing{Index: n, Insn: insnState.ReplaceAllString(m[2], ""), LogLine: i}, true
		}
		if fallback.Index < 0 {
			if m := indexLine.FindStringSubmatch(lines[i]); m != nil {
				n, _ := strconv.Atoi(m[1])
				fallback = Failing{Index: n, LogLine: i}
			}
		}
	}
	return fallback, fallback.Index >= 0
}

// FailMarker prefixes the failing instruction's line in an annotated log.
const FailMarker = ">>> "

// Annotate writes log with the source lines of src: an instruction whose
// source line differs from the previous instruction's (and the failing one)
// gets "  // file:line: text" appended. When summary names a rejection, a header
// gives the failing instruction, its source line and the verifier's reason,
// and the instruction's line in the log is prefixed with FailMarker. The
// log itself is never shortened.
func Annotate(w io.Writer, log, summary string, src map[int]SourceLine) error {
	failing, haveFailing := Failing{Index: -1}, false
	if summary != "" {
		failing, haveFailing = FailingInsn(log, summary)
	}
	var b strings.Builder
	if haveFailing {
		fmt.Fprintf(&b, "failing instruction: %d", failing.Index)
		if failing.Insn != "" {
			fmt.Fprintf(&b, ": %s", failing.Insn)
		}
		b.WriteString("\n")
		if s, ok := src[failing.Index]; ok {
			fmt.Fprintf(&b, "source: %s\n", s)
		} else {
			b.WriteString("source: unknown (no BTF line info for this instruction)\n")
		}
	}
	if summary != "" {
		fmt.Fprintf(&b, "verifier: %s\n", summary)
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	var last SourceLine
	for i, line := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		if haveFailing && i == failing.LogLine {
			b.WriteString(FailMarker)
		}
		b.WriteString(line)
		if m := insnLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			isFailing := haveFailing && i == failing.LogLine
			if s, ok := src[n]; ok && (isFailing || s.File != last.File || s.Line != last.Line) {
				fmt.Fprintf(&b, "  // %s", s)
				last = s
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
