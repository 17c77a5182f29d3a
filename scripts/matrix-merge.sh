#!/usr/bin/env bash
# matrix-merge.sh: the merge job of the scheduled matrix workflow
# (.github/workflows/matrix.yml), runnable on any Linux machine: combine the
# shards' report directories (matrix-shard.sh) into one report in OUT, and
# with -p compare it with a previous matrix.json (last week's).
#
#   scripts/matrix-merge.sh -o OUT [-p PREVIOUS/matrix.json] SHARD_DIR...
#
# A shard in which every kernel failed left its report in SHARD_DIR/failed-run
# (run keeps DIR's report then); that report is merged, so each failed kernel
# keeps its error entry. The diff (Markdown) goes to stdout.
# BPFMATRIX is the bpfmatrix binary (default: bin/bpfmatrix of this checkout).
# Exit status: 0; 1 when the diff finds something lost; 2 on bad input (an
# invalid shard, two different kernel images under one name).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out=""
prev=""
usage() { echo "usage: $0 -o OUT [-p PREVIOUS/matrix.json] SHARD_DIR..." >&2; exit 2; }
while getopts "o:p:h" opt; do
	case "$opt" in
	o) out="$OPTARG" ;;
	p) prev="$OPTARG" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$out" ] && [ $# -gt 0 ] || usage
bpfmatrix="${BPFMATRIX:-$here/bin/bpfmatrix}"

inputs=()
for d in "$@"; do
	if [ -f "$d/failed-run/matrix.json" ]; then
		inputs+=("$d/failed-run")
	elif [ -f "$d/matrix.json" ]; then
		inputs+=("$d")
	else
		echo "matrix-merge: $d: no matrix.json (did its shard job run?)" >&2
		exit 2
	fi
done
"$bpfmatrix" merge "${inputs[@]}" --out "$out"

if [ -n "$prev" ]; then
	if [ -f "$prev" ]; then
		"$bpfmatrix" diff --format markdown "$prev" "$out/matrix.json"
	else
		echo "matrix-merge: no previous matrix ($prev): nothing to compare" >&2
	fi
fi
