#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check a base's patches/ and selftests/ the way a maintainer would before
# reading them, against the base of a vmtest tree (default: out/BASE/linux,
# made by ./vmtest.sh -r BASE):
#
#   scripts/check-series.sh [-r BASE] [-t TREE] [-b]
#
#   1. every patch applies with `git am` on the pristine base, in order,
#      with no fuzz (checked in a temporary index: the tree is not touched);
#   2. scripts/checkpatch.pl --strict reports no error, warning or check
#      on any patch, except a type that checkpatch.exceptions (in the
#      project) accepts for that patch's subject, with the reason;
#   3. with -b, every patch builds on its own: see ./vmtest.sh -b.
#
# Prints one line per patch and exits non-zero if any check failed.

set -uo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE=7.3
TREE=""
BUILD=0

while getopts 'r:bt:h' opt; do
	case "$opt" in
	r) BASE="$OPTARG" ;;
	b) BUILD=1 ;;
	t) TREE="$OPTARG" ;;
	h) sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done

case "$BASE" in
7.3) SERIES_DIR="$PROJECT_DIR" ;;
6.12) SERIES_DIR="$PROJECT_DIR/backports/6.12" ;;
*) echo "check-series: no series for base '$BASE'" >&2; exit 2 ;;
esac
: "${TREE:=${VMTEST_OUTPUT:-$PROJECT_DIR/out/$BASE}/linux}"
EXCEPTIONS="$PROJECT_DIR/checkpatch.exceptions"

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
		p="$SERIES_DIR/$dir/$name"

		# 1. applies in order on the base, exactly
		if GIT_INDEX_FILE="$index" git -C "$TREE" apply --cached --check "$p" 2>"$index.log" &&
		   GIT_INDEX_FILE="$index" git -C "$TREE" apply --cached "$p" 2>>"$index.log"; then
			apply=ok
		else
			apply=FAILED
			failed=1
			sed 's/^/    /' "$index.log"
		fi

		# 2. checkpatch --strict; checkpatch.exceptions lines
		#    "TYPE | subject | reason" accept a type for a patch.
		# (format-patch folds long subjects onto continuation lines)
		subject=$(awk '/^Subject: / { s = $0; getline; while (/^ /) { s = s $0; getline } print s; exit }' "$p" |
			sed 's/^Subject: \(\[[^]]*\] \)\{0,1\}//')
		allowed=$(awk -F' [|] ' -v s="$subject" '!/^#/ && NF >= 3 && $2 == s { print $1 }' \
			"$EXCEPTIONS" 2>/dev/null | paste -sd, -)
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
			"${SERIES_DIR#"$PROJECT_DIR"/}/$dir/$name" "$apply" "$nerr" "$nwarn" "$ncheck" \
			"${allowed:+ (accepted: $allowed)}"
	done <"$SERIES_DIR/$dir/series"
done

if [ "$BUILD" -eq 1 ]; then
	"$PROJECT_DIR/vmtest.sh" -r "$BASE" -b || failed=1
fi

if [ "$failed" -ne 0 ]; then
	echo "check-series: FAILED" >&2
	exit 1
fi
echo "check-series: all patches apply and are checkpatch clean"
