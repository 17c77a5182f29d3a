#!/usr/bin/env bash
# matrix-shard.sh: one job of the scheduled matrix workflow
# (.github/workflows/matrix.yml), runnable on any Linux machine: run shard
# I of N of the kernel list into DIR. Every job computes the same split from
# the same list (`bpfmatrix run --shard`, balanced by each kernel's expected
# cost), so N jobs cover the list exactly once; matrix-merge.sh combines them.
#
#   scripts/matrix-shard.sh -s I/N -o DIR [-k KERNEL[,KERNEL...]] [-- RUN_FLAGS...]
#
# Without -k the list is the whole catalog (kernels/catalog.json); the OCI-only
# kernels are left out unless BPFMATRIX_OCI_REGISTRY names a registry.
# BPFMATRIX is the bpfmatrix binary (default: bin/bpfmatrix of this checkout,
# `make build`). Exit status: run's: 0; 1 when every kernel of the shard
# failed (its report is then in DIR/failed-run, which matrix-merge.sh takes); 2 on
# bad usage.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shard=""
out=""
kernels=""
usage() { echo "usage: $0 -s I/N -o DIR [-k KERNEL[,KERNEL...]] [-- RUN_FLAGS...]" >&2; exit 2; }
while getopts "s:o:k:h" opt; do
	case "$opt" in
	s) shard="$OPTARG" ;;
	o) out="$OPTARG" ;;
	k) kernels="$OPTARG" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$shard" ] && [ -n "$out" ] || usage
bpfmatrix="${BPFMATRIX:-$here/bin/bpfmatrix}"
[ -n "${BPFMATRIX_OCI_REGISTRY:-}" ] || unset BPFMATRIX_OCI_REGISTRY

if [ -z "$kernels" ]; then
	if [ -n "${BPFMATRIX_OCI_REGISTRY:-}" ]; then
		filter='.kernels[].name'
	else
		echo "matrix-shard: BPFMATRIX_OCI_REGISTRY is not set: the OCI-only kernels are left out" >&2
		filter='.kernels[] | select(any(.sources[]; has("debian") or has("file"))) | .name'
	fi
	kernels="$(jq -r "$filter" "$here/kernels/catalog.json" | paste -sd, -)"
fi

# The shard's kernels, for the log (the same split run makes below).
"$bpfmatrix" kernels list --json --kernels "$kernels" --shards "${shard#*/}" |
	jq -r --argjson i "${shard%/*}" '"shard \($i)/\(.shards): " + ([.kernels[] | select(.shard == $i) | .name] | join(","))' >&2
exec "$bpfmatrix" run --kernels "$kernels" --shard "$shard" --out "$out" "$@"
