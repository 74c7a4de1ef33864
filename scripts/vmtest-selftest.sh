#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the exit statuses that vmtest.sh reaches without building or
# booting anything (usage errors, -k and -d checks), and its kernel splat
# matcher on planted console lines: real splat headers fail a run, words
# inside other messages do not.  Takes a few seconds; run by scripts/test.sh.

set -uo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VM="$PROJECT_DIR/vmtest.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# expect STATUS DESCRIPTION COMMAND...
expect()
{
	local want="$1" what="$2" got

	shift 2
	"$@" >"$tmp/out" 2>&1 </dev/null
	got=$?
	if [ "$got" -eq "$want" ]; then
		printf 'ok   %-3s %s\n' "$got" "$what"
	else
		printf 'FAIL %-3s %s (want %s):\n' "$got" "$what" "$want"
		sed 's/^/       /' "$tmp/out"
		failed=1
	fi
}

mkdir -p "$tmp/notkernel" "$tmp/foreign" "$tmp/kernel67"
echo hello >"$tmp/foreign/file"
printf 'VERSION = 6\nPATCHLEVEL = 7\n' >"$tmp/kernel67/Makefile"
mkdir -p "$tmp/kernel612"
printf 'VERSION = 6\nPATCHLEVEL = 12\n' >"$tmp/kernel612/Makefile"
export VMTEST_CACHE="$tmp/cache"

expect 0 "-h" "$VM" -h
expect 2 "unknown option" "$VM" -Z
expect 2 "-j without a number" "$VM" -j x
expect 2 "-r with an unknown base" "$VM" -r 9.9 -d "$tmp/o1"
expect 2 "-s with a COMMAND" "$VM" -s -d "$tmp/o2" -- true
expect 2 "-B with a COMMAND" "$VM" -B -d "$tmp/o3" -- true
expect 4 "-k that does not exist" "$VM" -k "$tmp/nonexistent"
expect 4 "-k that is not a kernel tree" "$VM" -k "$tmp/notkernel"
expect 4 "-k of a base without a series" "$VM" -k "$tmp/kernel67"
expect 2 "-r that contradicts -k" "$VM" -r 7.3 -k "$tmp/kernel612"
expect 2 "-d that is not vmtest.sh's (nothing deleted)" "$VM" -d "$tmp/foreign"
[ -f "$tmp/foreign/file" ] || { echo "FAIL     -d deleted a file it does not own"; failed=1; }

# The console check: planted splat headers fail, look-alikes do not.
plant()
{
	printf '[    0.000000] Linux version 7.3.4\n%s\n[    9.000000] reboot: Restarting system\n' "$1" >"$tmp/console.log"
	"$VM" --check-console "$tmp/console.log"
}
expect 7 "console: WARNING: splat" plant '[    5.123456] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2'
expect 7 "console: BUG: splat" plant '[    5.123456] BUG: KASAN: slab-out-of-bounds in bar+0x10/0x20'
expect 7 "console: lockdep splat" plant '[    5.123456] WARNING: possible circular locking dependency detected'
expect 7 "console: Oops" plant '[    5.123456] Oops: general protection fault, probably for non-canonical address'
expect 7 "console: soft lockup" plant '[   25.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!'
expect 7 "console: splat with a caller id" plant '[    5.123456] [    T1] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2'
expect 0 "console: 'RCU lockdep checking is enabled'" plant '[    0.100000] rcu: 	RCU lockdep checking is enabled.'
expect 0 "console: a function named print_lockdep_cache.isra.0" plant '[    5.000000]  print_lockdep_cache.isra.0+0x10/0x20'
expect 0 "console: test output that says BUG:" plant 'test_foo: BUG: not a kernel line'

if [ "$failed" -ne 0 ]; then
	echo "vmtest-selftest: FAILED"
	exit 1
fi
echo "vmtest-selftest: all exit statuses as documented"
