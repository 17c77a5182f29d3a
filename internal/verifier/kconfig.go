package verifier

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"golang.org/x/sys/unix"
)

// ParseKernelConfig reads a kernel .config (plain or gzip, as /proc/config.gz)
// into option -> value; "# CONFIG_X is not set" becomes "n".
func ParseKernelConfig(r io.Reader) (map[string]string, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read kernel config: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	cfg := map[string]string{}
	sc := bufio.NewScanner(br)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				cfg[name] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			cfg[k] = strings.Trim(v, `"`)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	if len(cfg) == 0 {
		return nil, fmt.Errorf("read kernel config: no CONFIG_ lines")
	}
	return cfg, nil
}

// RunningKernel describes the running kernel: its version from uname, its
// config from configPath, or when empty from /proc/config.gz or
// /boot/config-<release> (nil config when none exists).
func RunningKernel(configPath string) (Kernel, string, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return Kernel{}, "", fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	v, err := bpf.ParseVersion(release)
	if err != nil {
		return Kernel{}, release, err
	}
	k := Kernel{Version: v}
	paths := []string{configPath}
	if configPath == "" {
		paths = []string{"/proc/config.gz", "/boot/config-" + release}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			if configPath == "" && os.IsNotExist(err) {
				continue
			}
			return k, release, fmt.Errorf("open kernel config: %w", err)
		}
		k.Config, err = ParseKernelConfig(f)
		f.Close()
		if err != nil {
			return k, release, fmt.Errorf("%s: %w", p, err)
		}
		break
	}
	return k, release, nil
}

// RaiseMemlock lifts RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF
// maps and programs to. Without CAP_SYS_RESOURCE only the soft limit can be
// raised (to the hard one); that is not an error. This is what
// cilium/ebpf/rlimit does, without its package-init BPF syscall.
func RaiseMemlock() error {
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf); err == nil {
		return nil
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &cur); err != nil {
		return fmt.Errorf("get RLIMIT_MEMLOCK: %w", err)
	}
	cur.Cur = cur.Max
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &cur); err != nil {
		return fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	return nil
}
