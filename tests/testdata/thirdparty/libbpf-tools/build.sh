#!/bin/sh
# Rebuilds the objects in this directory from bcc's libbpf-tools, the way
# libbpf-tools/Makefile builds its .bpf.o files, and rewrites PROVENANCE.
#
#   build.sh BCC_GIT_DIR BCC_COMMIT LIBBPF_GIT_DIR
#
# BCC_GIT_DIR is a clone of https://github.com/iovisor/bcc (bare is fine),
# LIBBPF_GIT_DIR one of https://github.com/libbpf/libbpf that holds the
# commit bcc pins as its src/cc/libbpf submodule: its headers (bpf_helpers.h,
# usdt.bpf.h, ...) are the ones libbpf-tools is written against. vmlinux.h is
# the x86 one committed in libbpf-tools. An object whose source does not
# compile with this clang is left out and listed in PROVENANCE.
# git archive names libbpf-tools/arm64/vmlinux_614.h on stderr when the
# clone lacks that large blob; it is not extracted and not needed.
set -eu

bcc=$1
commit=$2
libbpf=$3
here=$(cd "$(dirname "$0")" && pwd)
clang=${CLANG:-clang}
strip=${LLVM_STRIP:-llvm-strip}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

git --git-dir="$bcc" archive "$commit" LICENSE.txt libbpf-tools/x86 ':(glob)libbpf-tools/*.h' ':(glob)libbpf-tools/*.bpf.c' | tar -x -C "$work"
libbpf_commit=$(git --git-dir="$bcc" ls-tree "$commit" src/cc/libbpf | awk '{print $3}')
mkdir -p "$work/libbpf" "$work/include/bpf"
git --git-dir="$libbpf" archive "$libbpf_commit" src include | tar -x -C "$work/libbpf"
cp "$work"/libbpf/src/*.h "$work/include/bpf/"

rm -f "$here"/*.bpf.o "$here"/linked-*.o
cp "$work/LICENSE.txt" "$here/LICENSE.txt"

# javagc.bpf.c includes <linux/errno.h>, which includes <asm/errno.h>:
# Debian keeps that under the multiarch directory, which clang -target bpf
# does not search (Ubuntu's gcc-multilib links /usr/include/asm).
sysinc=""
if [ ! -e /usr/include/asm/errno.h ] && [ -e /usr/include/x86_64-linux-gnu/asm/errno.h ]; then
	sysinc="-idirafter /usr/include/x86_64-linux-gnu"
fi

cd "$work/libbpf-tools"
built=""
failed=""
for src in *.bpf.c; do
	name=${src%.c}
	# The source paths in the objects' BTF line info are /bcc/..., not
	# this run's temporary directory: the same commit builds the same bytes.
	flags="-g -O2 -Wall -Werror=undef -fdebug-prefix-map=$work=/bcc $sysinc"
	# libbpf-tools/Makefile: softirqs.bpf.o is built for cpu v3.
	[ "$name" = softirqs.bpf ] && flags="$flags -mcpu=v3"
	cmd="$clang $flags -target bpf -D__TARGET_ARCH_x86 -Ix86/ -I\$INCLUDE -I\$LIBBPF/include/uapi -c $src -o $name.o && $strip -g $name.o"
	if $clang $flags -target bpf -D__TARGET_ARCH_x86 -Ix86/ -I"$work/include" -I"$work/libbpf/include/uapi" \
		-c "$src" -o "$here/$name.o" 2>"$work/$name.err" && $strip -g "$here/$name.o"; then
		built="$built $name.o"
	else
		rm -f "$here/$name.o"
		failed="$failed $src"
	fi
done

# A real object of more than 100 programs (needs' BenchmarkExtract):
# three tools with the same licence string linked as libbpf links, with
# bpftool's static linker (klockstat 73 + vfsstat 16 + fsslower 16 = 105).
linked=linked-klockstat-vfsstat-fsslower.o
bpftool=${BPFTOOL:-bpftool}
(cd "$here" && $bpftool gen object "$linked" klockstat.bpf.o vfsstat.bpf.o fsslower.bpf.o)

{
	echo "Source:   https://github.com/iovisor/bcc (libbpf-tools/*.bpf.c)"
	echo "Commit:   $commit"
	echo "libbpf:   https://github.com/libbpf/libbpf $libbpf_commit (bcc's src/cc/libbpf submodule; headers from src/ and include/uapi)"
	echo "vmlinux:  libbpf-tools/x86/vmlinux.h -> $(readlink x86/vmlinux.h)"
	echo "Compiler: $($clang --version | head -1)"
	echo "Strip:    $($strip --version | head -2 | tail -1 | sed 's/^ *//')"
	echo "Licence:  LICENSE.txt (bcc's; the .bpf.c files say GPL-2.0 OR BSD-3-Clause / GPL-2.0 in their SPDX lines)"
	echo "Built by: build.sh in this directory, for each FILE.bpf.c:"
	echo "  $clang -g -O2 -Wall -Werror=undef -fdebug-prefix-map=\$WORK=/bcc [-mcpu=v3 for softirqs] -target bpf -D__TARGET_ARCH_x86 -Ix86/ -I\$INCLUDE -I\$LIBBPF/include/uapi -c FILE.bpf.c -o FILE.bpf.o"
	echo "  $strip -g FILE.bpf.o"
	[ -n "$sysinc" ] && echo "  with $sysinc (for <asm/errno.h>)"
	echo "  where \$WORK holds bcc's tree at that commit (source lines in the BTF say /bcc/libbpf-tools/FILE)"
	echo "  and \$INCLUDE/bpf/ (\$WORK/include/bpf) holds libbpf's src/*.h"
	echo "Linked:   $linked = $bpftool gen object $linked klockstat.bpf.o vfsstat.bpf.o fsslower.bpf.o"
	echo "          ($($bpftool version | head -1), $($bpftool version | sed -n 2p))"
	echo "Objects: $(echo $built | wc -w)"
	for o in $built; do echo "  $o"; done
	echo "Not built (does not compile with this clang): $(echo $failed | wc -w)"
	for s in $failed; do echo "  $s: $(grep -m1 'error:' "$work/${s%.c}.err" | sed "s|$work/||")"; done
} >"$here/PROVENANCE"
