package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/spf13/cobra"
)

// globals are the options shared by every command. They are fields, not
// package-level variables, so that tests can run commands concurrently.
type globals struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	cacheDir       string
	mirror         string
	securityMirror string
	ociRegistry    string
	catalogFile    string
	verbose        bool
}

// logger returns the logger handed to library code (which never logs itself).
func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

// ExitError carries a specific exit status (e.g. the guest program's status
// for `exec`, 1 for a rejected program in `check`, 2 for bad input).
type ExitError struct {
	Code int
	Err  error // nil: exit silently with Code
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks bad input: exit status 2.
func usageError(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// ExitCode prints err as one line (if any) and returns the process exit status.
func ExitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "Error:", ee.Err)
		}
		return ee.Code
	}
	if errors.Is(err, fetch.ErrNotConfigured) {
		// A kernel source that cannot work with this configuration (no
		// Debian mirror on an Ubuntu host) is bad input: the one line
		// names the setting.
		fmt.Fprintln(stderr, "Error:", err)
		return 2
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "Error: interrupted")
		return 130
	}
	fmt.Fprintln(stderr, "Error:", err)
	return 1
}

func defaultCacheDir() string {
	if d := os.Getenv("BPFMATRIX_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "bpfmatrix")
	}
	return filepath.Join(os.TempDir(), "bpfmatrix-cache")
}

// Run executes the bpfmatrix command line args.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && !isExitError(err) && isCobraUsage(err) {
		return usageError("%v", err)
	}
	return err
}

// newRootCmd builds the command tree (flags bound to g).
func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "bpfmatrix",
		Short:         "Boot real kernels in QEMU and publish what their BPF subsystem can do",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&g.cacheDir, "cache-dir", defaultCacheDir(), "kernel and result cache (env BPFMATRIX_CACHE)")
	pf.StringVar(&g.mirror, "mirror", os.Getenv("BPFMATRIX_DEBIAN_MIRROR"), "Debian archive URL (env BPFMATRIX_DEBIAN_MIRROR; default: from the machine's apt sources)")
	pf.StringVar(&g.securityMirror, "security-mirror", os.Getenv("BPFMATRIX_DEBIAN_SECURITY_MIRROR"), "Debian security archive URL (env BPFMATRIX_DEBIAN_SECURITY_MIRROR; default: from apt sources)")
	pf.StringVar(&g.ociRegistry, "oci-registry", os.Getenv("BPFMATRIX_OCI_REGISTRY"), "registry host for the catalog's OCI kernel images (env BPFMATRIX_OCI_REGISTRY; default "+fetch.DefaultOCIRegistry+", where cilium/ci-kernels publishes)")
	pf.StringVar(&g.catalogFile, "catalog", os.Getenv("BPFMATRIX_CATALOG"), "user kernel catalog `FILE` merged over the embedded one, in its format (env BPFMATRIX_CATALOG)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "show VM consoles and debug logs")
	root.AddCommand(
		newKernelsCmd(g),
		newExecCmd(g),
		newProbeCmd(g),
		newRunCmd(g),
		newMergeCmd(g),
		newCheckCmd(g),
		newReproCmd(g),
		newNeedsCmd(g),
		newDiffCmd(g),
		newReportCmd(g),
		newVersionCmd(g),
	)
	// Unknown subcommands are bad input, not a help page with status 0.
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("unknown command %q for bpfmatrix (see 'bpfmatrix --help')", args[0])
		}
		return cmd.Help()
	}
	return root
}

func isExitError(err error) bool {
	var ee *ExitError
	return errors.As(err, &ee)
}

// consoleWriter is where VM consoles go as they arrive: stderr with -v,
// nowhere otherwise (they are kept and shown on failure).
func (g *globals) consoleWriter() io.Writer {
	if g.verbose {
		return g.stderr
	}
	return nil
}

// requireConfigured fails, before anything boots, when a kernel of specs
// cannot be fetched with this configuration (ExitCode makes it status 2).
func requireConfigured(f *fetch.Fetcher, specs []catalog.KernelSpec) error {
	for _, s := range specs {
		if err := f.Configured(s); err != nil {
			return fmt.Errorf("fetch %s: %w", s.Name, err)
		}
	}
	return nil
}
