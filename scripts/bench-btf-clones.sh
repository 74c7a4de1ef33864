#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark the series' BTF clone encoder (tools/bpf/btf_clones) against
# pahole -J on a distro vmlinux with DWARF, and print the numbers the
# cover letter quotes: clones seen, encoded by category, skipped by reason,
# clone-only functions covered, run time against pahole -J, BTF growth
# against its floor.
#
#   scripts/bench-btf-clones.sh [VMLINUX]
#
# VMLINUX defaults to Debian's 6.12.95 vmlinux with DWARF, from the package
# linux-image-6.12.95+deb12-amd64-dbg (about 1 GB, fetched once with
# apt-get download into the vmtest cache).  The tool is built for the host
# from the vmtest tree (./vmtest.sh first), against the host's libdw, and
# pahole is the host's (1.24 on Debian 12), with the flags scripts/Makefile.btf
# uses for it.
#
# Environment: VMTEST_OUTPUT, VMTEST_CACHE as for vmtest.sh; RUNS (default 3)
# tool runs, of which the median is printed; PAHOLE_FLAGS.

set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TREE="${VMTEST_OUTPUT:-$PROJECT_DIR/out}/linux"
CACHE="${VMTEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/clone-trace-vmtest}"
DBG_PKG=linux-image-6.12.95+deb12-amd64-dbg
RUNS=${RUNS:-3}
PAHOLE=${PAHOLE:-pahole}
# scripts/Makefile.btf for pahole 1.22..1.25 (1.24 on Debian 12)
PAHOLE_FLAGS=${PAHOLE_FLAGS:---btf_gen_floats -j --lang_exclude=rust}
WORK="$CACHE/bench-btf-clones"
TOOL="$WORK/tool/btf_clones"

die() { echo "bench: $*" >&2; exit 1; }
now() { date +%s.%N; }

[ -f "$TREE/tools/bpf/btf_clones/main.c" ] ||
	die "$TREE has no tools/bpf/btf_clones; run ./vmtest.sh first"
mkdir -p "$WORK/tool"

missing=()
for pkg in dwarves libdw-dev libelf-dev pkg-config gcc make bc binutils; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-t bookworm-backports "${missing[@]}" >"$WORK/apt.log" 2>&1 ||
		die "could not install ${missing[*]}; see $WORK/apt.log"
fi

VMLINUX=${1:-}
if [ -z "$VMLINUX" ]; then
	VMLINUX="$WORK/dbg/usr/lib/debug/boot/vmlinux-6.12.95+deb12-amd64"
	if [ ! -r "$VMLINUX" ]; then
		echo "bench: fetching $DBG_PKG"
		(cd "$WORK" && apt-get download "$DBG_PKG") >"$WORK/download.log" 2>&1 ||
			die "apt-get download $DBG_PKG failed; see $WORK/download.log"
		dpkg-deb -x "$WORK"/"$DBG_PKG"_*.deb "$WORK/dbg"
		rm -f "$WORK"/"$DBG_PKG"_*.deb
	fi
fi

make -s -C "$TREE/tools/bpf/btf_clones" OUTPUT="$WORK/tool/" >"$WORK/build.log" 2>&1 ||
	die "building btf_clones for the host failed; see $WORK/build.log"

[ -r "$VMLINUX" ] || die "no vmlinux at $VMLINUX"
[ -x "$TOOL" ] || die "no btf_clones at $TOOL"

echo "input:   $VMLINUX"
echo "pahole:  $($PAHOLE --version) $PAHOLE_FLAGS"

objcopy --remove-section .BTF --remove-section .BTF_ids "$VMLINUX" "$WORK/vmlinux.nobtf"
cp "$WORK/vmlinux.nobtf" "$WORK/vmlinux.pahole"
cat "$WORK/vmlinux.pahole" > /dev/null		# page cache, for both
# Each timed run starts with the copy it works on written back, so that
# neither pays for the writeback of the copy made before it.
sync

t0=$(now)
LLVM_OBJCOPY=objcopy $PAHOLE -J $PAHOLE_FLAGS "$WORK/vmlinux.pahole"
t1=$(now)
pahole_s=$(echo "$t1 - $t0" | bc -l)

times=()
for i in $(seq "$RUNS"); do
	cp "$WORK/vmlinux.pahole" "$WORK/vmlinux"
	sync
	t0=$(now)
	"$TOOL" --report "$WORK/vmlinux" > "$WORK/report.txt"
	t1=$(now)
	times+=("$(echo "$t1 - $t0" | bc -l)")
done
tool_s=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")

# no-write run: DWARF/BTF work only
cp "$WORK/vmlinux.pahole" "$WORK/vmlinux.n"
sync
t0=$(now)
"$TOOL" -n "$WORK/vmlinux.n" > /dev/null
t1=$(now)
tool_n_s=$(echo "$t1 - $t0" | bc -l)
rm -f "$WORK/vmlinux.n"

R=$WORK/report.txt
sum() { grep "^btf_clones: $1" "$R" | sed "s/^btf_clones: //"; }

echo
echo "== clones"
sum "$WORK/vmlinux:" | sed "s|^$WORK/vmlinux: ||"
echo
echo "== encoded by category"
sum encoded | sed 's/, duplicate/\n  same name and prototype, one FUNC:/; s/, already in BTF/\n  already in BTF under the dotted name:/; s/, plain name in BTF/\n  pahole wrote the plain name for the clone:/'
enc=$(sum encoded | sed -n 's/^encoded \([0-9]*\) .*/\1/p')
dup=$(sum encoded | sed -n 's/.*, duplicate \([0-9]*\),.*/\1/p')
nsyms=$(sum "$WORK/vmlinux:" | sed -n 's/.*: \([0-9]*\) clone symbols.*/\1/p')
echo "clone symbols with a FUNC of their name and prototype: $((enc + dup)) of $nsyms"
echo
echo "== skipped by reason"
sum skipped | sed 's/^skipped \([0-9]*\): /total \1\n/; s/, /\n/g' |
	sed '2,$s/^/  /'
echo
echo "== source functions that exist only as clones"
sum "source functions" | sed 's/source functions only present as clones /functions: /; s/, covered /\ncovered (>= 1 clone in BTF): /'
echo
echo "== run time (median of $RUNS runs, includes the ELF write)"
printf 'pahole -J:            %8.2f s\n' "$pahole_s"
printf 'btf_clones:           %8.2f s  (%.1f%% of pahole -J)\n' "$tool_s" \
	"$(echo "100 * $tool_s / $pahole_s" | bc -l)"
printf 'btf_clones -n:        %8.2f s  (%.1f%% of pahole -J, no ELF write)\n' \
	"$tool_n_s" "$(echo "100 * $tool_n_s / $pahole_s" | bc -l)"
echo
echo "== BTF size"
btf_size() {
	printf '%d' "0x$(readelf -SW "$1" | sed 's/^ *\[ *[0-9]*\] *//' |
		awk '$1 == ".BTF" { print $5 }')"
}
before=$(btf_size "$WORK/vmlinux.pahole")
after=$(btf_size "$WORK/vmlinux")
line=$(sum added)
floor=$(echo "$line" | sed -n 's/.*(floor \([0-9]*\)).*/\1/p')
echo "$line"
echo ".BTF before $before bytes, after $after bytes, added $((after - before))"
echo "floor (12 B per FUNC + name + new FUNC_PROTOs): $floor bytes," \
	"overhead $((after - before - floor)) bytes" \
	"($(echo "scale=1; 100 * ($after - $before) / $floor" | bc -l)% of floor)"
echo
echo "== prototypes against the callers' DWARF (call site parameters, %rax reads)"
cp "$WORK/vmlinux.pahole" "$WORK/vmlinux.n"
"$TOOL" -n --check-callers "$WORK/vmlinux.n" > "$WORK/check.txt" || true
rm -f "$WORK/vmlinux.n"
grep '^btf_clones: checked' "$WORK/check.txt" | sed 's/^btf_clones: //'
grep -v '^btf_clones: checked' "$WORK/check.txt" | grep -v '^btf_clones: [^ ]*: [0-9]* clone symbols' |
	grep ': the call ' || true
echo
echo "per-clone report: $R"
