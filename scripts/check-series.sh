#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check patches/ and selftests/ the way a maintainer would before reading
# them, against the base of a vmtest tree (default: out/linux, made by
# ./vmtest.sh):
#
#   1. every patch applies with `git am` on the pristine base, in order,
#      with no fuzz (checked in a temporary index: the tree is not touched);
#   2. scripts/checkpatch.pl --strict reports no error, warning or check
#      on any patch, except a type that the patch's own commit message
#      names in a line "checkpatch: TYPE: why";
#   3. with -b, every patch builds on its own: see ./vmtest.sh -b.
#
# Prints one line per patch and exits non-zero if any check failed.

set -uo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TREE="${VMTEST_OUTPUT:-$PROJECT_DIR/out}/linux"
BUILD=0

while getopts 'bt:h' opt; do
	case "$opt" in
	b) BUILD=1 ;;
	t) TREE="$OPTARG" ;;
	h) sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done

git -C "$TREE" rev-parse -q --verify vmtest-base >/dev/null || {
	echo "check-series: $TREE is not a vmtest tree; run ./vmtest.sh first" >&2
	exit 2
}

failed=0
index=$(mktemp)
trap 'rm -f "$index" "$index.log"' EXIT
GIT_INDEX_FILE="$index" git -C "$TREE" read-tree vmtest-base

for dir in patches selftests; do
	while read -r name; do
		case "$name" in ''|'#'*) continue ;; esac
		p="$PROJECT_DIR/$dir/$name"

		# 1. applies in order on the base, exactly
		if GIT_INDEX_FILE="$index" git -C "$TREE" apply --cached --check "$p" 2>"$index.log" &&
		   GIT_INDEX_FILE="$index" git -C "$TREE" apply --cached "$p" 2>>"$index.log"; then
			apply=ok
		else
			apply=FAILED
			failed=1
			sed 's/^/    /' "$index.log"
		fi

		# 2. checkpatch --strict; "checkpatch: TYPE: reason" in the
		#    commit message accepts that warning type for this patch.
		allowed=$(sed -n 's/^checkpatch: \([A-Z_]*\): .*/\1/p' "$p" | paste -sd, -)
		out=$(cd "$TREE" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --terse --no-summary \
			--show-types ${allowed:+--ignore "$allowed"} "$p" 2>&1)
		nerr=$(grep -c ': ERROR:' <<<"$out")
		nwarn=$(grep -c ': WARNING:' <<<"$out")
		ncheck=$(grep -c ': CHECK:' <<<"$out")
		if [ "$nerr" -ne 0 ] || [ "$nwarn" -ne 0 ] || [ "$ncheck" -ne 0 ]; then
			failed=1
			sed 's/^/    /' <<<"$out"
		fi
		printf '%-70s apply %-6s checkpatch: %d errors, %d warnings, %d checks%s\n' \
			"$dir/$name" "$apply" "$nerr" "$nwarn" "$ncheck" \
			"${allowed:+ (accepted: $allowed)}"
	done <"$PROJECT_DIR/$dir/series"
done

if [ "$BUILD" -eq 1 ]; then
	"$PROJECT_DIR/vmtest.sh" -b || failed=1
fi

if [ "$failed" -ne 0 ]; then
	echo "check-series: FAILED" >&2
	exit 1
fi
echo "check-series: all patches apply and are checkpatch clean"
