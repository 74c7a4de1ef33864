#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Clone corpus: prove the prototypes btf_clones writes for clone symbols by
# executing them.  gen.c writes a corpus of static functions that GCC and
# clang clone, build-corpus.sh builds it with each compiler and the
# kernel's flags, pahole -J and btf_clones write its BTF, and exec.c runs
# it under ptrace and compares, for every clone FUNC in the BTF, each
# argument slot and the return value with the generator's expectations.
#
#   scripts/clone-corpus/run.sh [--compilers LIST] [--corrupt]
#
# LIST: comma or space separated, default gcc-12,gcc-13,gcc-14,gcc-15,
# clang-19,clang-21.  gcc-12 is the host's, gcc-13/14 and clang-19/21 are
# those of vmtest.sh's trixie build root (gcc-13 is installed there with apt
# when missing), gcc-15 comes from a sid root created on first use with
# debootstrap.  A compiler that cannot be had is skipped with a message.
#
# --corrupt: after each clean check, corrupt one checked FUNC of the BTF
# (swap two parameter names; then, separately, turn a void return into
# int, and an undescribed slot into void *) and check again: each must be
# caught, and the script exits 1.
#
# Environment: BTF_CLONES_TREE, the kernel tree whose tools/bpf/btf_clones
# is built and tested (default out/7.3/linux of this project);
# VMTEST_CACHE as for vmtest.sh; CORPUS_SP (sym, gs40, auto) and CORPUS_PG
# (1, or 0 for no -pg) as for build-corpus.sh; GEN_ARGS, extra arguments of gen (e.g. "-n 80 -s 2").
#
# Exit status: 0 all prototypes confirmed, 1 mismatches, 2 harness error.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_DIR="$(cd "$HERE/../.." && pwd)"
TREE="${BTF_CLONES_TREE:-$PROJECT_DIR/out/7.3/linux}"
CACHE="${VMTEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/clone-trace-vmtest}"
TRIXIE="$CACHE/rootfs-trixie"
SID="$CACHE/rootfs-sid"
WORK="$CACHE/clone-corpus"
MIRROR=http://deb.debian.org/debian
PAHOLE_FLAGS="--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func --lang_exclude=rust"
COMPILERS="gcc-12,gcc-13,gcc-14,gcc-15,clang-19,clang-21"
CORRUPT=0

die() { echo "clone-corpus: $*" >&2; exit 2; }
note() { echo "clone-corpus: $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--compilers) [ $# -ge 2 ] || die "--compilers needs a list"; COMPILERS=$2; shift 2 ;;
	--compilers=*) COMPILERS=${1#*=}; shift ;;
	--corrupt) CORRUPT=1; shift ;;
	-h|--help) sed -n '3,30p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (usage: run.sh [--compilers LIST] [--corrupt])" ;;
	esac
done
COMPILERS=${COMPILERS//,/ }

[ -f "$TREE/tools/bpf/btf_clones/main.c" ] || die "$TREE has no tools/bpf/btf_clones (BTF_CLONES_TREE)"
[ -x "$TRIXIE/usr/bin/pahole" ] || die "no build root at $TRIXIE; run ./vmtest.sh first"
mkdir -p "$WORK"
# one run at a time per cache: the work files and the sid root are shared
exec 8>"$WORK/.lock"
flock -n 8 || { note "waiting for another run.sh on $WORK"; flock 8; }

# Run $2 with bash in root $1, with $WORK at /cc and the tool's tree at
# /build/linux, in a private mount namespace.
in_root()
{
	unshare --mount --propagation private -- /bin/sh -ec '
		mkdir -p "$1/cc" "$1/build/linux"
		mount --bind "$2" "$1/cc"
		mount --bind "$3" "$1/build/linux"
		mount -t proc proc "$1/proc"
		mount -t tmpfs tmpfs "$1/tmp"
		exec chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin \
			HOME=/tmp LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
			CORPUS_SP="$5" CORPUS_PG="$6" /bin/bash -c "$4"
	' sh "$1" "$WORK" "$TREE" "$2" "${CORPUS_SP:-auto}" "${CORPUS_PG:-1}"
}

# The sid root for gcc-15, made once.
make_sid()
{
	local tmp="$SID.tmp"

	[ -x "$SID/usr/bin/gcc-15" ] && return 0
	command -v debootstrap >/dev/null || { note "gcc-15: no debootstrap on the host"; return 1; }
	note "creating the sid root $SID for gcc-15 (once; log $WORK/sid.log)"
	rm -rf "$tmp"
	if ! nice -n 10 debootstrap --variant=minbase sid "$tmp" "$MIRROR" >"$WORK/sid.log" 2>&1; then
		note "gcc-15: debootstrap sid failed, see $WORK/sid.log"
		return 1
	fi
	# the archive snapshot this machine sees may carry an expired Release
	echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99clone-corpus"
	if ! unshare --mount --propagation private -- /bin/sh -ec '
		mount -t proc proc "$1/proc"
		exec chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
			LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/sh -c \
			"apt-get update -q && apt-get install -y -q --no-install-recommends gcc-15 libc6-dev"
	' sh "$tmp" >>"$WORK/sid.log" 2>&1; then
		note "gcc-15: apt-get install gcc-15 in sid failed, see $WORK/sid.log"
		return 1
	fi
	mv "$tmp" "$SID"
}

# Where compiler $1 runs: "host", a root, or "" (with a message).
compiler_root()
{
	local cc=$1

	case $cc in
	gcc-12)
		if [ -x "/usr/bin/$cc" ]; then echo host; return; fi
		;;
	gcc-13)
		if [ ! -x "$TRIXIE/usr/bin/gcc-13" ]; then
			note "installing gcc-13 in the trixie root (log $WORK/gcc-13.log)"
			in_root "$TRIXIE" "apt-get install -y -q --no-install-recommends gcc-13" \
				>"$WORK/gcc-13.log" 2>&1 || true
		fi
		if [ -x "$TRIXIE/usr/bin/$cc" ]; then echo "$TRIXIE"; return; fi
		;;
	gcc-15)
		if make_sid; then echo "$SID"; return; fi
		;;
	*)
		if [ -x "$TRIXIE/usr/bin/$cc" ]; then
			case $cc in
			clang-*)
				if [ -x "$TRIXIE/usr/bin/ld.lld-${cc#clang-}" ]; then
					echo "$TRIXIE"; return
				fi
				note "$cc: no ld.lld-${cc#clang-} for ThinLTO in $TRIXIE"
				echo ""; return
				;;
			esac
			echo "$TRIXIE"; return
		fi
		;;
	esac
	note "SKIP $cc: not on the host nor in the build roots"
	echo ""
}

# --- tools: generator on the host, btf_clones and the executor in the root
rm -rf "$WORK/src" "$WORK/scripts"
mkdir -p "$WORK/scripts" "$WORK/build"
cp "$HERE/gen.c" "$HERE/exec.c" "$HERE/build-corpus.sh" "$WORK/scripts/"
HOSTCC=$(command -v cc || command -v gcc-12 || true)
[ -n "$HOSTCC" ] || die "no host C compiler for gen.c"
nice -n 10 "$HOSTCC" -O2 -Wall -o "$WORK/gen" "$HERE/gen.c" || die "building gen.c failed"
# shellcheck disable=SC2086
"$WORK/gen" ${GEN_ARGS:-} "$WORK/src" || die "gen failed"
# one build directory per tool tree: make would not rebuild an object
# whose source in another tree is older
TOOL="tool/$(printf '%s' "$TREE" | tr -c 'A-Za-z0-9._-' '_')"
in_root "$TRIXIE" "mkdir -p /cc/$TOOL && nice -n 10 make -s -j2 -C /build/linux/tools/bpf/btf_clones OUTPUT=/cc/$TOOL/ >/cc/tool-build.log 2>&1" ||
	die "building btf_clones from $TREE failed; see $WORK/tool-build.log"
in_root "$TRIXIE" "nice -n 10 gcc -O2 -g -Wall -I/cc/$TOOL/libbpf/include -o /cc/corpus-exec /cc/scripts/exec.c /cc/$TOOL/libbpf/libbpf.a -lelf -lz >/cc/exec-build.log 2>&1" ||
	die "building exec.c failed; see $WORK/exec-build.log"
echo "btf_clones: $TREE/tools/bpf/btf_clones ($(git -C "$TREE" log -1 --format=%h 2>/dev/null || echo 'not a git tree'))"
echo "pahole: $(in_root "$TRIXIE" "pahole --version") $PAHOLE_FLAGS"

rc=0
caught=0
done_cc=()
skipped=()
rows=()
for cc in $COMPILERS; do
	root=$(compiler_root "$cc")
	if [ -z "$root" ]; then
		skipped+=("$cc")
		continue
	fi
	d="$WORK/build/$cc"
	rm -rf "$d"
	mkdir -p "$d"
	echo
	echo "=== $cc"
	if [ "$root" = host ]; then
		CORPUS_SP=${CORPUS_SP:-auto} CORPUS_PG=${CORPUS_PG:-1} bash "$WORK/scripts/build-corpus.sh" "$cc" "$WORK/src" "$d" \
			>"$d/build.log" 2>&1 || die "$cc: building the corpus failed; see $d/build.log"
		"$cc" --version | head -n 1
	else
		in_root "$root" "bash /cc/scripts/build-corpus.sh $cc /cc/src /cc/build/$cc" \
			>"$d/build.log" 2>&1 || die "$cc: building the corpus failed; see $d/build.log"
		in_root "$root" "$cc --version | head -n 1"
	fi
	sed 's/): .*/)/' "$d/flags.txt"
	b="/cc/build/$cc"
	in_root "$TRIXIE" "cd $b && pahole -J $PAHOLE_FLAGS --btf_encode_detached=corpus.btf corpus" \
		>"$d/pahole.log" 2>&1 || die "$cc: pahole -J failed; see $d/pahole.log"
	in_root "$TRIXIE" "cd $b && /cc/$TOOL/btf_clones --report --btf corpus.btf corpus" \
		>"$d/btf_clones.log" 2>&1 || die "$cc: btf_clones failed; see $d/btf_clones.log"
	grep '^btf_clones: \(/\|corpus\|encoded\|skipped\)' "$d/btf_clones.log" | sed 's|^btf_clones: ||'
	set +e
	in_root "$TRIXIE" "cd $b && /cc/corpus-exec --label $cc --out $b/run.out --btf corpus.btf --expect /cc/src/expect.txt corpus" \
		>"$d/exec.log" 2>&1
	st=$?
	set -e
	grep -v '^TABLE' "$d/exec.log"
	[ $st -le 1 ] || die "$cc: the executor failed (status $st); see $d/exec.log"
	[ $st -eq 0 ] || rc=1
	rows+=("$(grep '^TABLE' "$d/exec.log")")
	done_cc+=("$cc")
	if [ $CORRUPT = 1 ]; then
		for mode in swap ret undesc; do
			set +e
			in_root "$TRIXIE" "cd $b && /cc/corpus-exec --corrupt $mode --label $cc --out $b/run.out --btf corpus.btf --expect /cc/src/expect.txt corpus" \
				>"$d/corrupt-$mode.log" 2>&1
			st=$?
			set -e
			echo "--- $cc --corrupt $mode"
			grep -v '^TABLE\|^clean run' "$d/corrupt-$mode.log"
			[ $st -ne 3 ] || continue
			[ $st -eq 1 ] || die "$cc: corrupting ($mode) was not caught (status $st); see $d/corrupt-$mode.log"
			caught=$((caught + 1))
			rc=1
		done
	fi
done

[ ${#done_cc[@]} -gt 0 ] || die "no compiler could be used (skipped: ${skipped[*]})"
echo
printf '%-10s %7s %8s %8s %7s %7s %8s %7s %7s %9s\n' compiler "clones" encoded checked slots stack returns no-exp undesc mismatch
tot_hit=0
tot_mm=0
for row in "${rows[@]}"; do
	read -r _ l elf enc hit slots stack rets unexp mm undesc <<<"$row"
	printf '%-10s %7s %8s %8s %7s %7s %8s %7s %7s %9s\n' "$l" "$elf" "$enc" "$hit" "$slots" "$stack" "$rets" "$unexp" "$undesc" "$mm"
	tot_hit=$((tot_hit + hit))
	tot_mm=$((tot_mm + mm))
done
[ ${#skipped[@]} -eq 0 ] || echo "skipped: ${skipped[*]}"
echo "clone corpus: $tot_hit clones checked over ${#done_cc[@]} compilers, $tot_mm mismatches"
if [ $CORRUPT = 1 ]; then
	[ $caught -gt 0 ] || die "--corrupt: no clone could be corrupted"
	echo "clone corpus: --corrupt: all $caught corruptions were caught (exit 1 as intended)"
fi
exit $rc
