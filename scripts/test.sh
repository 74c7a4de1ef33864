#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's test command (README.md; .ci/run calls it):
#   1. the harness scripts parse (bash -n);
#   2. ./vmtest.sh: apply both series, build, boot, run the series' tests;
#   3. ./vmtest.sh -B: the same tests on the base kernel, without patches/,
#      where none of the series' tests may pass (about 10 minutes more,
#      the base kernel build);
#   4. scripts/check-series.sh: every patch applies with no fuzz on the
#      pristine base and is checkpatch --strict clean;
#   5. with --each-patch, also build every patch on its own (./vmtest.sh -b;
#      19 minutes for 15 patches here, so not run by CI).
# The last line is "N passed, N failed" from test_progs' summary.

set -uo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT_DIR" || exit 1

check_args=()
if [ "${1:-}" = "--each-patch" ]; then
	check_args=(-b)
	shift
fi

status=0
for f in vmtest.sh scripts/*.sh .ci/run; do
	bash -n "$f" || { echo "test: $f does not parse" >&2; status=1; }
done

./vmtest.sh "$@" 2>&1 | tee "${TMPDIR:-/tmp}/vmtest-test.$$.log"
vm_status=${PIPESTATUS[0]}
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "${TMPDIR:-/tmp}/vmtest-test.$$.log" | tail -n 1)
rm -f "${TMPDIR:-/tmp}/vmtest-test.$$.log"
[ "$vm_status" -ne 0 ] && status=$vm_status

./vmtest.sh -B "$@"
base_status=$?
[ "$base_status" -ne 0 ] && [ "$status" -eq 0 ] && status=$base_status

if [ -d "${VMTEST_OUTPUT:-out}/linux" ]; then
	scripts/check-series.sh "${check_args[@]}" || { [ "$status" -eq 0 ] && status=1; }
else
	echo "test: no vmtest tree, series check not run" >&2
	[ "$status" -eq 0 ] && status=1
fi

echo "test: vmtest.sh exited $vm_status, vmtest.sh -B $base_status, overall status $status"
if [ -n "$counts" ]; then
	echo "$counts"
else
	echo "0 passed, 1 failed"
	[ "$status" -eq 0 ] && status=1
fi
exit "$status"
