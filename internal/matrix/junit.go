package matrix

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// JUnit document types (the common Jenkins/Surefire dialect that CI
// dashboards read). Exported so tests and tools can parse junit.xml back.
type (
	JUnitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Suites   []JUnitSuite `xml:"testsuite"`
	}
	JUnitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr,omitempty"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []JUnitProperty `xml:"properties>property,omitempty"`
		Cases      []JUnitCase     `xml:"testcase"`
	}
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	JUnitCase struct {
		Classname string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Time      string        `xml:"time,attr,omitempty"`
		Failure   *JUnitMessage `xml:"failure,omitempty"`
		Error     *JUnitMessage `xml:"error,omitempty"`
		Skipped   *JUnitMessage `xml:"skipped,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	JUnitMessage struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// JUnit renders junit.xml: one suite per kernel, one test case per feature
// and per verifier case. Findings and verifier mismatches are failures,
// inconclusive outcomes are skipped, unsupported-with-a-reason passes (it is
// the expected answer), and a kernel that failed to boot has one "boot"
// case with an error.
func JUnit(m *result.Matrix) ([]byte, error) {
	doc := junitDoc(m)
	return append(encodeJUnit(doc), '\n'), nil
}

func junitDoc(m *result.Matrix) *JUnitSuites {
	doc := &JUnitSuites{Name: "bpfmatrix"}
	for i := range m.Kernels {
		k := &m.Kernels[i]
		s := JUnitSuite{
			Name: k.Kernel.Name,
			Time: fmt.Sprintf("%.3f", (k.BootTime + k.ProbeTime + k.VerifierTime).Std().Seconds()),
		}
		if !m.Generated.IsZero() {
			s.Timestamp = m.Generated.UTC().Format("2006-01-02T15:04:05")
		}
		for _, p := range [][2]string{
			{"release", k.Kernel.Release}, {"version", k.Kernel.Version}, {"arch", k.Kernel.Arch},
			{"source", k.Kernel.Source}, {"package_version", k.Kernel.PackageVersion}, {"digest", k.Kernel.Digest},
			{"agent", k.Agent},
		} {
			if p[1] != "" {
				s.Properties = append(s.Properties, JUnitProperty{Name: p[0], Value: p[1]})
			}
		}
		if k.Error != "" {
			s.Cases = append(s.Cases, JUnitCase{
				Classname: k.Kernel.Name, Name: "boot",
				Error: &JUnitMessage{Message: firstLine(k.Error), Type: "boot", Text: k.Error},
			})
		}
		for j := range k.Features {
			s.Cases = append(s.Cases, featureCase(k.Kernel.Name, &k.Features[j]))
		}
		for j := range k.Verifier {
			s.Cases = append(s.Cases, verifierCase(k.Kernel.Name, &k.Verifier[j]))
		}
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Error != nil:
				s.Errors++
			case c.Failure != nil:
				s.Failures++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	return doc
}

// encodeJUnit writes xml.Header and the bytes xml.MarshalIndent(doc, "",
// "  ") writes (a test holds the two equal), without reflection: a report of
// many kernels has a test case per kernel and feature, and encoding/xml was
// the slowest part of writing one.
func encodeJUnit(doc *JUnitSuites) []byte {
	n := 256
	for i := range doc.Suites {
		n += 160 * len(doc.Suites[i].Cases)
	}
	w := &xmlWriter{b: make([]byte, 0, n)}
	w.b = append(w.b, xml.Header...)
	w.start("testsuites", attr{"name", doc.Name}, attr{"tests", itoa(doc.Tests)}, attr{"failures", itoa(doc.Failures)}, attr{"errors", itoa(doc.Errors)}, attr{"skipped", itoa(doc.Skipped)})
	for i := range doc.Suites {
		s := &doc.Suites[i]
		w.start("testsuite", attr{"name", s.Name}, attr{"tests", itoa(s.Tests)}, attr{"failures", itoa(s.Failures)}, attr{"errors", itoa(s.Errors)}, attr{"skipped", itoa(s.Skipped)},
			omitEmpty("time", s.Time), omitEmpty("timestamp", s.Timestamp))
		if len(s.Properties) > 0 {
			w.start("properties")
			for _, p := range s.Properties {
				w.start("property", attr{"name", p.Name}, attr{"value", p.Value})
				w.end("property")
			}
			w.end("properties")
		}
		for j := range s.Cases {
			c := &s.Cases[j]
			w.start("testcase", attr{"classname", c.Classname}, attr{"name", c.Name}, omitEmpty("time", c.Time))
			for _, m := range []struct {
				name string
				msg  *JUnitMessage
			}{{"failure", c.Failure}, {"error", c.Error}, {"skipped", c.Skipped}} {
				if m.msg != nil {
					w.start(m.name, attr{"message", m.msg.Message}, omitEmpty("type", m.msg.Type))
					w.text(m.msg.Text)
					w.end(m.name)
				}
			}
			if c.SystemOut != "" {
				w.start("system-out")
				w.text(c.SystemOut)
				w.end("system-out")
			}
			w.end("testcase")
		}
		w.end("testsuite")
	}
	w.end("testsuites")
	return w.b
}

func itoa(i int) string { return strconv.Itoa(i) }

// attr is an attribute; an empty name leaves it out (omitempty).
type attr struct{ name, value string }

func omitEmpty(name, value string) attr {
	if value == "" {
		return attr{}
	}
	return attr{name, value}
}

// xmlWriter is encoding/xml's printer reduced to what junit.xml needs, with
// its indentation rules (writeIndent) and escaping (EscapeString) kept
// exactly.
type xmlWriter struct {
	b          []byte
	depth      int
	indentedIn bool
	putNewline bool
}

func (w *xmlWriter) indent(delta int) {
	if delta < 0 {
		w.depth--
		if w.indentedIn {
			w.indentedIn = false
			return
		}
	}
	if w.putNewline {
		w.b = append(w.b, '\n')
	} else {
		w.putNewline = true
	}
	for range w.depth {
		w.b = append(w.b, "  "...)
	}
	if delta > 0 {
		w.depth++
		w.indentedIn = true
	}
}

// start writes <name a="v"...>.
func (w *xmlWriter) start(name string, attrs ...attr) {
	w.indent(1)
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	for _, a := range attrs {
		if a.name == "" {
			continue
		}
		w.b = append(w.b, ' ')
		w.b = append(w.b, a.name...)
		w.b = append(w.b, '=', '"')
		w.text(a.value)
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '>')
}

func (w *xmlWriter) end(name string) {
	w.indent(-1)
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// text appends s escaped as encoding/xml escapes text and attribute values.
func (w *xmlWriter) text(s string) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !xmlChar(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
				break
			}
			continue
		}
		w.b = append(w.b, s[last:i-width]...)
		w.b = append(w.b, esc...)
		last = i
	}
	w.b = append(w.b, s[last:]...)
}

// xmlChar is encoding/xml's isInCharacterRange.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func featureCase(kernel string, f *result.Feature) JUnitCase {
	class := kernel + "." + string(f.Kind)
	if f.ProgramType != "" {
		class += "." + f.ProgramType
	}
	c := JUnitCase{Classname: class, Name: f.Name}
	switch {
	case isFinding(f):
		c.Failure = &JUnitMessage{Message: firstLine(findingText(f)), Type: "finding", Text: featureDetail(f)}
	case f.Status == result.Inconclusive:
		c.Skipped = &JUnitMessage{Message: "inconclusive: " + firstLine(f.Error)}
	case f.Status == result.Present:
		// Declared by the kernel, judged by nothing: neither a pass nor a
		// failure, like inconclusive.
		c.Skipped = &JUnitMessage{Message: presentText(f)}
	case f.Status == result.Unsupported:
		c.SystemOut = "unsupported: " + ReasonText(f.Reason)
		if f.Errno != "" {
			c.SystemOut += " (" + f.Errno + ")"
		}
	case f.Value != "":
		c.SystemOut = f.Value
	}
	return c
}

func featureDetail(f *result.Feature) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\n", f.Status)
	if f.Reason != nil {
		fmt.Fprintf(&b, "reason: %s\n", ReasonText(f.Reason))
	}
	if f.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", f.Error)
	}
	if f.Errno != "" {
		fmt.Fprintf(&b, "errno: %s\n", f.Errno)
	}
	if f.Bpftool != "" {
		fmt.Fprintf(&b, "bpftool: %s\n", f.Bpftool)
	}
	return b.String()
}

func verifierCase(kernel string, v *result.VerifierOutcome) JUnitCase {
	c := JUnitCase{Classname: kernel + ".verifier", Name: verifierKey(v), Time: junitTime(v.VerifyTime)}
	switch {
	case verifierMismatch(v) != "":
		c.Failure = &JUnitMessage{Message: firstLine(verifierMismatch(v)), Type: "mismatch", Text: verifierDetail(v)}
	case v.Inconclusive != "":
		c.Skipped = &JUnitMessage{Message: "inconclusive: " + firstLine(v.Inconclusive)}
	default:
		c.SystemOut = verifierDetail(v)
	}
	return c
}

// junitTime passes through a verification time given in seconds or as a
// Go duration ("123µs"); anything else is dropped rather than guessed.
func junitTime(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	if d, err := time.ParseDuration(s); err == nil {
		return fmt.Sprintf("%.6f", d.Seconds())
	}
	return ""
}

func verifierDetail(v *result.VerifierOutcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", acceptWord(v.Accepted))
	if v.Expected != nil {
		fmt.Fprintf(&b, " (expected %s)", acceptWord(*v.Expected))
	}
	b.WriteString("\n")
	if why := verifierReasonText(v.Reason); why != "" {
		fmt.Fprintf(&b, "reason: %s\n", why)
	}
	if v.Errno != "" {
		fmt.Fprintf(&b, "errno: %s\n", v.Errno)
	}
	if v.Summary != "" {
		fmt.Fprintf(&b, "summary: %s\n", v.Summary)
	}
	if v.Insns > 0 {
		fmt.Fprintf(&b, "insns processed: %d, peak states: %d\n", v.Insns, v.PeakStates)
	}
	if v.LogFile != "" {
		fmt.Fprintf(&b, "log: %s\n", v.LogFile)
	}
	if ex := logExcerpt(v.Log, 20); ex != "" {
		fmt.Fprintf(&b, "log excerpt:\n%s\n", ex)
	}
	return b.String()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// logExcerpt returns the last n lines of a verifier log: the verifier
// states its verdict at the end. The whole log stays in the log file.
func logExcerpt(log string, n int) string {
	log = strings.TrimRight(log, "\n")
	if log == "" {
		return ""
	}
	lines := strings.Split(log, "\n")
	if len(lines) <= n {
		return log
	}
	return fmt.Sprintf("[… %d earlier lines in the full log]\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "\n")
}
