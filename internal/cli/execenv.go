package cli

import (
	"strings"

	"github.com/spf13/pflag"
)

// The environment of a program run by `bpfmatrix exec`: the host's, so that
// `go test -exec` behaves like go test (CI settings, a test's own knobs),
// minus what describes the host session rather than the program's inputs
// (its paths do not exist in the guest, or would lie about it), plus
// repeated --env VAR=VALUE. The guest's init sets PATH, HOME and TMPDIR
// first; a later entry wins (os/exec keeps the last value of a key).

// hostOnlyEnv are variables not forwarded to the guest.
var hostOnlyEnv = map[string]bool{
	"PATH": true, "HOME": true, "TERM": true, "PWD": true, "OLDPWD": true, "SHLVL": true, "_": true,
	"TMPDIR": true, "TMP": true, "TEMP": true, "GOTMPDIR": true,
	"DISPLAY": true, "WAYLAND_DISPLAY": true, "COLORTERM": true, "TERMCAP": true, "LS_COLORS": true,
	"USER": true, "LOGNAME": true, "MAIL": true, "SHELL": true, "HOSTNAME": true,
	"DBUS_SESSION_BUS_ADDRESS": true, "GPG_AGENT_INFO": true, "KRB5CCNAME": true, "LD_PRELOAD": true,
}

// hostOnlyEnvPrefixes are families of host-session variables.
var hostOnlyEnvPrefixes = []string{"SSH_", "XDG_", "SUDO_"}

// GuestKernelEnv names the catalog kernel in the guest's environment; the
// kernel command line carries the same name (guestMarker), which a program
// started by other means than exec also sees.
const GuestKernelEnv = "BPFMATRIX_KERNEL"

// registerEnvFlag adds --env to an exec-like command.
func registerEnvFlag(fl *pflag.FlagSet, env *[]string) {
	fl.StringArrayVar(env, "env", nil, "set VAR=VALUE in the program's environment (repeatable); the host's environment is forwarded except PATH, HOME, TERM, TMPDIR, USER, SHELL, SSH_*, XDG_* and similar session variables")
}

// execEnv returns the guest program's environment: host minus host-only
// variables, then GuestKernelEnv, then extra (each VAR=VALUE, checked here:
// a usage error before anything boots).
func execEnv(host, extra []string, kernel string) ([]string, error) {
	for _, kv := range extra {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, usageError("--env %q: want VAR=VALUE", kv)
		}
	}
	env := make([]string, 0, len(host)+1+len(extra))
	for _, kv := range host {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || hostOnly(k) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, GuestKernelEnv+"="+kernel)
	return append(env, extra...), nil
}

func hostOnly(k string) bool {
	if hostOnlyEnv[k] {
		return true
	}
	for _, p := range hostOnlyEnvPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// guestMarker is the kernel command line parameter that tells a program in
// the guest which catalog kernel it runs on (vmtest reads it from
// /proc/cmdline). A dotted parameter is a module parameter to the kernel:
// it is neither passed to /init nor reported as unknown.
func guestMarker(kernel string) []string {
	return []string{"bpfmatrix.kernel=" + kernel}
}
