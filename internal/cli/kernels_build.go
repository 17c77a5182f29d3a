package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kbuild"
	"github.com/bpfmatrix/bpfmatrix/kernels"
)

func newKernelsBuildCmd(g *globals) *cobra.Command {
	var (
		groups []string
		name   string
		arch   string
	)
	cmd := &cobra.Command{
		Use:   "build SOURCE --config GROUP[,GROUP...] [--name NAME]",
		Short: "Build a kernel from source with named kconfig groups, usable by name afterwards",
		Long: `Build a bootable kernel from SOURCE: a Debian linux-source-X.Y package
(fetched and verified through the archive's signed index, from the suites the
catalog names for X.Y) or a local kernel tarball (linux-X.Y.tar.xz).

The kernel is configured with its own tools: make tinyconfig, then
scripts/kconfig/merge_config.sh with the base group and the --config groups
(kernels/configs/, embedded), then make olddefconfig; every option a group asked
for must be in the resulting .config (the error names the one that was dropped).
Groups: ` + fmt.Sprint(kbuild.Groups(kernels.Configs)) + `.

Builds are cached by (source digest, config digest, compiler version) under the
cache directory's built/; progress goes to stderr and the build log is kept,
and named, when the build fails. The kernel is added to the cache's catalog of
built kernels (built/catalog.json) under --name (default
built-<version>-<groups>), so --kernel NAME works in every command.
arm64 needs aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := kbuild.Options{
				CacheDir: g.cacheDir,
				Configs:  kernels.Configs,
				Arch:     catalog.Arch(arch),
				Groups:   groups,
				Name:     name,
				Progress: g.stderr,
			}
			if _, err := kbuild.Prepare(args[0], opts); err != nil {
				return usageError("%v", err)
			}
			f, err := g.fetcher(nil)
			if err != nil {
				return err
			}
			opts.Fetcher = f
			start := time.Now()
			b, err := kbuild.Build(cmd.Context(), args[0], opts)
			var dropped *kbuild.OptionDroppedError
			if errors.As(err, &dropped) || errors.Is(err, kbuild.ErrBadSource) {
				return usageError("%v", err)
			}
			if err != nil {
				return err
			}
			state := fmt.Sprintf("built in %s", time.Since(start).Round(time.Second))
			if b.Cached {
				state = "cached"
			}
			if st, err := os.Stat(b.Image); err == nil {
				state += fmt.Sprintf(", %s %.1f MB", filepath.Base(b.Image), float64(st.Size())/1e6)
			}
			fmt.Fprintf(g.stdout, "%s  %s  %s  %s  %s\n", b.Name, b.Version, b.Arch, state, b.Image)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&groups, "config", nil, "kconfig groups to apply after base, in order (comma-separated or repeated)")
	cmd.Flags().StringVar(&name, "name", "", "catalog name of the built kernel (default built-<version>-<groups>)")
	cmd.Flags().StringVar(&arch, "arch", string(catalog.AMD64), "x86_64 or arm64 (arm64 needs aarch64-linux-gnu-gcc)")
	return cmd
}
