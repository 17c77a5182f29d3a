package check_test

import (
	"context"
	"fmt"
	"os"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

// Check an object against two kernels from Go, with a value user space
// sets before load, and print the verdicts. (Compiled, not run: it boots
// kernels; tests/check_test.go runs the same through the CLI.)
func Example() {
	ctx := context.Background()
	inputs, err := check.Open([]string{"probe.bpf.o"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // no object could be read
		return
	}
	var values object.Values
	if err := values.Set("map.events.max_entries=1024"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	if err := values.Check(check.Objects(inputs)); err != nil {
		fmt.Fprintln(os.Stderr, err) // a value no object has a place for
		return
	}
	specs, err := catalog.Default().LookupAll([]string{"debian-5.10", "debian-6.1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fetcher, err := fetch.New(fetch.Options{CacheDir: os.ExpandEnv("$HOME/.cache/bpfmatrix")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	rep, _, err := check.Check(ctx, specs, inputs, check.Options{Fetcher: fetcher, Values: &values})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, row := range rep.Rows {
		for _, k := range rep.Kernels {
			c := row.Cells[k.Name]
			fmt.Printf("%s %s on %s: %s (%s) %s\n", row.Kind, row.Name, k.Name, c.Status, c.Loader, c.Summary)
		}
	}
	if rep.Failed() {
		os.Exit(1)
	}
}
