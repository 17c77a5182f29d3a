// Package atomicfile writes a file so that a reader sees either the old
// content or the new one, never a mix, and a killed writer leaves no partial
// file behind: the data goes to a temporary file in the same directory,
// which is renamed over the target (rename(2) is atomic within a file
// system). It is the one implementation the cache, the result cache, the
// report writer and the log writer share.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to path with mode 0644, creating the directory if
// needed. With durable, the data is fsynced before the rename, so that a
// crash cannot leave the new name pointing at unwritten blocks: caches
// whose entries are trusted later want that; reports that are rewritten on
// the next run do not need to pay for it.
func Write(path string, data []byte, durable bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
