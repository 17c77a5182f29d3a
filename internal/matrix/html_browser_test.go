package matrix

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// newBrowser starts a real headless Chromium (Debian's chromium package,
// installed by scripts/install-deps.sh) with a fresh profile and no
// background network traffic. The whole browser lives at most 2 minutes.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	require.NoError(t, err, "chromium is needed for this test: run scripts/install-deps.sh")
	// Not t.TempDir: Chromium's child processes can write into the profile
	// for a moment after the browser exits, and TempDir's cleanup would
	// then fail the test. Retry the removal instead.
	profile, err := os.MkdirTemp("", "bpfmatrix-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Cleanups run last-registered first: browser, allocator (waits for
	// the process to exit), timeout, and only then the profile directory.
	t.Cleanup(cancelTimeout)
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelBrowser)
	_, err = chromedp.Run(bctx, chromedp.Evaluate[int](`1`))
	require.NoError(t, err, "start chromium")
	return bctx
}

// servePage writes the report for m into a temp dir and serves it over HTTP.
func servePage(t testing.TB, m *result.Matrix) (url, dir string) {
	t.Helper()
	dir = t.TempDir()
	require.NoError(t, Write(dir, m))
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + FileHTML, dir
}

// searchMatches mirrors the page's search: every whitespace-separated word
// must occur in "kind program_type name", case-insensitively.
func searchMatches(d *pageData, query string) []int {
	words := strings.Fields(strings.ToLower(query))
	var out []int
	for i, r := range d.Rows {
		g := d.Groups[r[0].(int)]
		text := strings.ToLower(d.Kinds[g.Kind] + " " + g.PType + " " + r[1].(string))
		ok := true
		for _, w := range words {
			if !strings.Contains(text, w) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// findCell returns the page row and kernel index of the first cell that
// satisfies want, scanning kernels in order.
func findCell(d *pageData, md *model, want func(f *result.Feature) bool) (row, kernel int, f *result.Feature) {
	for i, r := range md.featureRows() {
		for k, c := range r.cells {
			if c != nil && want(c) {
				return i, k, c
			}
		}
	}
	return -1, -1, nil
}

func saveScreenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	path := filepath.Join(t.ArtifactDir(), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s (kept with go test -artifacts)", path)
}

func evaluate[T any](t testing.TB, ctx context.Context, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, opts...))
	require.NoError(t, err, js)
	return v
}

// search replaces the search box's text the way typing does (an input event).
func search(t testing.TB, ctx context.Context, q string) {
	t.Helper()
	js, err := json.Marshal(q)
	require.NoError(t, err)
	evaluate[bool](t, ctx, `(() => { const e = document.getElementById('q'); e.value = `+string(js)+`; return e.dispatchEvent(new Event('input')); })()`)
}

func waitShown(t testing.TB, ctx context.Context, n int) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Run(pctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById('count').dataset.shown === "%d"`, n)))
	require.NoError(t, err, "waiting for %d rows (page says %s)", n, evaluate[string](t, ctx, `document.getElementById('count').textContent`))
}

func checkPageInChromium(t *testing.T, m *result.Matrix, query string) {
	url, _ := servePage(t, m)
	ctx := newBrowser(t)
	d := buildPage(m)
	md := newModel(m)
	wantRows := len(md.featureRows()) + len(md.verifier)
	require.Equal(t, wantRows, len(d.Rows))

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`))))
	kernelCols := evaluate[int](t, ctx, `document.querySelectorAll('#head th.k').length`)
	total := evaluate[string](t, ctx, `document.getElementById('count').dataset.total`)
	shown := evaluate[string](t, ctx, `document.getElementById('count').dataset.shown`)
	renderMs := evaluate[float64](t, ctx, `window.bpfmatrix.renderMs`)
	assert.Equal(t, len(m.Kernels), kernelCols, "one column per kernel, failed ones included")
	assert.Equal(t, fmt.Sprint(wantRows), total)
	assert.Equal(t, fmt.Sprint(wantRows), shown, "no filter: every row")
	t.Logf("%d kernels × %d rows: first render %.0f ms", kernelCols, wantRows, renderMs)

	t.Run("search", func(t *testing.T) {
		want := searchMatches(d, query)
		require.NotEmpty(t, want, "the query must match something in the fixture")
		require.Less(t, len(want), wantRows, "the query must filter something out")
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#q"), query)))
		waitShown(t, ctx, len(want))
		names := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll('#body tr.row td.name')).map(e => e.textContent)`)
		require.NotEmpty(t, names)
		for i, n := range names {
			assert.Equal(t, d.Rows[want[i]][1], n, "row %d in view", i)
		}
		search(t, ctx, "")
		waitShown(t, ctx, wantRows)
	})

	t.Run("detail panel", func(t *testing.T) {
		row, k, f := findCell(d, md, func(f *result.Feature) bool {
			return f.Status == result.Unsupported && f.Reason != nil && f.Reason.Kind == result.ReasonVersion && f.Reason.Commit != ""
		})
		if row < 0 {
			row, k, f = findCell(d, md, func(f *result.Feature) bool { return f.Status == result.Unsupported && f.Reason != nil })
		}
		require.GreaterOrEqual(t, row, 0, "the fixture must have an unsupported feature with a reason")
		// Search for the exact row so it is in view, then click its cell.
		q := f.Name
		if f.ProgramType != "" {
			q = f.ProgramType + " " + f.Name
		}
		sel := fmt.Sprintf(`#body tr.row[data-r="%d"] td.c[data-k="%d"]`, row, k)
		search(t, ctx, q)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, chromedp.WaitVisible(chromedp.CSS(sel))), "cell %s", sel)
		require.NoError(t, chromedp.Do(sctx, chromedp.Click(chromedp.CSS(sel))), "click %s", sel)
		require.NoError(t, chromedp.Do(sctx, chromedp.WaitVisible(chromedp.CSS("#detail"))), "detail panel")
		text, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("#detail")))
		require.NoError(t, err)
		assert.Contains(t, text, f.Name)
		assert.Contains(t, text, m.Kernels[k].Kernel.Name)
		assert.Contains(t, text, "unsupported")
		assert.Contains(t, text, ReasonText(f.Reason))
		if f.Reason.Version != "" {
			assert.Contains(t, text, f.Reason.Version)
		}
		if f.Reason.Commit != "" {
			assert.Contains(t, text, f.Reason.Commit, "the full commit is in the panel")
		}
		if f.Reason.Config != "" {
			assert.Contains(t, text, f.Reason.Config)
		}
		saveScreenshot(t, ctx, "index-detail.png")
	})
}

// TestHTMLPresentInChromium: a present cell (declared by the kernel's BTF,
// judged by no probe) has its own symbol, class and status text in a real
// browser, is found by its own filter, and is counted apart in the kernel's
// detail.
func TestHTMLPresentInChromium(t *testing.T) {
	m := minimalMatrix()
	url, _ := servePage(t, m)
	ctx := newBrowser(t)
	d := buildPage(m)
	row := -1
	for i, r := range d.Rows {
		if r[1] == "tracing_multi" {
			row = i
		}
	}
	require.GreaterOrEqual(t, row, 0)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`))))

	sel := fmt.Sprintf(`#body tr.row[data-r="%d"] td.c[data-k="0"]`, row)
	assert.Equal(t, "c P", evaluate[string](t, ctx, `document.querySelector('`+sel+`').className`))
	assert.Equal(t, "○", evaluate[string](t, ctx, `document.querySelector('`+sel+`').textContent`))
	assert.Equal(t, "rgb(221, 244, 255)", evaluate[string](t, ctx, `getComputedStyle(document.querySelector('`+sel+`')).backgroundColor`),
		"the P class is styled")
	assert.Contains(t, evaluate[string](t, ctx, `document.querySelector('.legend').textContent`), "○ present")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#detail"))))
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail")))
	require.NoError(t, err)
	assert.Contains(t, text, "○ present, not probed")
	assert.Contains(t, text, presentTracingMulti)
	assert.NotContains(t, text, "supported")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#head th.k[data-k="0"]`))))
	text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail")))
	require.NoError(t, err)
	assert.Contains(t, text, "3 ✓ / 2 ✗ / 1 ? / 1 ○")

	evaluate[bool](t, ctx, `(() => { const e = document.getElementById('filter'); e.value = 'present'; return e.dispatchEvent(new Event('change')); })()`)
	waitShown(t, ctx, 1)
	names := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll('#body tr.row td.name')).map(e => e.textContent)`)
	assert.Equal(t, []string{"tracing_multi"}, names)
}
