package verifierlog

import "bytes"

// statsPrefixes start the lines the verifier prints after its verdict at
// BPF_LOG_STATS (print_verification_stats): "verification time N usec",
// "stack depth ...", "processed N insns (limit ...) ...", and, since 7.2,
// "insns processed N".
var statsPrefixes = [][]byte{[]byte("processed "), []byte("verification time"), []byte("stack depth"), []byte("insns processed"), []byte("mark_read ")}

// "infinite loop detected at insn N" is followed by the two states it
// compared.
var statePrefixes = [][]byte{[]byte("cur state:"), []byte("old state:")}

// IsStatsLine reports whether line (leading and trailing space ignored) is
// blank or one of the verifier's closing statistics lines.
func IsStatsLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) == 0 || hasAnyPrefix(line, statsPrefixes)
}

// Complaint returns the verifier's reason for a rejection: the last line of
// log that is neither a statistics line nor a state printed after "infinite
// loop detected", without surrounding space; nil when there is none (an
// empty log, or one with nothing but statistics). It does not allocate; the
// result aliases log.
func Complaint(log []byte) []byte {
	for len(log) > 0 {
		log = bytes.TrimRight(log, "\n\x00")
		line := log
		if i := bytes.LastIndexByte(log, '\n'); i >= 0 {
			line, log = log[i+1:], log[:i]
		} else {
			log = nil
		}
		if IsStatsLine(line) || hasAnyPrefix(line, statePrefixes) {
			continue
		}
		return bytes.TrimSpace(line)
	}
	return nil
}

func hasAnyPrefix(line []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
