package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/gofrs/flock"
)

// A blob's name is its digest, but nothing stops a disk, a stray editor or a
// half-finished copy from changing its bytes afterwards, and a blob of the
// right size is not a blob with the right content. So every blob is hashed
// when it enters the cache and again whenever its file could have changed;
// to keep a cache hit cheap, a successful hash is recorded in a stamp (one
// small JSON file per blob) with the identity of the file that was hashed:
// device, inode, size, mtime and ctime. A hit compares the stamp with one
// stat(2): any write through the file system moves mtime and ctime (ctime
// cannot be set back from user space), a replacement changes the inode, so
// a fresh stamp means "these exact bytes were hashed". What a stamp cannot
// see is a change below the file system (a bad sector served silently);
// that is the price of not rehashing every hit.

// stampSchema versions the stamp format.
const stampSchema = 1

// fileIdentity is what stat(2) says about a file that changes whenever its
// content can have changed.
type fileIdentity struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	CtimeNS int64  `json:"ctime_ns"`
}

// stamp records that a file with Identity hashed to Digest.
type stamp struct {
	Schema   int          `json:"schema"`
	Digest   string       `json:"digest"`
	Identity fileIdentity `json:"identity"`
	// Kernel is the image format checkImage found ("x86 bzImage, boot
	// protocol 2.15"), "" when the blob was not checked as a kernel image.
	Kernel string `json:"kernel,omitempty"`
	// Arch is the architecture that image boots on.
	Arch string `json:"arch,omitempty"`
}

// parseStamp reads a stamp file's content. A stamp is only ever a reason to
// skip a hash, so anything unexpected in it makes it unusable, never fatal.
func parseStamp(data []byte) (*stamp, error) {
	var s stamp
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse stamp: %w", err)
	}
	if s.Schema != stampSchema {
		return nil, fmt.Errorf("parse stamp: schema %d, want %d", s.Schema, stampSchema)
	}
	if !validDigest(s.Digest) {
		return nil, fmt.Errorf("parse stamp: malformed digest %q", s.Digest)
	}
	if s.Identity.Size < 0 {
		return nil, fmt.Errorf("parse stamp: negative size")
	}
	return &s, nil
}

// validDigest accepts exactly "sha256:" and 64 lower-case hex digits: the
// only form this package writes, and one that is safe as a file name.
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hashFile hashes the file at p through one open descriptor and returns the
// digest with the identity of what was read. stable is false when the file
// changed while it was being read (its identity before and after differ):
// the digest then describes no particular state of the file.
func hashFile(p string) (digest string, id fileIdentity, stable bool, err error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", id, false, err
	}
	defer fh.Close()
	before, err := fh.Stat()
	if err != nil {
		return "", id, false, err
	}
	if !before.Mode().IsRegular() {
		return "", id, false, fmt.Errorf("%s: not a regular file", p)
	}
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", id, false, err
	}
	after, err := fh.Stat()
	if err != nil {
		return "", id, false, err
	}
	id = identityOf(before)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), id, id == identityOf(after), nil
}

// CorruptBlobError is a cached file that no longer matches the digest it is
// stored under. It has been moved to the cache's quarantine directory (kept
// for inspection, safe to delete) unless Quarantine is "".
type CorruptBlobError struct {
	// What names the cache entry, e.g. "image of debian-6.1" or
	// "package tree arm64-3f2a...".
	What string
	// Path is where the file was in the cache.
	Path string
	// Digest is what it should hash to, Got what it does (or a size
	// mismatch).
	Digest, Got string
	// Quarantine is where it was moved, "" if moving it failed.
	Quarantine string
	// Fix says how to get a good copy, e.g. "bpfmatrix kernels fetch
	// debian-6.1".
	Fix string
}

func (e *CorruptBlobError) Error() string {
	s := fmt.Sprintf("cached %s is corrupt: %s %s, want %s", e.What, e.Path, e.Got, short(e.Digest))
	if e.Quarantine != "" {
		s += "; moved to " + e.Quarantine
		if e.Fix != "" {
			s += "; `" + e.Fix + "` fetches it again"
		}
		return s
	}
	s += "; delete it"
	if e.Fix != "" {
		s += ", then run `" + e.Fix + "`"
	}
	return s
}

// short abbreviates a digest for messages; the full one is in the path.
func short(d string) string {
	if len(d) > len("sha256:")+16 {
		return d[:len("sha256:")+16] + "…"
	}
	return d
}

// errBlobMissing: the blob file does not exist (a plain cache miss).
var errBlobMissing = errors.New("blob missing")

func (f *Fetcher) stampDir() string      { return filepath.Join(f.root(), "stamps") }
func (f *Fetcher) quarantineDir() string { return filepath.Join(f.root(), "quarantine") }

func (f *Fetcher) stampPath(digest string) string {
	return filepath.Join(f.stampDir(), strings.TrimPrefix(digest, "sha256:")+".json")
}

func readStamp(p string) (*stamp, bool) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	s, err := parseStamp(data)
	return s, err == nil
}

// writeStamp records a successful hash. A cache the user cannot write to
// just rehashes next time, so errors are dropped.
func writeStamp(p string, s stamp) {
	s.Schema = stampSchema
	data, err := json.Marshal(s)
	if err != nil {
		return
	}
	_ = atomicfile.Write(p, append(data, '\n'), false)
}

// blobCheck says what verifyBlob must establish besides the digest.
type blobCheck struct {
	what string // "image of debian-6.1", for errors
	fix  string // the command that fetches it again
	// image: the blob must also be a kernel image for arch.
	image bool
	arch  string
}

// verifyBlob returns the path of the blob b if its content matches its
// digest: at once if its stamp is fresh, otherwise after hashing it (and
// stamping it). A blob that does not match is moved to the quarantine
// directory and reported as a *CorruptBlobError; a missing one is
// errBlobMissing. With c.image, the blob must also pass checkImage for
// c.arch (an error wrapping ErrNotKernelImage otherwise); that result is
// kept in the stamp too. Without repair, a corrupt blob is reported but left
// where it is.
func (f *Fetcher) verifyBlob(b *blobRef, c blobCheck, repair bool) (string, error) {
	if !validDigest(b.Digest) || b.Size < 0 {
		return "", fmt.Errorf("record names a malformed blob %q", b.Digest)
	}
	p := f.blobPath(b.Digest)
	sp := f.stampPath(b.Digest)
	for attempt := 0; ; attempt++ {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", errBlobMissing
		}
		if err != nil {
			return "", err
		}
		id := identityOf(st)
		if s, ok := readStamp(sp); ok && s.Digest == b.Digest && s.Identity == id && id.Size == b.Size {
			if !c.image {
				return p, nil
			}
			if s.Kernel != "" {
				if s.Arch != c.arch {
					return "", fmt.Errorf("%s: %w (%s, which boots on %s, not %s)", p, ErrNotKernelImage, s.Kernel, s.Arch, c.arch)
				}
				return p, nil
			}
		}
		var got string
		hashed := id
		switch {
		case !st.Mode().IsRegular():
			got = "is not a regular file"
		case st.Size() != b.Size:
			got = fmt.Sprintf("has %d bytes (record: %d)", st.Size(), b.Size)
		default:
			digest, hid, stable, err := hashFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return "", errBlobMissing
			}
			if err != nil {
				return "", fmt.Errorf("verify %s: %w", p, err)
			}
			hashed = hid
			if digest == b.Digest {
				s := stamp{Digest: digest, Identity: hid}
				if c.image {
					arch, format, err := checkImageFile(p)
					if err != nil {
						return "", fmt.Errorf("%s: %w", p, err)
					}
					s.Kernel, s.Arch = format, arch
				}
				if stable {
					writeStamp(sp, s)
				}
				if c.image && s.Arch != c.arch {
					return "", fmt.Errorf("%s: %w (%s, which boots on %s, not %s)", p, ErrNotKernelImage, s.Kernel, s.Arch, c.arch)
				}
				return p, nil
			}
			got = "hashes to " + short(digest)
		}
		if !repair {
			return "", &CorruptBlobError{What: c.what, Path: p, Digest: b.Digest, Got: got, Fix: c.fix}
		}
		moved, changed, qerr := f.quarantine(p, hashed)
		if changed && attempt == 0 {
			// Replaced (or moved aside) by another process since we
			// looked: check what is there now.
			continue
		}
		e := &CorruptBlobError{What: c.what, Path: p, Digest: b.Digest, Got: got, Quarantine: moved, Fix: c.fix}
		if qerr != nil {
			e.Quarantine = ""
		}
		return "", e
	}
}

// quarantine moves the file at p to the quarantine directory, under the
// blob's lock and only if it still is the file that was found corrupt (id):
// a concurrent fetch may have put a good copy there since, which must stay.
// changed reports that p is no longer that file.
func (f *Fetcher) quarantine(p string, id fileIdentity) (moved string, changed bool, err error) {
	unlock, err := f.lockBlob(filepath.Base(p))
	if err != nil {
		return "", false, err
	}
	defer unlock()
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	if identityOf(st) != id {
		return "", true, nil
	}
	return f.moveToQuarantine(p)
}

// moveToQuarantine renames p into the quarantine directory (same file
// system: the cache root) under a name that keeps the digest and says when.
// The caller holds the blob's lock.
func (f *Fetcher) moveToQuarantine(p string) (string, bool, error) {
	if err := os.MkdirAll(f.quarantineDir(), 0o755); err != nil {
		return "", false, fmt.Errorf("quarantine %s: %w", p, err)
	}
	dst := filepath.Join(f.quarantineDir(), filepath.Base(p)+"."+f.now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(p, dst); err != nil {
		return "", false, fmt.Errorf("quarantine %s: %w", p, err)
	}
	os.Remove(f.stampPath("sha256:" + filepath.Base(p)))
	return dst, false, nil
}

// lockBlob takes the flock of one blob (by hex digest). Blobs are shared
// between kernels (the same image under two catalog names), so the
// per-kernel lock does not cover them: whoever replaces or moves a blob
// holds this one. It is held for one hash at most, so it is waited for
// without a deadline.
func (f *Fetcher) lockBlob(hexDigest string) (func(), error) {
	l := flock.New(filepath.Join(f.lockDir(), "blob-"+hexDigest+".lock"))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("lock blob %s: %w", hexDigest, err)
	}
	return func() { l.Unlock() }, nil
}

// putBlob moves the verified temp file b into the blob store under its
// digest and hashes it again where it landed. A file already there is
// hashed too, not trusted for its name and size: if it is wrong it goes to
// quarantine (and is returned as replaced) and b takes its place.
func (f *Fetcher) putBlob(b *tempBlob, c blobCheck) (ref *blobRef, replaced *CorruptBlobError, err error) {
	if !validDigest(b.Digest) {
		return nil, nil, fmt.Errorf("store blob: malformed digest %q", b.Digest)
	}
	hexDigest := strings.TrimPrefix(b.Digest, "sha256:")
	unlock, err := f.lockBlob(hexDigest)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	dst := f.blobPath(b.Digest)
	ref = &blobRef{Digest: b.Digest, Size: b.Size}
	if _, err := os.Lstat(dst); err == nil {
		digest, id, stable, herr := hashFile(dst)
		if herr == nil && stable && digest == b.Digest && id.Size == b.Size {
			writeStamp(f.stampPath(b.Digest), imageStamp(dst, digest, id, c))
			return ref, nil, nil
		}
		got := "is unreadable"
		if herr == nil {
			got = "hashes to " + short(digest)
		}
		moved, _, qerr := f.moveToQuarantine(dst)
		if qerr != nil {
			return nil, nil, fmt.Errorf("store blob: %w", qerr)
		}
		replaced = &CorruptBlobError{What: c.what, Path: dst, Digest: b.Digest, Got: got, Quarantine: moved, Fix: c.fix}
	}
	if err := os.Chmod(b.Path, 0o644); err != nil {
		return nil, nil, fmt.Errorf("store blob: %w", err)
	}
	if err := os.Rename(b.Path, dst); err != nil {
		return nil, nil, fmt.Errorf("store blob: %w", err)
	}
	digest, id, stable, err := hashFile(dst)
	if err != nil {
		return nil, nil, fmt.Errorf("store blob: %w", err)
	}
	if digest != b.Digest || !stable {
		f.moveToQuarantine(dst)
		return nil, nil, &IntegrityError{What: c.what, Err: fmt.Errorf("stored blob hashes to %s, not %s", short(digest), short(b.Digest))}
	}
	writeStamp(f.stampPath(b.Digest), imageStamp(dst, digest, id, c))
	return ref, replaced, nil
}

// imageStamp is the stamp of a blob just hashed, with checkImage's answer
// when it is an image (saving the next hit a rehash to add it).
func imageStamp(p, digest string, id fileIdentity, c blobCheck) stamp {
	s := stamp{Digest: digest, Identity: id}
	if c.image {
		if arch, format, err := checkImageFile(p); err == nil {
			s.Arch, s.Kernel = arch, format
		}
	}
	return s
}
