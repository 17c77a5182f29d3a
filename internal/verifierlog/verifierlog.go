package verifierlog

import (
	"bytes"
	"strconv"
)

// statsPrefixes start the lines the verifier prints after its verdict at
// BPF_LOG_STATS (print_verification_stats): "verification time N usec",
// "stack depth ...", "processed N insns (limit ...) ...", and, since 7.2,
// "insns processed N". Kernels keep adding lines to this block (7.3 adds
// "subprog 0 (NAME) main insns_self N ..."), so Complaint does not rely on
// this list: it cuts the log at the block's first line (statsAnchors).
var statsPrefixes = [][]byte{[]byte("processed "), []byte("verification time"), []byte("stack depth"), []byte("insns processed"), []byte("mark_read ")}

// statsAnchors open the statistics block: print_verification_stats prints
// "verification time" first at BPF_LOG_STATS (since 5.2) and "processed N
// insns" at every level (since 4.x). Whatever follows an anchor is
// statistics, whatever its shape.
var statsAnchors = [][]byte{[]byte("verification time "), []byte("processed ")}

// diagnosticHeader opens the structured explanation 7.3 prints after the
// verifier's own message ("Verification failed: Policy: ...", then
// indented "Reason:", "At:", "Suggestion:" sections). The message the
// kernel has always printed precedes it.
var diagnosticHeader = []byte("Verification failed:")

// "infinite loop detected at insn N" is followed by the two states it
// compared; a level-2 log traces instructions ("N: (b7) r0 = 0"), register
// states ("N: R0_w=0", "from 2 to 4: ...") and precision backtracking
// ("last_idx 1 first_idx 0", "regs=1 stack=0 before 0: ..."). None of
// them is a complaint: a log that holds nothing else is a program the
// verifier accepted and something after it refused (the arm64 JIT of 6.1
// answers a gotol with ENOTSUPP).
var statePrefixes = [][]byte{[]byte("cur state:"), []byte("old state:"), []byte("from "), []byte("last_idx "),
	[]byte("regs="), []byte("parent "), []byte("func#"), []byte("Validating ")}

// isTraceLine reports whether line is "N: ..." (an instruction or a state).
func isTraceLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	i := 0
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], []byte(": "))
}

// IsStatsLine reports whether line (leading and trailing space ignored) is
// blank or one of the verifier's closing statistics lines known by shape.
func IsStatsLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) == 0 || hasAnyPrefix(line, statsPrefixes)
}

// Body returns log without its statistics block: everything before the
// first line that opens it (an anchor followed by a number). A log with no
// anchor is returned whole. It does not allocate.
func Body(log []byte) []byte {
	rest := log
	off := 0
	for len(rest) > 0 {
		line := rest
		next := len(rest)
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, next = rest[:i], i+1
		}
		if isAnchor(line) {
			return log[:off]
		}
		off += next
		rest = rest[next:]
	}
	return log
}

func isAnchor(line []byte) bool {
	for _, a := range statsAnchors {
		if after, ok := bytes.CutPrefix(line, a); ok && len(after) > 0 && after[0] >= '0' && after[0] <= '9' {
			return true
		}
	}
	return false
}

// Complaint returns the verifier's reason for a rejection: the last line of
// the log's body (before the statistics block, and before a structured
// "Verification failed:" explanation where the kernel prints one) that is
// not blank and not part of the verifier's trace (statePrefixes), without
// surrounding space; nil when there is none (an empty log, or one with
// nothing but statistics). It does not allocate; the result aliases log.
func Complaint(log []byte) []byte {
	log = Body(bytes.TrimRight(log, "\x00"))
	if i := bytes.Index(log, diagnosticHeader); i >= 0 && (i == 0 || log[i-1] == '\n') {
		log = log[:i]
	}
	for len(log) > 0 {
		log = bytes.TrimRight(log, "\n")
		line := log
		if i := bytes.LastIndexByte(log, '\n'); i >= 0 {
			line, log = log[i+1:], log[:i]
		} else {
			log = nil
		}
		if IsStatsLine(line) || hasAnyPrefix(bytes.TrimSpace(line), statePrefixes) || isTraceLine(line) {
			continue
		}
		return bytes.TrimSpace(line)
	}
	return nil
}

// Processed returns N from the verifier's "processed N insns" line: how
// many instructions it walked before its verdict (0 when it refused the
// program before looking at any). ok is false when the log has no such
// line.
func Processed(log []byte) (n int, ok bool) {
	const p = "processed "
	for rest := log; ; {
		i := bytes.Index(rest, []byte(p))
		if i < 0 {
			return 0, false
		}
		if i == 0 || rest[i-1] == '\n' {
			tail := rest[i+len(p):]
			j := 0
			for j < len(tail) && tail[j] >= '0' && tail[j] <= '9' {
				j++
			}
			if j > 0 && bytes.HasPrefix(tail[j:], []byte(" insns")) {
				v, err := strconv.Atoi(string(tail[:j]))
				return v, err == nil
			}
		}
		rest = rest[i+len(p):]
	}
}

func hasAnyPrefix(line []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
