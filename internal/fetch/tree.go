package fetch

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"pault.ag/go/debian/dependency"
)

// relationNames returns the first alternative of each relation: the one
// Debian policy (7.1) makes the default and the one apt installs when none
// is present.
func relationNames(rels []dependency.Relation) []string {
	var out []string
	for _, r := range rels {
		if len(r.Possibilities) > 0 {
			out = append(out, r.Possibilities[0].Name)
		}
	}
	return out
}

// extractTree unpacks a package's data.tar into root, as dpkg would under /:
// directories, regular files (keeping the executable bit, dropping set-id
// bits), symlinks (stored as they are; resolveInTree follows them without
// leaving root) and hard links to files already unpacked. Every entry name
// is checked first: an absolute or ".." path, or one that goes through a
// symlink an earlier entry made (links, shared across the packages of one
// tree), is an *IntegrityError and stops the unpack, so nothing is ever
// written outside root. Device nodes and FIFOs are skipped.
func extractTree(r io.Reader, root string, links map[string]bool) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := cleanEntryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if err := checkNoLinkParent(name, links); err != nil {
			return err
		}
		dst := filepath.Join(root, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		case tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
		default:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := removeNonDir(dst); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		delete(links, name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			perm := os.FileMode(0o644)
			if hdr.Mode&0o111 != 0 {
				perm = 0o755
			}
			if err := writeNew(dst, tr, perm); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return err
			}
			links[name] = true
		case tar.TypeLink:
			target, err := cleanEntryName(hdr.Linkname)
			if err != nil {
				return err
			}
			if err := checkNoLinkParent(target, links); err != nil {
				return err
			}
			if links[target] {
				return &IntegrityError{What: "tar entry " + strconv.Quote(hdr.Name), Err: errors.New("hard link to a symlink")}
			}
			if err := os.Link(filepath.Join(root, filepath.FromSlash(target)), dst); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		}
	}
}

// checkNoLinkParent refuses an entry whose parent directories include a
// symlink unpacked earlier: writing through it could leave the tree.
func checkNoLinkParent(name string, links map[string]bool) error {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		if links[d] {
			return &IntegrityError{What: "tar entry " + strconv.Quote(name), Err: fmt.Errorf("path goes through the symlink %s", d)}
		}
	}
	return nil
}

// removeNonDir removes p if it is a file or symlink (a later package
// replacing an earlier one's file); a directory there is an error.
func removeNonDir(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return errors.New("a directory is in the way")
	}
	return os.Remove(p)
}

// writeNew creates p (which must not exist: O_EXCL never follows a symlink)
// and copies r into it.
func writeNew(p string, r io.Reader, perm os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resolveInTree maps the absolute guest path p to a host path under root,
// following symlinks as a guest whose root is root would: an absolute target
// restarts at root, ".." stops at root. It returns the path of the final
// non-symlink; an error wrapping os.ErrNotExist when a component is missing.
func resolveInTree(root, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("resolve %s: not an absolute path", p)
	}
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for hops := 0; len(rest) > 0; {
		comp := rest[0]
		rest = rest[1:]
		if comp == "" || comp == "." {
			continue
		}
		next := path.Join(cur, comp)
		host := filepath.Join(root, filepath.FromSlash(next))
		st, err := os.Lstat(host)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if st.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		// path.Clean drops ".." at the root: the walk cannot leave it.
		rest = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), rest...)
		cur = "/"
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}
