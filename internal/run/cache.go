package run

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/bpfmatrix/bpfmatrix/internal/digest"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// resultCache stores one KernelResult per key under dir, written atomically.
type resultCache struct{ dir string }

// cacheKey hashes everything that determines a kernel's result.
func cacheKey(parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "schema=%d\n", result.SchemaVersion)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c resultCache) path(key string) string { return filepath.Join(c.dir, key+".json") }

// load returns the cached result for key; a missing or unreadable entry is a miss.
func (c resultCache) load(key string) (*result.KernelResult, bool) {
	if c.dir == "" {
		return nil, false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var kr result.KernelResult
	if err := json.Unmarshal(b, &kr); err != nil || kr.Schema != result.SchemaVersion {
		return nil, false
	}
	return &kr, true
}

// has reports whether a result for key is stored.
func (c resultCache) has(key string) bool {
	if c.dir == "" {
		return false
	}
	_, err := os.Stat(c.path(key))
	return err == nil
}

func (c resultCache) store(key string, kr *result.KernelResult) error {
	if c.dir == "" {
		return nil
	}
	b, err := json.Marshal(kr)
	if err != nil {
		return err
	}
	return atomicfile.Write(c.path(key), b, true)
}

// corpusDigest is the hex sha256 of the embedded verifier corpus (manifest,
// sources, objects, headers): each case's expectation decides which outcome
// is a finding.
var corpusDigest = sync.OnceValues(func() (string, error) {
	return fsDigest(bpf.Files())
})

// fsDigest hashes every regular file of fsys with its path, in lexical order.
func fsDigest(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%d:%s\n%d\n", len(path), path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digest corpus: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// digests memoises fileDigest by path, size and modification time: the
// agent is digested once per run, not once per kernel.
var digests sync.Map

// fileDigest returns the hex sha256 of a file, "" for an empty path. Within
// one process a file that keeps its size and modification time is hashed
// once; small files whose content decides findings (the kernel config) go
// through hashFile instead, every time.
func fileDigest(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	memo := fmt.Sprintf("%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if d, ok := digests.Load(memo); ok {
		return d.(string), nil
	}
	d, err := digest.File(path)
	if err == nil {
		digests.Store(memo, d)
	}
	return d, err
}
