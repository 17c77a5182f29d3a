package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// CatalogError is a user catalog that cannot be used: one line naming the
// file, the line and, when known, the entry.
type CatalogError struct {
	File string
	Line int    // 1-based; 0 when the whole file is at fault
	Name string // the entry's name, "" when unknown
	Err  error
}

func (e *CatalogError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Name != "" {
		return fmt.Sprintf("catalog %s: kernel %s: %v", where, e.Name, e.Err)
	}
	return fmt.Sprintf("catalog %s: %v", where, e.Err)
}

func (e *CatalogError) Unwrap() error { return e.Err }

// ParseFile parses a user catalog: the embedded catalog's format
// (kernels/catalog.json; schema, kernels), with the same checks, and
// errors that are one line naming file and the line of the offending
// entry (*CatalogError). Relative file-source paths are made relative to
// file's directory, so a catalog can sit beside its images. It does no
// I/O: file names the data for messages and paths only.
func ParseFile(file string, data []byte) (*Catalog, error) {
	fail := func(off int64, name string, err error) error {
		// A syntax error knows where it is; otherwise the entry (or
		// key) starts after the separators before off.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		} else {
			off = skipSeparators(data, off)
		}
		return &CatalogError{File: file, Line: lineAt(data, off), Name: name, Err: jsonErr(err)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &CatalogError{File: file, Err: errors.New("empty file (want {\"schema\": 1, \"kernels\": [...]})")}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fail(0, "", errors.New("want a JSON object {\"schema\": 1, \"kernels\": [...]}"))
	}
	c := &Catalog{byName: map[string]int{}}
	schema := -1
	for dec.More() {
		keyOff := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fail(keyOff, "", err)
		}
		switch key, _ := tok.(string); key {
		case "schema":
			if err := dec.Decode(&schema); err != nil {
				return nil, fail(keyOff, "", fmt.Errorf("schema: %w", jsonErr(err)))
			}
			if schema != SchemaVersion {
				return nil, fail(keyOff, "", fmt.Errorf("schema %d, want %d", schema, SchemaVersion))
			}
		case "kernels":
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return nil, fail(keyOff, "", errors.New("kernels: want a list"))
			}
			for dec.More() {
				off := dec.InputOffset()
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil, fail(off, "", err)
				}
				off = skipSeparators(data, off)
				k, err := parseEntry(raw)
				if err != nil {
					return nil, fail(off, entryName(raw), err)
				}
				if err := k.validate(); err != nil {
					return nil, fail(off, "", err)
				}
				if _, dup := c.byName[k.Name]; dup {
					return nil, fail(off, k.Name, errors.New("defined twice in this file"))
				}
				for _, s := range k.Sources {
					if s.File != nil {
						s.File.Image = relativeTo(file, s.File.Image)
						s.File.Config = relativeTo(file, s.File.Config)
					}
				}
				c.byName[k.Name] = len(c.Kernels)
				c.Kernels = append(c.Kernels, k)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fail(dec.InputOffset(), "", err)
			}
		default:
			return nil, fail(keyOff, "", fmt.Errorf("unknown key %q (want schema, kernels)", key))
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(dec.InputOffset(), "", err)
	}
	if schema == -1 {
		return nil, fail(0, "", fmt.Errorf("no \"schema\": %d", SchemaVersion))
	}
	return c, nil
}

// parseEntry decodes one kernel entry, rejecting unknown keys.
func parseEntry(raw json.RawMessage) (KernelSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var k KernelSpec
	if err := dec.Decode(&k); err != nil {
		return KernelSpec{}, err
	}
	return k, nil
}

// entryName is the "name" of an entry that did not decode, for the message.
func entryName(raw json.RawMessage) string {
	var n struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &n)
	if !nameRE.MatchString(n.Name) {
		return ""
	}
	return n.Name
}

// jsonErr drops encoding/json's "json: " prefix, which says nothing here.
func jsonErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func skipSeparators(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

func relativeTo(file, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}

// Merge returns c with over's entries merged over it: an entry of over
// replaces c's entry of the same name (in c's place, so the default set
// keeps its order), and new names follow c's entries in over's order.
// Neither input is changed. This is how a user catalog (--catalog,
// BPFMATRIX_CATALOG) and kernels built here join the embedded one.
func (c *Catalog) Merge(over *Catalog) *Catalog {
	out := &Catalog{Kernels: append([]KernelSpec(nil), c.Kernels...), byName: make(map[string]int, len(c.Kernels))}
	for i, k := range out.Kernels {
		out.byName[k.Name] = i
	}
	if over == nil {
		return out
	}
	for _, k := range over.Kernels {
		if i, ok := out.byName[k.Name]; ok {
			out.Kernels[i] = k
			continue
		}
		out.byName[k.Name] = len(out.Kernels)
		out.Kernels = append(out.Kernels, k)
	}
	return out
}

// Marshal encodes specs as a catalog document that Parse and ParseFile
// accept (after checking each entry as they would), for tools that record
// kernels in a user catalog.
func Marshal(specs []KernelSpec) ([]byte, error) {
	seen := map[string]bool{}
	for _, k := range specs {
		if err := k.validate(); err != nil {
			return nil, fmt.Errorf("marshal catalog: %w", err)
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("marshal catalog: duplicate kernel %q", k.Name)
		}
		seen[k.Name] = true
	}
	if specs == nil {
		specs = []KernelSpec{}
	}
	b, err := json.MarshalIndent(document{Schema: SchemaVersion, Kernels: specs}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("marshal catalog: %w", err)
	}
	return append(b, '\n'), nil
}

// OCIPrefix starts a kernel argument that names an OCI image.
const OCIPrefix = "oci:"

// ErrBadReference is wrapped by ParseOCIRef for a malformed reference.
var ErrBadReference = errors.New("malformed OCI reference")

var (
	// The distribution spec's grammar, as docker and go-containerregistry
	// accept it (lower-case path components separated by '/', '.', '_',
	// '__' or '-'; tags of up to 128 characters).
	ociRepoRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	ociTagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	ociHostRE = regexp.MustCompile(`^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+)(?::[0-9]+)?$`)
)

// ParseOCIRef parses "oci:REGISTRY/REPO:TAG" or
// "oci:REGISTRY/REPO@sha256:<hex>" (the "oci:" prefix optional). The
// registry is required: a reference on the command line says where it is
// pulled from, as docker's would without Docker Hub's default. Errors wrap
// ErrBadReference and say what was expected.
func ParseOCIRef(s string) (*OCISource, error) {
	ref := strings.TrimPrefix(s, OCIPrefix)
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s (want oci:REGISTRY/REPOSITORY:TAG or oci:REGISTRY/REPOSITORY@sha256:DIGEST)", ErrBadReference, s, why)
	}
	host, rest, ok := strings.Cut(ref, "/")
	if !ok || host == "" || rest == "" {
		return nil, bad("no registry")
	}
	if !ociHostRE.MatchString(host) || (!strings.ContainsAny(host, ".:[") && host != "localhost") {
		return nil, bad(fmt.Sprintf("registry %q is not a host[:port]", host))
	}
	src := &OCISource{Registry: host}
	if repo, digest, ok := strings.Cut(rest, "@"); ok {
		if !digestRE.MatchString(digest) {
			return nil, bad(fmt.Sprintf("digest %q is not sha256:<64 hex digits>", digest))
		}
		src.Repository, src.Digest = repo, digest
	} else {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return nil, bad("no tag or digest")
		}
		src.Repository, src.Tag = rest[:i], rest[i+1:]
		if !ociTagRE.MatchString(src.Tag) {
			return nil, bad(fmt.Sprintf("tag %q", src.Tag))
		}
	}
	if !ociRepoRE.MatchString(src.Repository) {
		return nil, bad(fmt.Sprintf("repository %q", src.Repository))
	}
	return src, nil
}
