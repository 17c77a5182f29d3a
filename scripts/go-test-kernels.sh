#!/usr/bin/env bash
# go-test-kernels.sh: the logic of the bpfmatrix GitHub Action (action.yml),
# runnable on any Linux machine: install what QEMU needs, build bpfmatrix from
# this checkout (the action's own ref), then run `go test -exec 'bpfmatrix exec
# --kernel K'` over the given packages once per kernel.
#
#   scripts/go-test-kernels.sh -k debian-5.10,debian-6.1 [-C DIR] [-f "-race -v"] [PACKAGES...]
#
# Environment: BPFMATRIX_DEBIAN_MIRROR / BPFMATRIX_DEBIAN_SECURITY_MIRROR /
# BPFMATRIX_OCI_REGISTRY are passed through to bpfmatrix; BPFMATRIX_BIN_DIR
# chooses where the binaries go (default: a directory under the cache).
# Exit status: 0 if every kernel passed, 1 if any test failed, 2 on bad usage.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kernels=""
dir="."
flags=""
usage() { echo "usage: $0 -k KERNEL[,KERNEL...] [-C DIR] [-f GO_TEST_FLAGS] [PACKAGES...]" >&2; exit 2; }
while getopts "k:C:f:h" opt; do
	case "$opt" in
	k) kernels="$OPTARG" ;;
	C) dir="$OPTARG" ;;
	f) flags="$OPTARG" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$kernels" ] || usage
[ -d "$dir" ] || { echo "go-test-kernels: -C $dir: not a directory" >&2; exit 2; }
packages=("$@")
# An input left empty in action.yml arrives as an empty variable: unset it so
# bpfmatrix falls back to its own default (apt sources, ghcr.io).
for v in BPFMATRIX_DEBIAN_MIRROR BPFMATRIX_DEBIAN_SECURITY_MIRROR BPFMATRIX_OCI_REGISTRY; do
	[ -n "${!v:-}" ] || unset "$v"
done
[ ${#packages[@]} -gt 0 ] || packages=(./...)
IFS=', ' read -r -a kernel_list <<<"$kernels"

# QEMU for the architectures asked for, and the Debian keyring that verifies
# the archive's signatures (Ubuntu ships debian-archive-keyring too).
need=(debian-archive-keyring qemu-system-x86)
for k in "${kernel_list[@]}"; do
	case "$k" in *-arm64) need+=(qemu-system-arm) ;; esac
done
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "go-test-kernels: installing ${missing[*]}" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# KVM when the machine has it: GitHub's Linux runners expose /dev/kvm but
# only to root until a udev rule opens it.
if [ -e /dev/kvm ] && ! [ -w /dev/kvm ] && command -v udevadm >/dev/null && sudo -n true 2>/dev/null; then
	echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' | sudo tee /etc/udev/rules.d/99-kvm4all.rules >/dev/null
	sudo udevadm control --reload-rules
	sudo udevadm trigger --name-match=kvm
fi

# bpfmatrix and its guest binaries, built from this checkout: the binaries
# sit side by side, where bpfmatrix looks for bpfmatrix-init-<arch> first.
bin="${BPFMATRIX_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bpfmatrix/action-bin}"
make -s -C "$here" build BIN="$bin" >&2
export PATH="$bin:$PATH"
bpfmatrix version >&2

# Fetch every kernel first: a kernel that cannot be had is one clear line
# (and exit 2) before any test runs.
bpfmatrix kernels fetch "${kernel_list[@]}" >&2

status=0
cd "$dir"
for k in "${kernel_list[@]}"; do
	[ "${GITHUB_ACTIONS:-}" != true ] || echo "::group::go test on $k"
	# shellcheck disable=SC2086 # flags are words by design
	if go test -exec "bpfmatrix exec --kernel $k" $flags "${packages[@]}"; then
		result="ok"
	else
		result="FAIL"
		status=1
	fi
	[ "${GITHUB_ACTIONS:-}" != true ] || echo "::endgroup::"
	echo "go-test-kernels: $k: $result" >&2
done
exit "$status"
