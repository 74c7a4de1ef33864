#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Regenerate a base's patches/ and selftests/ from the commits of a vmtest
# git tree, so that no patch file is ever edited by hand.
#
#   scripts/export-series.sh [-r BASE] [TREE]
#
# BASE is 7.3 (the default: patches/ and selftests/) or 6.12
# (backports/6.12/patches/ and backports/6.12/selftests/); TREE defaults to
# out/BASE/linux, the tree ./vmtest.sh -r BASE made.
#
# The commits vmtest-base..HEAD are split by subject: "selftests/bpf: ..."
# commits go to selftests/, all others to patches/; every kernel commit
# must come before the first selftests commit.  Each directory gets
# `git format-patch --cover-letter` output and a `series` file.  The
# subject and text of the existing 0000-cover-letter.patch are kept; its
# shortlog, diffstat and base-commit are regenerated.  Two runs on the same
# tree give identical files.  The series file starts with a comment naming
# the base the series applies to (the subject of the vmtest-base commit).

set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die()
{
	echo "export-series: $*" >&2
	exit 1
}

BASE=7.3
if [ "${1:-}" = "-r" ]; then
	BASE="${2:-}"
	shift 2 || die "-r needs a base"
fi
case "$BASE" in
7.3) SERIES_DIR="$PROJECT_DIR" ;;
6.12) SERIES_DIR="$PROJECT_DIR/backports/6.12" ;;
*) die "no series for base '$BASE' (bases: 7.3 6.12)" ;;
esac
OUT="${VMTEST_OUTPUT:-$PROJECT_DIR/out/$BASE}"
TREE="${1:-$OUT/linux}"

git -C "$TREE" rev-parse -q --verify vmtest-base >/dev/null ||
	die "$TREE is not a vmtest tree (no vmtest-base tag); run ./vmtest.sh first"
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
	die "$TREE has uncommitted changes; commit them first"

mapfile -t commits < <(git -C "$TREE" rev-list --reverse vmtest-base..HEAD)
kernel=() selftests=()
for c in "${commits[@]}"; do
	subject=$(git -C "$TREE" log -1 --format=%s "$c")
	if [[ "$subject" == selftests/bpf:* ]]; then
		selftests+=("$c")
	elif [ ${#selftests[@]} -gt 0 ]; then
		die "kernel commit '$subject' comes after a selftests commit; reorder (git rebase -i vmtest-base)"
	else
		kernel+=("$c")
	fi
done

# Print the subject line and the text of an existing cover letter.
cover_text()
{
	local f="$1"

	[ -f "$f" ] || return 0
	awk '
		/^Subject: / && !subj { sub(/^Subject: (\[[^]]*\] )?/, ""); print; subj = 1; next }
		subj && !body && /^$/ { body = 1; next }
		# The shortlog starts with "Author Name (N):".
		body && /^[^ ].* \([0-9]+\):$/ { exit }
		body { print }
	' "$f"
}

export_dir()
{
	local dir="$1" from="$2" to="$3" cover="$SERIES_DIR/$1/0000-cover-letter.patch"
	local text subject blurb tmp date

	text=$(cover_text "$cover")
	subject=$(head -n 1 <<<"$text")
	blurb=$(tail -n +2 <<<"$text")
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN

	if [ "$from" = "$to" ]; then
		: >"$tmp/series"
	else
		git -C "$TREE" format-patch -q --cover-letter --base="$from" \
			--no-signature -o "$tmp" "$from..$to"
		date=$(git -C "$TREE" log -1 --format='%aD' "$to")
		# format-patch dates the cover letter now; date it like its
		# last patch so that the output only depends on the tree.
		SUBJECT="${subject:-*** SUBJECT HERE ***}" BLURB="${blurb:-*** BLURB HERE ***}" DATE="$date" \
		awk '
			!done && /^Date: / { print "Date: " ENVIRON["DATE"]; next }
			/\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, ENVIRON["SUBJECT"]) }
			/^\*\*\* BLURB HERE \*\*\*$/ { print ENVIRON["BLURB"]; next }
			{ print }
		' "$tmp/0000-cover-letter.patch" >"$tmp/cover" &&
			mv "$tmp/cover" "$tmp/0000-cover-letter.patch"
		{
			echo "# base: $(git -C "$TREE" log -1 --format=%s vmtest-base | sed 's/^base: //')"
			(cd "$tmp" && ls -- *.patch | grep -v '^0000-cover-letter.patch$')
		} >"$tmp/series"
	fi
	rm -f "$SERIES_DIR/$dir"/*.patch "$SERIES_DIR/$dir/series"
	cp "$tmp"/* "$SERIES_DIR/$dir/"
	echo "${SERIES_DIR#"$PROJECT_DIR"/}/$dir/: $(grep -c -v '^#' "$SERIES_DIR/$dir/series" || true) patches"
}

base=$(git -C "$TREE" rev-parse vmtest-base)
last_kernel=$base
[ ${#kernel[@]} -gt 0 ] && last_kernel=${kernel[-1]}
mkdir -p "$SERIES_DIR/patches" "$SERIES_DIR/selftests"
export_dir patches "$base" "$last_kernel"
export_dir selftests "$last_kernel" "$(git -C "$TREE" rev-parse HEAD)"

# The tree already holds what the series now says: tell vmtest.sh not to
# re-apply it, and that this HEAD is exported.
dir=$(dirname "$(realpath -m "$TREE")")
if [ -f "$dir/.vmtest-base-id" ]; then
	hash=$("$PROJECT_DIR/vmtest.sh" --series-hash "$BASE" "$dir") ||
		die "vmtest.sh --series-hash failed"
	printf 'series %s\nhead %s\n' "$hash" "$(git -C "$TREE" rev-parse HEAD)" >"$dir/.vmtest-series.tmp"
	mv "$dir/.vmtest-series.tmp" "$dir/.vmtest-series"
fi
