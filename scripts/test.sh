#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's test command (README.md; .ci/run calls it).  For each base,
# 7.3 (the series) and 6.12 (the backport):
#   1. ./vmtest.sh -r BASE: apply both series, build, boot, run the
#      series' tests;
#   2. ./vmtest.sh -r BASE -B: the same tests on the base kernel, without
#      the kernel series, where none of the series' tests may pass;
#   3. scripts/check-series.sh -r BASE: every patch applies with no fuzz on
#      the pristine base and is checkpatch --strict clean.
# Then scripts/clone-corpus/run.sh proves btf_clones' prototypes by
# executing a generated corpus built with gcc-12 to 15 and clang 19 and 21.
# Before that the harness scripts must parse (bash -n) and
# scripts/vmtest-selftest.sh checks the exit statuses vmtest.sh reaches
# without a VM.  With --each-patch, every patch is also built on its own
# (./vmtest.sh -b; not run by CI).  --base BASE runs one base only.
# The last line is "N passed, N failed" from test_progs' summaries, added
# over the bases.

set -uo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT_DIR" || exit 1

check_args=()
bases=(7.3 6.12)
while [ $# -gt 0 ]; do
	case "$1" in
	--each-patch) check_args=(-b); shift ;;
	--base) bases=("$2"); shift 2 ;;
	*) echo "usage: $0 [--each-patch] [--base BASE]" >&2; exit 2 ;;
	esac
done

status=0
for f in vmtest.sh scripts/*.sh scripts/clone-corpus/*.sh .ci/run; do
	bash -n "$f" || { echo "test: $f does not parse" >&2; status=1; }
done
if [ -x scripts/vmtest-selftest.sh ]; then
	scripts/vmtest-selftest.sh || { echo "test: vmtest-selftest.sh failed" >&2; status=1; }
fi

pass=0 fail=0 report=()
log=$(mktemp "${TMPDIR:-/tmp}/vmtest-test.XXXXXX")
trap 'rm -f "$log"' EXIT
for base in "${bases[@]}"; do
	start=$(date +%s)
	# One output directory per base (VMTEST_OUTPUT names one directory).
	[ -n "${VMTEST_OUTPUT_ROOT:-${VMTEST_OUTPUT:-}}" ] &&
		export VMTEST_OUTPUT_ROOT="${VMTEST_OUTPUT_ROOT:-$VMTEST_OUTPUT}" \
		       VMTEST_OUTPUT="${VMTEST_OUTPUT_ROOT:-$VMTEST_OUTPUT}/$base"
	./vmtest.sh -r "$base" 2>&1 | tee "$log"
	vm_status=${PIPESTATUS[0]}
	counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$counts" ]; then
		pass=$((pass + $(echo "$counts" | cut -d' ' -f1)))
		fail=$((fail + $(echo "$counts" | cut -d' ' -f3)))
	else
		fail=$((fail + 1))
	fi
	[ "$vm_status" -ne 0 ] && [ "$status" -eq 0 ] && status=$vm_status

	./vmtest.sh -r "$base" -B
	base_status=$?
	[ "$base_status" -ne 0 ] && [ "$status" -eq 0 ] && status=$base_status

	if [ -d "${VMTEST_OUTPUT:-out/$base}/linux" ]; then
		scripts/check-series.sh -r "$base" "${check_args[@]}"
		check_status=$?
	else
		echo "test: no vmtest tree for $base, series check not run" >&2
		check_status=1
	fi
	[ "$check_status" -ne 0 ] && [ "$status" -eq 0 ] && status=1
	report+=("$base: vmtest.sh exited $vm_status (${counts:-no summary}), -B $base_status, check-series $check_status, $(( $(date +%s) - start ))s")
done

# The clone corpus (scripts/clone-corpus): btf_clones' prototypes proven
# by execution, with every compiler Debian has, on the tool of the 7.3 tree.
tree="${VMTEST_OUTPUT_ROOT:-$PROJECT_DIR/out}/7.3/linux"
if [ -f "$tree/tools/bpf/btf_clones/main.c" ]; then
	start=$(date +%s)
	BTF_CLONES_TREE="$tree" scripts/clone-corpus/run.sh 2>&1 | tee "$log"
	corpus_status=${PIPESTATUS[0]}
	[ "$corpus_status" -ne 0 ] && [ "$status" -eq 0 ] && status=1
	report+=("clone corpus: $(grep -E '^clone corpus: ' "$log" | tail -n 1 | sed 's/^clone corpus: //'), exit $corpus_status, $(( $(date +%s) - start ))s")
else
	echo "test: no 7.3 tree at $tree, clone corpus not run" >&2
	report+=("clone corpus: not run (no 7.3 tree)")
	[ "$status" -eq 0 ] && status=1
fi
echo
for line in "${report[@]}"; do
	echo "test: $line"
done
echo "test: overall status $status"
echo "$pass passed, $fail failed"
[ "$fail" -gt 0 ] && [ "$status" -eq 0 ] && status=1
exit "$status"
