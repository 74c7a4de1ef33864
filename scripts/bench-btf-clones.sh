#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark the series' BTF clone encoder (tools/bpf/btf_clones) against
# pahole -J on Debian's vmlinux with DWARF, the way 7.3's gen-btf.sh runs
# them (pahole writes detached raw BTF, btf_clones updates it), and print
# the numbers the cover letter quotes, for each input: clones seen, encoded
# by category, skipped by reason, clone-only functions covered, run time
# against pahole -J in the same run, BTF growth against its floor, and the
# self-check of every prototype against the callers' DWARF.
#
#   scripts/bench-btf-clones.sh [VMLINUX...]
#
# Default inputs: Debian's 6.12.95 (GCC 12.2) and 7.3.4 (GCC 14.2) vmlinux,
# from linux-image-6.12.95+deb12-amd64-dbg and
# linux-image-7.3.4+deb13-amd64-dbg (about 1 GB each, fetched once into the
# vmtest cache with a private apt state, like vmtest.sh does).  Everything
# runs in vmtest.sh's build root (pahole 1.30, the flags of 7.3's
# scripts/Makefile.btf); the tool is built there from out/7.3/linux
# (./vmtest.sh first).
#
# Environment: VMTEST_CACHE as for vmtest.sh; RUNS (default 3) timed runs
# of each program, in turns, of which the medians are printed.

set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TREE="${VMTEST_OUTPUT:-$PROJECT_DIR/out/7.3}/linux"
CACHE="${VMTEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/clone-trace-vmtest}"
ROOTFS="$CACHE/rootfs-trixie"
RUNS=${RUNS:-3}
WORK="$CACHE/bench-btf-clones"
# scripts/Makefile.btf of 7.3 for pahole 1.30
PAHOLE_FLAGS="-j2 --btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func --lang_exclude=rust"
DBG_PKGS=("linux-image-6.12.95+deb12-amd64-dbg=6.12.95-1~bpo12+1"
	  "linux-image-7.3.4+deb13-amd64-dbg=7.3.4-1~bpo13+1")

die() { echo "bench: $*" >&2; exit 1; }

[ -f "$TREE/tools/bpf/btf_clones/main.c" ] ||
	die "$TREE has no tools/bpf/btf_clones; run ./vmtest.sh first"
[ -x "$ROOTFS/usr/bin/pahole" ] || die "no build root at $ROOTFS; run ./vmtest.sh first"
mkdir -p "$WORK"

# Run $2 in the build root with $1 at /bench.
in_root()
{
	unshare --mount --propagation private -- /bin/sh -ec '
		mkdir -p "$1/bench" "$1/build/linux"
		mount --bind "$2" "$1/bench"
		mount --bind "$3" "$1/build/linux"
		mount -t proc proc "$1/proc"
		mount -t tmpfs tmpfs "$1/tmp"
		exec chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 /bin/sh -c "$4"
	' sh "$ROOTFS" "$WORK" "$TREE" "$1"
}

# The vmlinux of a -dbg package, extracted once.
dbg_vmlinux()
{
	local spec="$1" pkg="${1%%=*}" ver="${1#*=}" deb out f apt="$CACHE/apt"

	out="$WORK/vmlinux-${pkg#linux-image-}"
	out="${out%-dbg}"
	if [ ! -s "$out" ]; then
		deb=$(ls "$CACHE/debs/${pkg}_${ver}_"*.deb 2>/dev/null | head -n 1)
		if [ -z "$deb" ]; then
			[ -f "$apt/sources.list" ] || die "no private apt state in $apt; run ./vmtest.sh first"
			mkdir -p "$CACHE/debs"
			echo "bench: downloading $spec" >&2
			(cd "$CACHE/debs" && apt-get -q -o Dir::Etc::sourcelist="$apt/sources.list" \
				-o Dir::Etc::sourceparts=- -o Dir::State::Lists="$apt/lists" \
				-o Dir::Cache="$apt/cache" -o Dir::State::status=/dev/null \
				-o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)" \
				download "$spec") >"$WORK/download.log" 2>&1 ||
				die "apt-get download $spec failed; see $WORK/download.log"
			deb=$(ls "$CACHE/debs/${pkg}_${ver}_"*.deb | head -n 1)
		fi
		# 7.3's boot/vmlinux-* is a symlink to lib/modules/*/vmlinux.
		f=$(dpkg-deb --fsys-tarfile "$deb" | tar -tv |
			awk '$1 ~ /^-/ && $NF ~ /(boot\/vmlinux-|modules\/[^/]*\/vmlinux$)/ { print $NF }' |
			head -n 1 || true)
		[ -n "$f" ] || die "no vmlinux in $deb"
		dpkg-deb --fsys-tarfile "$deb" | tar -xO "$f" >"$out.tmp" && mv "$out.tmp" "$out"
	fi
	echo "$out"
}

in_root "mkdir -p /bench/tool && make -s -C /build/linux/tools/bpf/btf_clones OUTPUT=/bench/tool/ >/bench/build.log 2>&1" ||
	die "building btf_clones in the build root failed; see $WORK/build.log"

bench_one()
{
	local vm="$1" name b R t i pahole_s tool_s enc dup nsyms before after floor line

	name=$(basename "$vm")
	b="/bench/$name"
	R="$WORK/$name.report"
	echo
	echo "################ $name"
	in_root "pahole --version" | sed 's/^/pahole: /'
	echo "flags:  $PAHOLE_FLAGS"
	# pahole -J and btf_clones on its output, in turns, so that both see
	# the machine alike: its speed drifts within a minute.  Each pair
	# gives a ratio; the medians of the times and of the ratios are
	# printed.
	tp=()
	tt=()
	tr=()
	for i in $(seq "$RUNS"); do
		tp+=("$(in_root "cat $b >/dev/null; s=\$(date +%s%N);
			pahole -J $PAHOLE_FLAGS --btf_encode_detached=$b.BTF.1 $b;
			echo \$(( \$(date +%s%N) - s ))")")
		cp "$WORK/$name.BTF.1" "$WORK/$name.BTF"
		tt+=("$(in_root "s=\$(date +%s%N);
			/bench/tool/btf_clones --report --btf $b.BTF $b >/bench/$name.report;
			echo \$(( \$(date +%s%N) - s ))")")
		tr+=("$(( 10000 * ${tt[-1]} / ${tp[-1]} ))")
	done
	median() { printf '%s\n' "$@" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
	pahole_s=$(median "${tp[@]}")
	tool_s=$(median "${tt[@]}")
	ratio=$(median "${tr[@]}")

	sum() { grep "^btf_clones: $1" "$R" | sed "s/^btf_clones: //"; }
	echo
	echo "== clones"
	sum "/bench/$name:" | sed "s|^/bench/$name: ||"
	echo
	echo "== encoded by category"
	sum encoded | sed 's/, duplicate/\n  same name and prototype, one FUNC:/; s/, already in BTF/\n  already in BTF under the dotted name:/; s/, plain name in BTF/\n  pahole wrote the plain name for the clone:/'
	enc=$(sum encoded | sed -n 's/^encoded \([0-9]*\) .*/\1/p')
	dup=$(sum encoded | sed -n 's/.*, duplicate \([0-9]*\),.*/\1/p')
	nsyms=$(sum "/bench/$name:" | sed -n 's/.*: \([0-9]*\) clone symbols.*/\1/p')
	echo "clone symbols with a FUNC of their name and prototype: $((enc + dup)) of $nsyms"
	echo
	echo "== skipped by reason"
	sum skipped | sed 's/^skipped \([0-9]*\): /total \1\n/; s/, /\n/g' | sed '2,$s/^/  /'
	echo
	echo "== source functions that exist only as clones"
	sum "source functions" | sed 's/source functions only present as clones /functions: /; s/, covered /\ncovered (>= 1 clone in BTF): /'
	echo
	echo "== run time (medians of $RUNS runs in turns; btf_clones includes writing its BTF)"
	printf 'pahole -J:   %8.2f s\n' "$(echo "$pahole_s / 1000000000" | bc -l)"
	printf 'btf_clones:  %8.2f s  (%d.%02d%% of pahole -J; per run:' \
		"$(echo "$tool_s / 1000000000" | bc -l)" $((ratio / 100)) $((ratio % 100))
	printf ' %d.%02d%%' $(for r in "${tr[@]}"; do echo $((r / 100)) $((r % 100)); done)
	printf ')\n'
	echo
	echo "== BTF size"
	before=$(stat -c %s "$WORK/$name.BTF.1")
	after=$(stat -c %s "$WORK/$name.BTF")
	line=$(sum added)
	floor=$(echo "$line" | sed -n 's/.*(floor \([0-9]*\)).*/\1/p')
	echo "$line"
	# pahole's FUNCs that no symbol backs, dropped (btf_drop.c)
	sum dropped
	dropped=$(sum "dropped with them" | sed -n 's/.*DECL_TAGs, \([0-9]*\) bytes.*/\1/p')
	dropped=${dropped:-0}
	echo "BTF before $before bytes, after $after bytes: $((after - before + dropped)) added, $dropped dropped"
	if [ -n "$floor" ] && [ "$floor" -gt 0 ]; then
		echo "floor (12 B per FUNC + name + new FUNC_PROTOs): $floor bytes," \
			"overhead $((after - before + dropped - floor)) bytes" \
			"($(echo "scale=1; 100 * ($after - $before + $dropped) / $floor" | bc -l)% of floor)"
	fi
	echo
	echo "== self-check: prototypes against the callers' DWARF"
	cp "$WORK/$name.BTF.1" "$WORK/$name.BTF.check"
	in_root "/bench/tool/btf_clones -n --summary --check-callers --btf $b.BTF.check $b" \
		>"$WORK/$name.check" 2>&1 || true
	grep '^btf_clones: checked' "$WORK/$name.check" | sed 's/^btf_clones: //'
	grep ': call returning to' "$WORK/$name.check" || true
	rm -f "$WORK/$name.BTF.check"
	echo "per-clone report: $R"
}

if [ $# -eq 0 ]; then
	inputs=()
	for spec in "${DBG_PKGS[@]}"; do
		inputs+=("$(dbg_vmlinux "$spec")")
	done
else
	inputs=()
	for f in "$@"; do
		cp "$f" "$WORK/$(basename "$f")"
		inputs+=("$WORK/$(basename "$f")")
	done
fi
for vm in "${inputs[@]}"; do
	bench_one "$vm"
done
