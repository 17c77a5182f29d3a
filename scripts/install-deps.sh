#!/usr/bin/env bash
# Installs the Debian packages bpfmatrix needs to build, test and run.
# Idempotent: packages already present are not touched, and apt-get update runs
# only when something is missing. Needs root (or sudo) only when it installs.
set -euo pipefail

packages=(
	qemu-system-x86       # boots x86_64 kernels (KVM when /dev/kvm is usable, TCG otherwise)
	qemu-system-arm       # boots arm64 kernels (qemu-system-aarch64 -machine virt)
	clang llvm            # compiles bpf/ and tests' C objects (make bpf)
	libbpf-dev            # bpf_helpers.h and friends for the C sources in bpf/
	bpftool               # cross-check inside guests, repro --shell
	busybox-static        # the shell for repro --shell
	debian-archive-keyring # verifies the archive's InRelease signatures
	chromium              # renders and tests the HTML report
	ca-certificates
	gcc make flex bison bc # build kernels from source (bpfmatrix kernels build)
	libelf-dev libssl-dev cpio xz-utils
	dwarves               # pahole: kernel BTF for the bpf-full config group
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
