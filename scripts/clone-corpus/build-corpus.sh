#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the clone corpus written by gen.c with one compiler, with the
# x86-64 kernel's code generation flags, as a non-PIE userspace program.
# Runs on the host or inside a build root (run.sh decides where).
#
#   build-corpus.sh CC SRCDIR OUTDIR
#
# CC is gcc-NN or clang-NN (clang builds use ThinLTO with ld.lld-NN, which
# is what makes .llvm.<hash> clones).  CORPUS_SP selects the stack
# protector's canary: "sym" (%gs:__ref_stack_chk_guard, 6.15+ kernels,
# gs base 0 in userspace), "gs40" (%gs:40, older kernels; main() points the
# gs base at a buffer with arch_prctl(ARCH_SET_GS)) or "auto": gs40 for
# gcc-12, the compiler of Debian 12's 6.1/6.12 kernels, sym otherwise.
# CORPUS_PG=0 leaves out -pg -mfentry, like the kernel's notrace objects
# (CFLAGS_REMOVE_*.o = $(CC_FLAGS_FTRACE)), where -fipa-ra is in effect.

set -euo pipefail

[ $# -eq 3 ] || { echo "usage: build-corpus.sh CC SRCDIR OUTDIR" >&2; exit 2; }
cc=$1 src=$2 out=$3
sp=${CORPUS_SP:-auto}
ver=${cc##*-}

# arch/x86/Makefile, Makefile and Debian's config (IBT, retpolines, rethunk,
# no frame pointer, INIT_STACK_ALL_ZERO); -mcmodel=kernel and
# -mpreferred-stack-boundary=3 cannot run in userspace and are left out.
common=(-O2 -g -gdwarf-5 -std=gnu11 -pg -mfentry -mfunction-return=thunk-extern
	-fcf-protection=branch -fno-pie -fno-strict-aliasing -fno-common
	-funsigned-char -mno-red-zone -mno-sse -mno-mmx -mno-sse2 -mno-avx
	-fno-asynchronous-unwind-tables -ftrivial-auto-var-init=zero
	-fno-delete-null-pointer-checks -fno-strict-overflow
	-fstack-protector-strong -mstack-protector-guard-reg=gs
	-Wall -Werror=return-type -Wno-unused-variable -Wno-unused-but-set-variable)
main_flags=(-O2 -g -fno-pie -fno-stack-protector -fcf-protection=branch)
link=(-no-pie)

if [ "${CORPUS_PG:-1}" = 0 ]; then
	kept=()
	for f in "${common[@]}"; do
		case $f in -pg|-mfentry) ;; *) kept+=("$f") ;; esac
	done
	common=("${kept[@]}")
fi
if [ "$sp" = auto ]; then
	if [ "$cc" = gcc-12 ]; then sp=gs40; else sp=sym; fi
fi
case $sp in
sym)	common+=(-mstack-protector-guard-symbol=__ref_stack_chk_guard) ;;
gs40)	common+=(-mstack-protector-guard-offset=40); main_flags+=(-DCORPUS_GS40) ;;
*)	echo "build-corpus: CORPUS_SP=$sp: not sym, gs40 or auto" >&2; exit 2 ;;
esac

case $cc in
gcc-*)
	common+=(-mindirect-branch=thunk-extern -mindirect-branch-register -fconserve-stack)
	;;
clang-*)
	common+=(-mretpoline-external-thunk -flto=thin)
	link+=(-flto=thin -fuse-ld=lld "--ld-path=/usr/bin/ld.lld-$ver")
	;;
*)
	echo "build-corpus: $cc: not gcc-NN or clang-NN" >&2; exit 2
	;;
esac

mkdir -p "$out"
rm -f "$out"/*.o "$out/corpus"
echo "$cc (stack protector: $sp$([ "${CORPUS_PG:-1}" = 1 ] || echo ', no -pg')): ${common[*]}" >"$out/flags.txt"
# two compiler jobs at a time
pids=()
for u in "$src"/u*.c; do
	o="$out/$(basename "$u" .c).o"
	nice -n 10 "$cc" "${common[@]}" -I"$src" -c "$u" -o "$o" &
	pids+=($!)
	if [ ${#pids[@]} -eq 2 ]; then
		wait "${pids[0]}"
		wait "${pids[1]}"
		pids=()
	fi
done
for p in "${pids[@]}"; do
	wait "$p"
done
nice -n 10 "$cc" "${main_flags[@]}" -I"$src" -c "$src/main.c" -o "$out/main.o"
nice -n 10 "$cc" "${link[@]}" -o "$out/corpus" "$out/main.o" "$out"/u*.o
