package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// errNotServed marks an HTTP 404/410: the index lists a file the mirror does
// not have. Callers fall back to the next candidate.
var errNotServed = errors.New("not served by the mirror")

// httpStatusError is any other unexpected HTTP status.
type httpStatusError struct {
	URL    string
	Status string
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// get starts a GET and checks the status. The caller closes the body.
func (f *Fetcher) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %w (%s)", url, errNotServed, resp.Status)
	default:
		resp.Body.Close()
		return nil, &httpStatusError{URL: url, Status: resp.Status}
	}
}

// getBytes downloads url into memory, refusing more than limit bytes.
func (f *Fetcher) getBytes(ctx context.Context, url string, limit int64) ([]byte, error) {
	resp, err := f.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return b, nil
}

// checkedCopy copies exactly size bytes from r to w and checks their SHA256.
// A body that ends early is a truncated download, a longer one or a different
// hash a mismatch: all are integrity errors. progress may be nil.
func checkedCopy(w io.Writer, r io.Reader, what string, size int64, sha string, progress func(done, total int64)) error {
	h := sha256.New()
	var done int64
	buf := make([]byte, 256*1024)
	lr := io.LimitReader(r, size+1)
	for {
		n, err := lr.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			h.Write(buf[:n])
			done += int64(n)
			if progress != nil {
				progress(done, size)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// A broken connection or cancellation: not a verification
			// failure, and nothing was kept.
			return fmt.Errorf("download %s (%d of %d bytes): %w", what, done, size, err)
		}
	}
	if done < size {
		return &IntegrityError{What: what, Err: fmt.Errorf("truncated download (got %d of %d bytes)", done, size)}
	}
	if done > size {
		return &IntegrityError{What: what, Err: fmt.Errorf("size mismatch (more than the %d bytes the index lists)", size)}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return &IntegrityError{What: what, Err: fmt.Errorf("sha256 mismatch (got %s, index lists %s)", got, sha)}
	}
	return nil
}
