package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/gofrs/flock"
)

// A package tree is named by the packages unpacked into it, not by its
// files' content, so it gets a manifest, written when the tree is unpacked
// from verified .debs: every regular file's SHA256 and size, every
// symlink's target. A cached tree is checked against it as blobs are
// against their digests: a stamp keeps each file's identity from its last
// hash, a hit costs one lstat per file (and a readlink per symlink), a file
// whose identity moved is hashed again. A tree that does not match is moved
// to packages/quarantine and fetched again.

const manifestSchema = 1

// treeManifest lists what a tree held when it was unpacked.
type treeManifest struct {
	Schema int                 `json:"schema"`
	Tree   string              `json:"tree"`
	Files  map[string]treeFile `json:"files"` // slash-separated, relative to the tree
}

type treeFile struct {
	Digest string `json:"digest,omitempty"` // regular file: sha256:<hex>
	Size   int64  `json:"size,omitempty"`
	Link   string `json:"link,omitempty"` // symlink target
}

// treeStamp records the identity of each regular file when it last hashed
// to its manifest digest.
type treeStamp struct {
	Schema int                     `json:"schema"`
	Tree   string                  `json:"tree"`
	Files  map[string]fileIdentity `json:"files"`
}

// parseTreeManifest reads a manifest. Every path it accepts is local to the
// tree (no "..", not absolute), so checking it reads nothing outside.
func parseTreeManifest(data []byte) (*treeManifest, error) {
	var m treeManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse tree manifest: %w", err)
	}
	if m.Schema != manifestSchema {
		return nil, fmt.Errorf("parse tree manifest: schema %d, want %d", m.Schema, manifestSchema)
	}
	if len(m.Files) == 0 {
		return nil, errors.New("parse tree manifest: no files")
	}
	for p, e := range m.Files {
		if !filepath.IsLocal(filepath.FromSlash(p)) || strings.Contains(p, "\\") || filepath.ToSlash(filepath.Clean(p)) != p {
			return nil, fmt.Errorf("parse tree manifest: path %q is not local to the tree", p)
		}
		if (e.Link == "") == (e.Digest == "") || (e.Digest != "" && !validDigest(e.Digest)) || e.Size < 0 {
			return nil, fmt.Errorf("parse tree manifest: malformed entry %q", p)
		}
	}
	return &m, nil
}

func (f *Fetcher) manifestPath(tree string) string {
	return filepath.Join(f.pkgRoot(), "manifests", tree+".json")
}

func (f *Fetcher) treeStampPath(tree string) string {
	return filepath.Join(f.pkgRoot(), "stamps", tree+".json")
}

// buildManifest hashes every regular file and reads every symlink under
// root (an unpacked tree).
func buildManifest(root, tree string) (*treeManifest, *treeStamp, error) {
	m := &treeManifest{Schema: manifestSchema, Tree: tree, Files: map[string]treeFile{}}
	s := &treeStamp{Schema: manifestSchema, Tree: tree, Files: map[string]fileIdentity{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m.Files[rel] = treeFile{Link: target}
		case d.Type().IsRegular():
			digest, id, stable, err := hashFile(p)
			if err != nil {
				return err
			}
			if !stable {
				return fmt.Errorf("%s changed while it was hashed", p)
			}
			m.Files[rel] = treeFile{Digest: digest, Size: id.Size}
			s.Files[rel] = id
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list tree: %w", err)
	}
	if len(m.Files) == 0 {
		return nil, nil, errors.New("list tree: no files")
	}
	return m, s, nil
}

// verifyTree checks the tree at root against its manifest and returns nil,
// errNoManifest (a tree unpacked before manifests existed: fetched again,
// never trusted unverified), or a *CorruptBlobError naming the first file
// that differs (Quarantine still ""). Files whose identity matches the stamp
// are not read; the stamp is rewritten after any rehash that matched.
func (f *Fetcher) verifyTree(root, tree string) error {
	data, err := os.ReadFile(f.manifestPath(tree))
	if err != nil {
		return errNoManifest
	}
	m, err := parseTreeManifest(data)
	if err != nil || m.Tree != tree {
		return errNoManifest
	}
	var s treeStamp
	if data, err := os.ReadFile(f.treeStampPath(tree)); err == nil {
		if json.Unmarshal(data, &s) != nil || s.Schema != manifestSchema || s.Tree != tree {
			s = treeStamp{}
		}
	}
	fresh := treeStamp{Schema: manifestSchema, Tree: tree, Files: map[string]fileIdentity{}}
	rehashed := false
	bad := func(rel, got string, e treeFile) error {
		want := e.Digest
		if want == "" {
			want = "a symlink to " + e.Link
		}
		return &CorruptBlobError{What: "package tree " + tree, Path: filepath.Join(root, filepath.FromSlash(rel)), Digest: want, Got: got}
	}
	for _, rel := range sortedKeys(m.Files) {
		e := m.Files[rel]
		p := filepath.Join(root, filepath.FromSlash(rel))
		st, err := os.Lstat(p)
		if err != nil {
			return bad(rel, "is missing", e)
		}
		if e.Link != "" {
			if st.Mode()&fs.ModeSymlink == 0 {
				return bad(rel, "is not a symlink", e)
			}
			if t, err := os.Readlink(p); err != nil || t != e.Link {
				return bad(rel, "points elsewhere", e)
			}
			continue
		}
		if !st.Mode().IsRegular() {
			return bad(rel, "is not a regular file", e)
		}
		id := identityOf(st)
		if id.Size != e.Size {
			return bad(rel, fmt.Sprintf("has %d bytes (manifest: %d)", id.Size, e.Size), e)
		}
		if old, ok := s.Files[rel]; ok && old == id {
			fresh.Files[rel] = id
			continue
		}
		digest, hid, stable, err := hashFile(p)
		if err != nil || digest != e.Digest {
			return bad(rel, "hashes to "+short(digest), e)
		}
		rehashed = true
		if stable {
			fresh.Files[rel] = hid
		}
	}
	if rehashed {
		if data, err := json.Marshal(fresh); err == nil {
			_ = atomicfile.Write(f.treeStampPath(tree), append(data, '\n'), false)
		}
	}
	return nil
}

var errNoManifest = errors.New("no tree manifest")

// lockTree takes the flock of one tree (by digest): trees are shared by
// every request whose closure resolves to the same packages, so the
// per-request lock does not cover moving or replacing one.
func (f *Fetcher) lockTree(tree string) (func(), error) {
	l := flock.New(filepath.Join(f.pkgRoot(), "locks", "tree-"+tree+".lock"))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("lock tree %s: %w", tree, err)
	}
	return func() { l.Unlock() }, nil
}

// quarantineTree moves a tree that failed verifyTree aside, under its lock
// and after checking again (another process may have replaced it with a
// good one meanwhile). It returns the error with Quarantine set, or nil if
// the tree verifies now.
func (f *Fetcher) quarantineTree(root, tree string) (*CorruptBlobError, error) {
	unlock, err := f.lockTree(tree)
	if err != nil {
		return nil, err
	}
	defer unlock()
	err = f.verifyTree(root, tree)
	var ce *CorruptBlobError
	if !errors.As(err, &ce) {
		return nil, nil
	}
	dir := filepath.Join(f.pkgRoot(), "quarantine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ce, nil
	}
	dst := filepath.Join(dir, tree+"."+f.now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(root, dst); err == nil {
		ce.Quarantine = dst
		os.Remove(f.treeStampPath(tree))
	}
	return ce, nil
}

// storeTree moves the freshly unpacked tree tmp to trees/<tree> with its
// manifest and stamp. A tree already there is kept only if it verifies
// against the manifest of what was just unpacked; otherwise it goes to
// quarantine (and is returned) and tmp takes its place.
func (f *Fetcher) storeTree(tmp, tree string) (*CorruptBlobError, error) {
	m, s, err := buildManifest(tmp, tree)
	if err != nil {
		return nil, err
	}
	unlock, err := f.lockTree(tree)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dst := filepath.Join(f.pkgRoot(), "trees", tree)
	var replaced *CorruptBlobError
	if _, err := os.Lstat(dst); err == nil {
		data, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(f.manifestPath(tree), append(data, '\n'), true); err != nil {
			return nil, fmt.Errorf("store tree manifest: %w", err)
		}
		err = f.verifyTree(dst, tree)
		if err == nil {
			return nil, nil
		}
		qdir := filepath.Join(f.pkgRoot(), "quarantine")
		if err := os.MkdirAll(qdir, 0o755); err != nil {
			return nil, fmt.Errorf("store tree: %w", err)
		}
		q := filepath.Join(qdir, tree+"."+f.now().UTC().Format("20060102T150405.000000000Z"))
		if err := os.Rename(dst, q); err != nil {
			return nil, fmt.Errorf("store tree: quarantine %s: %w", dst, err)
		}
		if !errors.As(err, &replaced) {
			replaced = &CorruptBlobError{What: "package tree " + tree, Path: dst, Digest: "its manifest", Got: "has no manifest"}
		}
		replaced.Quarantine = q
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("store tree: %w", err)
	}
	for _, w := range []struct {
		p string
		v any
	}{{f.manifestPath(tree), m}, {f.treeStampPath(tree), s}} {
		data, err := json.Marshal(w.v)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(w.p, append(data, '\n'), true); err != nil {
			return nil, fmt.Errorf("store tree manifest: %w", err)
		}
	}
	// Renaming the directory kept every file's inode and times (the
	// files' ctime does not change when their parent is renamed): the stamp
	// taken in tmp holds, and is checked here once.
	if err := f.verifyTree(dst, tree); err != nil {
		return nil, &IntegrityError{What: "package tree " + tree, Err: err}
	}
	return replaced, nil
}
