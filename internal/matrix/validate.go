package matrix

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// ErrInvalid wraps every schema or invariant violation found by Validate and Decode.
var ErrInvalid = errors.New("invalid matrix")

// validStatus: Present came after SchemaVersion 1 was written; older
// matrices never use it, so accepting it keeps them valid.
var validStatus = map[result.Status]bool{result.Supported: true, result.Unsupported: true, result.Inconclusive: true, result.Present: true}

var validReason = map[result.ReasonKind]bool{
	result.ReasonVersion: true, result.ReasonConfig: true, result.ReasonPrivilege: true,
	result.ReasonArch: true, result.ReasonUnexplained: true, result.ReasonProgramType: true,
}

// verifierOnlyReason: reason kinds that explain a verifier outcome's
// expectation and never an unsupported feature.
var verifierOnlyReason = map[result.ReasonKind]bool{result.ReasonBackport: true}

// Validate checks the invariants the schema promises beyond its shape:
// the schema version matches, kernel names are unique and non-empty, every
// feature has a known kind and status, every unsupported feature has a
// reason, every inconclusive one an error, every present one the Value
// saying what was seen, every helper its program type, no
// feature or verifier case appears twice for one kernel, and a kernel
// without features says why (Error).
func Validate(m *result.Matrix) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if m.Schema != result.SchemaVersion {
		bad("schema %d, this build reads schema %d", m.Schema, result.SchemaVersion)
	}
	names := map[string]bool{}
	for i := range m.Kernels {
		k := &m.Kernels[i]
		name := k.Kernel.Name
		if name == "" {
			bad("kernel %d: empty name", i)
			name = fmt.Sprintf("#%d", i)
		}
		if names[name] {
			bad("kernel %s: listed twice", name)
		}
		names[name] = true
		if k.Schema != 0 && k.Schema != result.SchemaVersion {
			bad("kernel %s: schema %d, want %d", name, k.Schema, result.SchemaVersion)
		}
		if k.Error == "" && len(k.Features) == 0 && len(k.Verifier) == 0 {
			bad("kernel %s: no features, no verifier outcomes and no error", name)
		}
		keys := make(map[string]struct{}, len(k.Features))
		for j := range k.Features {
			f := &k.Features[j]
			key := f.Key()
			// where is built only for a finding: this loop runs for every
			// cell of every input of a merge.
			where := func() string { return "kernel " + name + ": feature " + key }
			if f.Name == "" {
				bad("kernel %s: feature %d: empty name", name, j)
			}
			if !knownKind(f.Kind) {
				bad("%s: unknown kind %q", where(), f.Kind)
			}
			if f.Kind == result.KindHelper && f.ProgramType == "" {
				bad("%s: helper without program type", where())
			}
			if _, dup := keys[key]; dup {
				bad("%s: listed twice", where())
			}
			keys[key] = struct{}{}
			switch {
			case !validStatus[f.Status]:
				bad("%s: unknown status %q", where(), f.Status)
			case f.Status == result.Unsupported && f.Reason == nil:
				bad("%s: unsupported without a reason", where())
			case f.Status == result.Inconclusive && f.Error == "":
				bad("%s: inconclusive without an error", where())
			case f.Status == result.Present && f.Value == "":
				bad("%s: present without a value", where())
			}
			if f.Reason != nil && !validReason[f.Reason.Kind] {
				bad("%s: unknown reason kind %q", where(), f.Reason.Kind)
			}
		}
		cases := map[string]bool{}
		for j := range k.Verifier {
			v := &k.Verifier[j]
			if v.Case == "" {
				bad("kernel %s: verifier outcome %d: empty case", name, j)
			}
			if cases[verifierKey(v)] {
				bad("kernel %s: verifier case %s listed twice", name, v.Case)
			}
			cases[verifierKey(v)] = true
			if v.Reason != nil && !validReason[v.Reason.Kind] && !verifierOnlyReason[v.Reason.Kind] {
				bad("kernel %s: verifier case %s: unknown reason kind %q", name, v.Case, v.Reason.Kind)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// Decode reads a matrix strictly: unknown fields, trailing data and
// invariant violations (see Validate) are errors.
func Decode(r io.Reader) (*result.Matrix, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var m result.Matrix
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the matrix", ErrInvalid)
	}
	if err := Validate(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Read decodes and validates the matrix.json at path.
func Read(path string) (*result.Matrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read matrix: %w", err)
	}
	m, err := Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return m, nil
}

// JSON renders matrix.json: indented, with a trailing newline (the bytes
// of json.MarshalIndent(m, "", "  ")).
func JSON(m *result.Matrix) ([]byte, error) {
	ks, err := encodeKernels(m)
	if err != nil {
		return nil, err
	}
	js, _, err := matrixJSON(m, ks)
	return js, err
}

// encodeKernels marshals each kernel's result once, compactly: matrix.json
// and the kernel files are both indented from these bytes, so a report costs
// one reflection pass over the results, not two (most of a merge's time).
func encodeKernels(m *result.Matrix) ([][]byte, error) {
	ks := make([][]byte, len(m.Kernels))
	for i := range m.Kernels {
		b, err := json.Marshal(&m.Kernels[i])
		if err != nil {
			return nil, fmt.Errorf("encode kernel result %s: %w", m.Kernels[i].Kernel.Name, err)
		}
		ks[i] = b
	}
	return ks, nil
}

// matrixJSON assembles matrix.json from the header and the kernels' compact
// encodings, indented exactly as json.MarshalIndent indents them nested, and
// returns where each kernel's object lies in it.
func matrixJSON(m *result.Matrix, ks [][]byte) ([]byte, [][2]int, error) {
	h := *m
	h.Kernels = nil
	b, err := json.MarshalIndent(&h, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("encode matrix: %w", err)
	}
	const null = "null\n}"
	if len(ks) == 0 || !bytes.HasSuffix(b, []byte(null)) {
		if b, err = json.MarshalIndent(m, "", "  "); err != nil {
			return nil, nil, fmt.Errorf("encode matrix: %w", err)
		}
		return append(b, '\n'), nil, nil
	}
	size := len(b)
	for _, k := range ks {
		size += 4 * len(k)
	}
	spans := make([][2]int, len(ks))
	out := bytes.NewBuffer(make([]byte, 0, size))
	out.Write(b[:len(b)-len(null)])
	out.WriteString("[\n")
	for i, k := range ks {
		if i > 0 {
			out.WriteString(",\n")
		}
		out.WriteString("    ")
		spans[i][0] = out.Len()
		if err := json.Indent(out, k, "    ", "  "); err != nil {
			return nil, nil, fmt.Errorf("encode matrix: %w", err)
		}
		spans[i][1] = out.Len()
	}
	out.WriteString("\n  ]\n}\n")
	return out.Bytes(), spans, nil
}

// dedent turns a kernel's object as matrix.json holds it (every line after
// the first prefixed with four spaces) into kernels/NAME.json's bytes, as
// json.MarshalIndent(k, "", "  ") writes them: newlines in JSON are only
// ever between tokens (a string's are escaped), so each is followed by the
// prefix.
func dedent(b []byte) []byte {
	out := make([]byte, 0, len(b)+1)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b...)
			break
		}
		out = append(out, b[:i+1]...)
		b = bytes.TrimPrefix(b[i+1:], []byte("    "))
	}
	return append(out, '\n')
}

// Matrix is result.Matrix, re-exported so callers of Read need not import result.
type Matrix = result.Matrix

// JSONSchema is matrix.schema.json, the JSON Schema (draft 2020-12) of
// matrix.json, for tools outside Go. Decode enforces the same shape and
// invariants; a test keeps the two in step.
//
//go:embed matrix.schema.json
var JSONSchema []byte
