package kconfig

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Config holds a kernel's config options (CONFIG_X -> y, m or a value;
// "# CONFIG_X is not set" reads as n). A nil Config means the config is
// unknown.
type Config map[string]string

// Enabled reports whether option is y or m.
func (c Config) Enabled(option string) bool {
	v := c[option]
	return v == "y" || v == "m"
}

// Read reads a kernel config file, plain or gzip-compressed.
func Read(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	cfg, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Find reads the config at path or, when path is empty, the running kernel's
// (release is its `uname -r`): /boot/config-RELEASE, then /proc/config.gz.
// Neither existing is no error: the config is unknown (nil). A file that
// exists but does not read as a config is an error.
func Find(path, release string) (Config, error) {
	if path != "" {
		return Read(path)
	}
	for _, p := range []string{"/boot/config-" + release, "/proc/config.gz"} {
		cfg, err := Read(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return cfg, err
	}
	return nil, nil
}

// Parse parses the text of a kernel .config, or its gzip compression.
func Parse(raw []byte) (Config, error) {
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse kernel config: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("parse kernel config: %w", err)
		}
	}
	cfg := Config{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "# "); ok && strings.HasSuffix(name, " is not set") {
			cfg[strings.TrimSuffix(name, " is not set")] = "n"
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "CONFIG_") {
			return nil, fmt.Errorf("parse kernel config: unexpected line %q", line)
		}
		cfg[k] = strings.Trim(v, `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse kernel config: %w", err)
	}
	if len(cfg) == 0 {
		return nil, fmt.Errorf("parse kernel config: no options")
	}
	return cfg, nil
}
