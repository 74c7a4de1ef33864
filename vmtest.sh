#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vmtest.sh: apply the clone-tracing series to a Linux 6.12 tree, build the
# kernel, bpf_testmod and test_progs, boot the kernel in QEMU and run the
# tests there.  Everything comes from Debian's package archive; nothing else
# is downloaded.
#
# The kernel, modules and selftests are built inside a Debian trixie chroot
# (clang-19: 6.12's selftests need clang >= 18, bookworm has 16).  The same
# tree, shared read-only over 9p, is the guest's root filesystem; the kernel
# tree is shared at the same path, so the guest runs the very test_progs the
# chroot built.

set -uo pipefail

readonly PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly DEFAULT_TESTS="kprobe_clone,libbpf_clone,fentry_clone,btf_clone_names"
# Benchmarks and the whole-kernel sweeps print their numbers only under
# -v: run them apart.  (-t matches substrings: DEFAULT_TESTS selects
# these too.)
readonly DEFAULT_BENCHES="kprobe_clone_bench,libbpf_clone_bench,kprobe_clone_sweep,fentry_clone_sweep"

# Exit statuses, one per failure mode (see usage()).
readonly E_TESTS=1 E_USAGE=2 E_DEPS=3 E_KDIR=4 E_APPLY=5 E_BUILD=6
readonly E_PANIC=7 E_TIMEOUT=8 E_VM=9 E_INTR=130

OUTPUT_DIR="${VMTEST_OUTPUT:-$PROJECT_DIR/out}"
CACHE_DIR="${VMTEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/clone-trace-vmtest}"
MIRROR="${VMTEST_MIRROR:-http://deb.debian.org/debian}"
SOURCE_VERSION="${VMTEST_SOURCE_VERSION:-6.12.95-1~bpo12+1}"
VMLINUX_H_IMAGE="${VMTEST_VMLINUX_H_IMAGE:-linux-image-6.12.95+deb12-amd64-unsigned}"
VM_MEMORY="${VMTEST_MEMORY:-4G}"
KERNEL_DIR=""
JOBS="$(nproc)"
TIMEOUT=""
SHELL_MODE=0
DEBUG_CONFIG=0
FORCE=0
EACH_PATCH=0
BASE_MODE=0
COMMAND=()

# Build root: Debian trixie, minbase.  Also the guest's root filesystem.
readonly ROOTFS_SUITE=trixie
readonly ROOTFS_PACKAGES="bash,coreutils,util-linux,procps,kmod,iproute2,gcc,g++,make,flex,bison,bc,cpio,python3,perl,libelf-dev,libdw-dev,libssl-dev,zlib1g-dev,libzstd-dev,pkg-config,dwarves,clang-19,lld-19,llvm-19,bpftool,xz-utils,zstd,binutils,file"
# Where the kernel tree appears inside the chroot and inside the guest.
readonly TREE_MNT=/build/linux
readonly BASE_MNT=/build/linux-base
# The tests of what the series adds; with -B none of them may pass.
readonly NEW_TESTS="kprobe_clone kprobe_clone_sweep libbpf_clone fentry_clone fentry_clone_sweep"
readonly SELFTESTS_REL=tools/testing/selftests/bpf

STEP_NAMES=()
STEP_TIMES=()
CURRENT_STEP=""
STEP_START=0
TEST_SUMMARY=""

usage()
{
	cat <<EOF
Usage: $0 [-k DIR] [-d DIR] [-j N] [-t SECONDS] [-D] [-f] [-b] [-B] [-s] [-h] [-- COMMAND...]

Apply patches/series and selftests/series to a Linux 6.12 tree, build the
kernel, bpf_testmod.ko and test_progs, boot the kernel in QEMU and run
COMMAND in $SELFTESTS_REL inside the guest.
Default: ./test_progs -t $DEFAULT_TESTS -d $DEFAULT_BENCHES,
then ./test_progs -v -t $DEFAULT_BENCHES (benchmarks and sweeps, with
their numbers).

Options:
  -k DIR      base kernel tree to use instead of Debian's linux-source-6.12.
              DIR is never modified: a git DIR is cloned (--shared) at its
              HEAD, any other DIR is copied.
  -d DIR      output directory (default: $PROJECT_DIR/out). It holds the
              patched git tree (DIR/linux), the logs (DIR/logs) and the
              guest's exchange directory (DIR/vm).
  -j N        parallel build jobs (default: nproc = $(nproc)).
  -t SECONDS  kill the guest after SECONDS (default: 1200 under TCG,
              600 with KVM); a timeout fails the run.
  -D          also merge kconfig-fragments/debug.config (KASAN, lockdep,
              ...): slower, checked run. Switching rebuilds the kernel.
  -f          discard local changes in DIR/linux when the series changed
              (by default the run stops and says what would be lost).
  -b          build every patch of the series on its own instead of
              booting: the kernel at each commit (and libbpf once the series
              touches it), and the touched .c files at W=1 with no warning
              that the base did not have. Reuses DIR/linux's build.
  -B          prove the tests need the kernel series: build the base
              kernel without patches/ in DIR/linux-base (same config, minus
              the options the series adds) and bpf_test_clones.ko for it,
              boot it and run ./test_progs -t $DEFAULT_TESTS
              with the series' test_progs.  Succeeds only if none of
              $NEW_TESTS passes, in whole or in part
              (btf_clone_names checks what the base already does).
  -s          start an interactive shell in the guest instead of COMMAND.
  -h          show this help.

Environment:
  VMTEST_OUTPUT          same as -d.
  VMTEST_CACHE           cache for the build root and the vmlinux.h
                         (default: \${XDG_CACHE_HOME:-~/.cache}/clone-trace-vmtest).
  VMTEST_MIRROR          Debian mirror for debootstrap (default: $MIRROR).
  VMTEST_SOURCE_VERSION  linux-source-6.12 version to install
                         (default: $SOURCE_VERSION).
  VMTEST_VMLINUX_H_IMAGE Debian kernel package whose BTF becomes the
                         selftests' vmlinux.h (default: $VMLINUX_H_IMAGE).
  VMTEST_MEMORY          guest memory (default: $VM_MEMORY).
  VMTEST_ACCEL           kvm, tcg or auto (default: auto: KVM when QEMU
                         can start a vCPU with it, TCG -cpu max otherwise).

Exit status: the status of COMMAND when it ran and the guest was clean;
  $E_TESTS tests failed, $E_USAGE bad option, $E_DEPS a dependency could not be
  installed, $E_KDIR -k DIR is not a kernel tree, $E_APPLY a patch does not apply,
  $E_BUILD build failure, $E_PANIC panic/oops/BUG/WARN/lockdep splat in the guest,
  $E_TIMEOUT guest timeout, $E_VM the guest did not report a status, $E_INTR interrupted
  (SIGINT/SIGTERM; a re-apply of the series that was cut short is redone
  by the next run, keeping the timestamps it saved).
EOF
}

log()
{
	printf '\033[1m[vmtest]\033[0m %s\n' "$*" >&2
}

die()
{
	local status="$1"

	shift
	printf '\033[1;31m[vmtest] error:\033[0m %s\n' "$*" >&2
	exit "$status"
}

step_begin()
{
	CURRENT_STEP="$1"
	STEP_START=$(date +%s)
	log "step: $1"
}

step_end()
{
	STEP_NAMES+=("$CURRENT_STEP")
	STEP_TIMES+=("$(( $(date +%s) - STEP_START ))")
	CURRENT_STEP=""
}

fmt_time()
{
	printf '%dm%02ds' "$(( $1 / 60 ))" "$(( $1 % 60 ))"
}

# Runs at every exit: the one-screen summary.
summary()
{
	local status=$? i

	trap - EXIT
	[ -n "$CURRENT_STEP" ] && step_end
	{
		echo
		echo "==================== vmtest summary ===================="
		for i in "${!STEP_NAMES[@]}"; do
			printf '  %-28s %s\n' "${STEP_NAMES[$i]}" "$(fmt_time "${STEP_TIMES[$i]}")"
		done
		[ -n "$TEST_SUMMARY" ] && printf '  %s\n' "$TEST_SUMMARY"
		echo "  logs: $OUTPUT_DIR/logs"
		echo "  exit status: $status"
		echo "========================================================"
	} >&2
	exit "$status"
}

# Print the last lines of a log to stderr and fail the build step.
build_failed()
{
	local what="$1" logf="$2"

	echo "---- last 30 lines of $logf ----" >&2
	tail -n 30 "$logf" >&2
	die $E_BUILD "$what failed; full log: $logf"
}

as_root()
{
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo -n "$@"
	fi
}

# ---------------------------------------------------------------- steps ---

install_host_deps()
{
	local missing=() pkg
	# qemu and the kernel source from bookworm-backports; python3-ply and
	# python3-git for checkpatch's SPDX check (scripts/check-series.sh).
	local pkgs=(git xz-utils debootstrap qemu-system-x86 util-linux rsync
		    perl python3 python3-ply python3-git dpkg ca-certificates)

	for pkg in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$pkg")
	done
	if [ -z "$KERNEL_DIR" ] &&
	   ! dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null |
	   grep -qxF "$SOURCE_VERSION"; then
		missing+=("linux-source-6.12=$SOURCE_VERSION")
	fi
	[ ${#missing[@]} -eq 0 ] && return 0

	log "installing from Debian's archive: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
		die $E_DEPS "missing packages: ${missing[*]}; run as root or with passwordless sudo, or install them"
	fi
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		as_root tee /etc/apt/sources.list.d/vmtest-bookworm-backports.sources >/dev/null <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
		>"$LOG_DIR/apt.log" 2>&1 ||
		build_failed "apt-get update" "$LOG_DIR/apt.log"
	# qemu and linux-source come from bookworm-backports (qemu 10 is what
	# was measured; 6.12 is only there and in -security).
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends -t bookworm-backports "${missing[@]}" \
		</dev/null >>"$LOG_DIR/apt.log" 2>&1 || {
		tail -n 20 "$LOG_DIR/apt.log" >&2
		die $E_DEPS "could not install ${missing[*]}; see $LOG_DIR/apt.log"
	}
}

# The build root / guest root.  Cached: rebuilt only when the package list
# changes.  Built in a temporary directory and renamed, so an interrupted
# debootstrap never leaves a half tree behind.
make_rootfs()
{
	local stamp="$ROOTFS/.vmtest-packages" tmp="$CACHE_DIR/rootfs.tmp"

	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ROOTFS_PACKAGES" ]; then
		log "build root up to date: $ROOTFS"
		return 0
	fi
	as_root rm -rf "$tmp"
	log "debootstrap $ROOTFS_SUITE into $ROOTFS (log: $LOG_DIR/debootstrap.log)"
	as_root debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" \
		"$ROOTFS_SUITE" "$tmp" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1 ||
		build_failed "debootstrap" "$LOG_DIR/debootstrap.log"
	as_root mkdir -p "$tmp$TREE_MNT" "$tmp/vmtest"
	echo "$ROOTFS_PACKAGES" | as_root tee "$tmp/.vmtest-packages" >/dev/null
	as_root rm -rf "$ROOTFS"
	as_root mv "$tmp" "$ROOTFS"
}

# Run a command in the build root with the kernel tree at $TREE_MNT.  A
# private mount namespace keeps the bind mounts away from the host and
# removes them when the command ends, whatever happens.
in_chroot()
{
	in_chroot_at "$TREE" "$TREE_MNT" "$1"
}

# The same with another tree at another mount point.
in_chroot_at()
{
	local user=() tree="$1" mnt="$2"

	shift 2
	[ "$(id -u)" -ne 0 ] && user=(--userspec="$(id -u):$(id -g)")
	as_root unshare --mount --propagation private -- /bin/sh -ec '
		root=$1 tree=$2 mnt=$3
		shift 3
		mount --bind "$tree" "$root$mnt"
		mount -t proc proc "$root/proc"
		mount --bind /dev "$root/dev"
		mount -t tmpfs tmpfs "$root/tmp"
		exec "$@"
	' sh "$ROOTFS" "$tree" "$mnt" \
		chroot "${user[@]}" "$ROOTFS" /usr/bin/env -i \
		PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp \
		LANG=C.UTF-8 /bin/sh -c "cd $mnt && $1"
}

# Import a base tree into $TREE as a git repository with one commit.
# The commit's identity and dates are fixed so that the same source always
# gives the same base commit (format-patch's base-commit then stays stable).
import_base()
{
	local tmp="$TREE.tmp"

	rm -rf "$tmp"
	mkdir -p "$tmp"
	if [ -z "$KERNEL_DIR" ]; then
		log "unpacking /usr/src/linux-source-6.12.tar.xz"
		tar -xJf /usr/src/linux-source-6.12.tar.xz -C "$tmp" \
			--strip-components=1 ||
			die $E_KDIR "cannot unpack /usr/src/linux-source-6.12.tar.xz"
		BASE_DESC="Debian linux-source-6.12 $SOURCE_VERSION"
	elif [ -e "$KERNEL_DIR/.git" ]; then
		log "cloning $KERNEL_DIR at HEAD (uncommitted changes there are not used)"
		rm -rf "$tmp"
		git clone -q --shared --no-checkout "$KERNEL_DIR" "$tmp" ||
			die $E_KDIR "git clone of $KERNEL_DIR failed"
		git -C "$tmp" checkout -q --detach HEAD ||
			die $E_KDIR "checkout of $KERNEL_DIR HEAD failed"
		git -C "$tmp" tag -f vmtest-base HEAD >/dev/null
		mv "$tmp" "$TREE"
		return 0
	else
		log "copying $KERNEL_DIR"
		rsync -a --exclude=.git "$KERNEL_DIR/" "$tmp/" ||
			die $E_KDIR "copying $KERNEL_DIR failed"
		BASE_DESC="copy of $KERNEL_DIR"
	fi
	(
		cd "$tmp" || exit 1
		export GIT_AUTHOR_NAME=vmtest GIT_AUTHOR_EMAIL=vmtest@localhost
		export GIT_COMMITTER_NAME=vmtest GIT_COMMITTER_EMAIL=vmtest@localhost
		export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z"
		export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
		git init -q -b vmtest &&
		git add -f -A &&
		git commit -q -m "base: $BASE_DESC" &&
		git tag vmtest-base
	) || die $E_KDIR "git import of the base tree failed"
	mv "$tmp" "$TREE"
}

series_hash()
{
	cat "$PROJECT_DIR"/patches/series "$PROJECT_DIR"/selftests/series \
		"$PROJECT_DIR"/patches/*.patch "$PROJECT_DIR"/selftests/*.patch \
		2>/dev/null | sha256sum | cut -d' ' -f1
}

apply_series()
{
	local dir p name n=0

	for dir in patches selftests; do
		while read -r name; do
			case "$name" in ''|'#'*) continue ;; esac
			p="$PROJECT_DIR/$dir/$name"
			[ -f "$p" ] || die $E_APPLY "$dir/series names $name, which does not exist"
			if ! git -C "$TREE" -c user.name="$GIT_NAME" -c user.email="$GIT_EMAIL" \
				am -q --committer-date-is-author-date "$p" \
				>"$LOG_DIR/apply.log" 2>&1; then
				git -C "$TREE" am --abort >/dev/null 2>&1
				echo "---- git am: $(grep -m1 -E '^(error|fatal):' "$LOG_DIR/apply.log")" >&2
				echo "---- git apply --check $dir/$name ----" >&2
				git -C "$TREE" apply --check "$p" 2>&1 | head -n 20 >&2
				# A Ctrl-C that git am caught ends here too (bash then
				# drops the signal); the next run redoes the re-apply.
				die $E_APPLY "$dir/$name does not apply on $(git -C "$TREE" log -1 --format='%h %s'); conflicting files are listed above (log: $LOG_DIR/apply.log)"
			fi
			n=$((n + 1))
		done <"$PROJECT_DIR/$dir/series"
	done
	log "applied $n patches"
}

# Make $TREE the base plus both series.  An existing tree is reused as is
# when the series did not change since it was applied, so that edits made
# in the tree (the way to work on the series) are built and tested.
prepare_tree()
{
	local state="$OUTPUT_DIR/.vmtest-series" want have=""

	if [ -n "$KERNEL_DIR" ]; then
		[ -f "$KERNEL_DIR/Makefile" ] && [ -f "$KERNEL_DIR/kernel/bpf/syscall.c" ] ||
			die $E_KDIR "-k $KERNEL_DIR is not a kernel tree (no Makefile or kernel/bpf/syscall.c)"
	fi
	if [ -d "$TREE" ] && ! git -C "$TREE" rev-parse -q --verify vmtest-base >/dev/null; then
		die $E_KDIR "$TREE exists but is not a vmtest tree; remove it or pick another -d"
	fi
	[ -d "$TREE" ] || import_base

	want=$(series_hash)
	[ -f "$state" ] && have=$(cat "$state")
	if [ "$want" = "$have" ]; then
		log "series unchanged since it was applied; building $TREE as it is"
		return 0
	fi
	# Changes left by an interrupted re-apply are the half-applied series.
	if [ -n "$have" ] && [ "$FORCE" -eq 0 ] &&
	   [ ! -f "$OUTPUT_DIR/.vmtest-mtimes.pending" ] &&
	   [ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
		die $E_APPLY "patches/ or selftests/ changed, and $TREE has uncommitted changes that re-applying would discard: commit and export them (scripts/export-series.sh), or rerun with -f"
	fi
	git -C "$TREE" am --abort >/dev/null 2>&1
	save_mtimes
	git -C "$TREE" checkout -q -f -B vmtest vmtest-base
	apply_series
	restore_mtimes
	echo "$want" >"$state"
}

# Re-applying the series rewrites every file it touches, which would make
# make rebuild most of the kernel (uapi/linux/bpf.h is everywhere).  Keep
# the old timestamp of each file whose content did not change.  A re-apply
# that was interrupted left new timestamps behind: keep the list it saved.
save_mtimes()
{
	local f

	if [ -f "$OUTPUT_DIR/.vmtest-mtimes.pending" ]; then
		log "the last re-apply was interrupted; using the timestamps it saved"
		return 0
	fi
	git -C "$TREE" diff --name-only vmtest-base HEAD 2>/dev/null |
	while read -r f; do
		[ -f "$TREE/$f" ] || continue
		printf '%s %s %s\n' "$(git -C "$TREE" hash-object "$f")" \
			"$(stat -c %Y "$TREE/$f")" "$f"
	done >"$OUTPUT_DIR/.vmtest-mtimes"
	: >"$OUTPUT_DIR/.vmtest-mtimes.pending"
}

restore_mtimes()
{
	local hash mtime f n=0

	while read -r hash mtime f; do
		[ -f "$TREE/$f" ] || continue
		[ "$(git -C "$TREE" hash-object "$f")" = "$hash" ] || continue
		touch -m -d "@$mtime" "$TREE/$f" && n=$((n + 1))
	done <"$OUTPUT_DIR/.vmtest-mtimes"
	rm -f "$OUTPUT_DIR/.vmtest-mtimes.pending"
	[ "$n" -eq 0 ] || log "kept the timestamps of $n unchanged files"
}

configure_kernel()
{
	configure_tree "$TREE" "$TREE_MNT" config 0
}

# Configure tree $1 (mounted at $2 in the chroot; log $3.log): tinyconfig
# plus the fragments.  Every option a fragment asks for must survive
# olddefconfig; with $4 = 1 those the tree does not know (the ones the
# series adds, on the base tree) are left out of that check.
configure_tree()
{
	local tree="$1" mnt="$2" logf="$LOG_DIR/$3.log" only_known="$4"
	local frags=("$PROJECT_DIR"/kconfig-fragments/vm.config) want have="" f sym val
	local stamp="$tree/.vmtest-config"

	[ "$DEBUG_CONFIG" -eq 1 ] && frags+=("$PROJECT_DIR"/kconfig-fragments/debug.config)
	want=$(cat "${frags[@]}" | sha256sum | cut -d' ' -f1)
	[ -f "$stamp" ] && have=$(cat "$stamp")
	if [ "$want" = "$have" ] && [ -f "$tree/.config" ]; then
		log "kernel config of $tree up to date"
		return 0
	fi
	mkdir -p "$tree/.vmtest"
	cp "${frags[@]}" "$tree/.vmtest/"
	in_chroot_at "$tree" "$mnt" "make ARCH=x86_64 tinyconfig &&
		scripts/kconfig/merge_config.sh -m .config .vmtest/*.config &&
		make ARCH=x86_64 olddefconfig" >"$logf" 2>&1 ||
		build_failed "kernel configuration of $tree" "$logf"
	for f in "${frags[@]}"; do
		while IFS='=' read -r sym val; do
			case "$sym" in CONFIG_*) ;; *) continue ;; esac
			if [ "$only_known" -eq 1 ] &&
			   ! git -C "$tree" grep -q -E "^(menu)?config ${sym#CONFIG_}\$" -- '*Kconfig*'; then
				continue
			fi
			if [ "$val" = n ]; then
				! grep -q "^$sym=" "$tree/.config" && continue
			elif grep -qx "$sym=$val" "$tree/.config"; then
				continue
			fi
			die $E_BUILD "$(basename "$f"): $sym=$val is not in the final .config of $tree (a dependency is missing); see $logf"
		done < <(sed -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set/\1=n/' "$f")
	done
	echo "$want" >"$stamp"
}

build_kernel()
{
	log "make -j$JOBS (log: $LOG_DIR/build-kernel.log)"
	in_chroot "make ARCH=x86_64 -j$JOBS all" >"$LOG_DIR/build-kernel.log" 2>&1 ||
		build_failed "kernel build" "$LOG_DIR/build-kernel.log"
}

# W=1 warnings per file for the given objects, as "count file" lines.
w1_warnings()
{
	[ $# -eq 0 ] && return 0
	in_chroot "make ARCH=x86_64 W=1 $*" 2>&1 |
		sed -n 's/^\([^:]*\.[ch]\):[0-9]*:[0-9]*: warning:.*/\1/p' | sort | uniq -c
}

# -b: build each commit of the series on its own, in order, reusing the
# tree's build; check the touched .c files for new W=1 warnings.
build_each_patch()
{
	local commits c i=0 n objs libbpf=0 logf="$LOG_DIR/build-each.log" head
	local base_w new_w f cnt old failed=0

	[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
		die $E_BUILD "$TREE has uncommitted changes; commit them before -b"
	head=$(git -C "$TREE" symbolic-ref -q --short HEAD || git -C "$TREE" rev-parse HEAD)
	mapfile -t commits < <(git -C "$TREE" rev-list --reverse vmtest-base..HEAD)
	n=${#commits[@]}
	# Objects of the kernel's own .c files that the series touches.
	objs=$(git -C "$TREE" diff --name-only vmtest-base HEAD -- '*.c' |
		grep -v '^tools/' | while read -r f; do
			[ -f "$TREE/${f%.c}.o" ] && echo "${f%.c}.o"
		done | tr '\n' ' ')
	: >"$logf"
	git -C "$TREE" checkout -q --detach vmtest-base
	base_w=$(w1_warnings $objs)
	for c in "${commits[@]}"; do
		i=$((i + 1))
		git -C "$TREE" checkout -q --detach "$c"
		if ! in_chroot "make ARCH=x86_64 -j$JOBS all" >>"$logf" 2>&1; then
			git -C "$TREE" checkout -q "$head"
			build_failed "build of patch $i/$n ($(git -C "$TREE" log -1 --format=%s "$c"))" "$logf"
		fi
		git -C "$TREE" diff --quiet vmtest-base "$c" -- tools/lib/bpf || libbpf=1
		if [ "$libbpf" -eq 1 ] &&
		   ! in_chroot "make -C tools/lib/bpf -j$JOBS" >>"$logf" 2>&1; then
			git -C "$TREE" checkout -q "$head"
			build_failed "libbpf build of patch $i/$n" "$logf"
		fi
		new_w=""
		while read -r cnt f; do
			[ -n "$f" ] || continue
			old=$(awk -v f="$f" '$2 == f { print $1 }' <<<"$base_w")
			[ "$cnt" -gt "${old:-0}" ] && new_w+=" $f(+$((cnt - ${old:-0})))"
		done < <(w1_warnings $(git -C "$TREE" diff --name-only "$c^" "$c" -- '*.c' |
			grep -v '^tools/' | while read -r f; do
				[ -f "$TREE/${f%.c}.o" ] && echo "${f%.c}.o"
			done))
		[ -n "$new_w" ] && failed=1
		printf '[%d/%d] %-64s build ok%s, new W=1 warnings:%s\n' "$i" "$n" \
			"$(git -C "$TREE" log -1 --format=%s "$c" | cut -c1-64)" \
			"$([ "$libbpf" -eq 1 ] && echo ', libbpf ok')" "${new_w:- none}"
	done
	git -C "$TREE" checkout -q "$head"
	[ "$failed" -eq 0 ] || die $E_BUILD "some patches add W=1 warnings (above); log: $logf"
}

# vmlinux.h for the selftests.  The test kernel's own BTF is too small
# (tinyconfig): ~800 progs use types from all over the kernel.  Debian's
# 6.12 image embeds the BTF of a full config of the same kernel version,
# which is what a distro user compiles against anyway.
make_vmlinux_h()
{
	local h="$CACHE_DIR/vmlinux-$VMLINUX_H_IMAGE.h" work="$CACHE_DIR/vmlinux-h.tmp"

	VMLINUX_H="$h"
	[ -s "$h" ] && return 0
	rm -rf "$work"
	mkdir -p "$work"
	log "extracting BTF of $VMLINUX_H_IMAGE for vmlinux.h"
	(cd "$work" && apt-get download "$VMLINUX_H_IMAGE") >"$LOG_DIR/vmlinux-h.log" 2>&1 ||
		die $E_DEPS "apt-get download $VMLINUX_H_IMAGE failed (bookworm-backports in apt sources?); see $LOG_DIR/vmlinux-h.log"
	dpkg-deb -x "$work"/*.deb "$work/x" >>"$LOG_DIR/vmlinux-h.log" 2>&1 ||
		build_failed "unpacking $VMLINUX_H_IMAGE" "$LOG_DIR/vmlinux-h.log"
	cp "$work"/x/boot/vmlinuz-* "$TREE/.vmtest/vmlinuz.distro"
	in_chroot "scripts/extract-vmlinux .vmtest/vmlinuz.distro >.vmtest/vmlinux.distro &&
		bpftool btf dump file .vmtest/vmlinux.distro format c >.vmtest/vmlinux.h" \
		>>"$LOG_DIR/vmlinux-h.log" 2>&1 ||
		build_failed "vmlinux.h extraction" "$LOG_DIR/vmlinux-h.log"
	mv "$TREE/.vmtest/vmlinux.h" "$h.tmp" && mv "$h.tmp" "$h"
	rm -rf "$work" "$TREE"/.vmtest/vmlinu[xz].distro
}

build_selftests()
{
	cp "$VMLINUX_H" "$TREE/.vmtest/vmlinux.h"
	log "make -C $SELFTESTS_REL test_progs (log: $LOG_DIR/build-selftests.log)"
	in_chroot "make -C $SELFTESTS_REL -j$JOBS test_progs \
		VMLINUX_H=$TREE_MNT/.vmtest/vmlinux.h CLANG=clang-19 \
		LLC=llc-19 LLVM_STRIP=llvm-strip-19 LLVM_OBJCOPY=llvm-objcopy-19" \
		>"$LOG_DIR/build-selftests.log" 2>&1 ||
		build_failed "selftests build" "$LOG_DIR/build-selftests.log"
}

# The guest's init: mounts what test_progs needs, runs the command from the
# exchange directory, writes its status there and reboots (QEMU runs with
# -no-reboot, so a reboot ends it).
write_guest_init()
{
	local init="$ROOTFS/usr/local/sbin/vmtest-init" tmp

	tmp=$(mktemp)
	cat >"$tmp" <<EOF
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for d in /tmp /run /var/tmp /dev/shm; do mount -t tmpfs tmpfs "\$d"; done
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmtest /vmtest
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 linux $TREE_MNT
ip link set lo up
ulimit -l unlimited
echo 1 >/proc/sys/kernel/sysrq
cd $TREE_MNT/$SELFTESTS_REL
echo "vmtest: guest up after \$(cut -d' ' -f1 /proc/uptime)s"
if [ -f /vmtest/shell ]; then
	setsid -c bash -i </dev/ttyS0 >/dev/ttyS0 2>&1
	status=\$?
else
	bash /vmtest/cmd
	status=\$?
fi
echo "\$status" >/vmtest/status
sync
echo b >/proc/sysrq-trigger
sleep 10
EOF
	chmod 755 "$tmp"
	if ! cmp -s "$tmp" "$init"; then
		as_root install -m 755 "$tmp" "$init"
	fi
	rm -f "$tmp"
}

# /dev/kvm can exist and still fail (nested virtualization without MSR
# support aborts QEMU at the first vCPU reset): start a paused machine once.
kvm_usable()
{
	case "${VMTEST_ACCEL:-auto}" in
	tcg) return 1 ;;
	kvm) return 0 ;;
	esac
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	# (A subshell, so that the abort is not reported on the terminal.)
	if ! (echo quit | timeout 20 qemu-system-x86_64 -accel kvm -cpu host \
		-nodefaults -display none -S -monitor stdio >"$LOG_DIR/kvm-probe.log" 2>&1) 2>/dev/null; then
		log "/dev/kvm is there but QEMU cannot use it ($(grep -m1 -i error "$LOG_DIR/kvm-probe.log")); using TCG"
		return 1
	fi
	return 0
}

run_vm()
{
	local vm="$OUTPUT_DIR/vm" console="$LOG_DIR/console.log" accel status
	local q

	write_guest_init
	rm -rf "$vm"
	mkdir -p "$vm"
	if [ "$SHELL_MODE" -eq 1 ]; then
		touch "$vm/shell"
	fi
	if [ "$BASE_MODE" -eq 1 ]; then
		cp "$BASE_TREE/.vmtest/bpf_test_clones/bpf_test_clones.ko" "$vm/"
		cat >"$vm/cmd" <<EOF
# The series' test_progs with bpf_test_clones.ko built for this kernel.
mount --bind /vmtest/bpf_test_clones.ko bpf_test_clones.ko || exit 125
./test_progs -t $DEFAULT_TESTS 2>&1 | tee /vmtest/test.log
EOF
	elif [ ${#COMMAND[@]} -eq 0 ]; then
		cat >"$vm/cmd" <<EOF

set -o pipefail
./test_progs -t $DEFAULT_TESTS -d $DEFAULT_BENCHES 2>&1 | tee /vmtest/test.log
tests=\$?
./test_progs -v -t $DEFAULT_BENCHES 2>&1 | tee -a /vmtest/test.log
benches=\$?
[ \$tests -ne 0 ] && exit \$tests
exit \$benches
EOF
	else
		{
			echo "set -o pipefail"
			printf '%q ' "${COMMAND[@]}"
			echo "2>&1 | tee /vmtest/test.log"
		} >"$vm/cmd"
	fi

	if kvm_usable; then
		accel=(-enable-kvm -cpu host)
		: "${TIMEOUT:=600}"
	else
		accel=(-accel tcg -cpu max)
		: "${TIMEOUT:=1200}"
	fi
	q=(qemu-system-x86_64 "${accel[@]}" -smp "$JOBS" -m "$VM_MEMORY"
	   -nodefaults -display none -serial mon:stdio -no-reboot
	   -kernel "$KERNEL_IMAGE"
	   -append "console=ttyS0 earlyprintk=serial root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000 ro init=/usr/local/sbin/vmtest-init panic=-1 oops=panic softlockup_panic=0 nokaslr"
	   -fsdev "local,id=root9p,path=$ROOTFS,security_model=none,readonly=on,multidevs=remap"
	   -device virtio-9p-pci,fsdev=root9p,mount_tag=/dev/root
	   -fsdev "local,id=tree9p,path=$TREE,security_model=none,readonly=on,multidevs=remap"
	   -device virtio-9p-pci,fsdev=tree9p,mount_tag=linux
	   -fsdev "local,id=vm9p,path=$vm,security_model=none,multidevs=remap"
	   -device virtio-9p-pci,fsdev=vm9p,mount_tag=vmtest)

	log "booting $KERNEL_IMAGE under ${accel[1]} (timeout ${TIMEOUT}s, console: $console)"
	if [ "$SHELL_MODE" -eq 1 ]; then
		as_root "${q[@]}" | tee "$console"
	else
		# --foreground: QEMU stays in our process group, so that Ctrl-C
		# reaches it and ends the run instead of only killing tee.
		as_root timeout --foreground -k 10 "$TIMEOUT" "${q[@]}" </dev/null 2>&1 | tee "$console"
		status=${PIPESTATUS[0]}
		if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
			die $E_TIMEOUT "guest timed out after ${TIMEOUT}s (raise it with -t); console: $console"
		fi
	fi
}

# Kernel splats fail the run even when the tests passed.  Only kernel lines
# (with a printk timestamp) are matched, never test output.
check_console()
{
	local console="$LOG_DIR/console.log" bad

	bad=$(grep -E -a '^\[ *[0-9]+\.[0-9]+\] .*(Kernel panic|BUG:|WARNING:|Oops|general protection fault|possible recursive locking|possible circular locking|inconsistent lock state|lockdep|UBSAN:|KASAN:|INFO: task .* blocked|soft lockup|hard LOCKUP|RCU.*stall)' "$console" | head -n 5)
	if [ -n "$bad" ]; then
		echo "$bad" >&2
		die $E_PANIC "kernel splat in the guest's console (first lines above); console: $console"
	fi
}

report_tests()
{
	local vm="$OUTPUT_DIR/vm" status line pass=0 fail=0 skip=0

	[ -f "$vm/test.log" ] && cp "$vm/test.log" "$LOG_DIR/test.log"
	if [ ! -f "$vm/status" ]; then
		check_console
		die $E_VM "the guest ended without reporting a status; console: $LOG_DIR/console.log"
	fi
	status=$(cat "$vm/status")
	# One Summary line per test_progs run: add them up.
	line=$(grep -a -E '^Summary: [0-9]+/[0-9]+ PASSED, [0-9]+ SKIPPED, [0-9]+ FAILED' \
		"$vm/test.log" 2>/dev/null |
		sed -E 's|^Summary: ([0-9]+)/[0-9]+ PASSED, ([0-9]+) SKIPPED, ([0-9]+) FAILED.*|\1 \2 \3|' |
		awk '{ p += $1; s += $2; f += $3; n++ } END { if (n) print p, s, f }')
	if [ -n "$line" ]; then
		read -r pass skip fail <<<"$line"
		TEST_SUMMARY="tests: $pass passed, $fail failed, $skip skipped (log: $LOG_DIR/test.log)"
	else
		TEST_SUMMARY="command exited $status (no test_progs summary; log: $LOG_DIR/test.log)"
	fi
	check_console
	if [ -n "$line" ]; then
		echo "$pass passed, $fail failed, $skip skipped"
		if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
			[ "$status" -eq 0 ] && status=$E_TESTS
			echo "no test ran: the selection matched nothing" >&2
		fi
	fi
	[ "$status" -ne 0 ] && log "command in the guest exited $status"
	return "$status"
}

# -B: the base tree, a shared clone of $TREE at vmtest-base.
prepare_base_tree()
{
	local want

	want=$(git -C "$TREE" rev-parse vmtest-base) ||
		die $E_KDIR "$TREE has no vmtest-base tag"
	if [ ! -d "$BASE_TREE" ]; then
		log "cloning the base of $TREE into $BASE_TREE"
		git clone -q --shared --no-checkout "$TREE" "$BASE_TREE" ||
			die $E_KDIR "git clone of $TREE into $BASE_TREE failed"
	fi
	if [ "$(git -C "$BASE_TREE" rev-parse -q --verify HEAD)" != "$want" ]; then
		git -C "$BASE_TREE" fetch -q "$TREE" refs/tags/vmtest-base &&
		git -C "$BASE_TREE" checkout -q -f --detach "$want" ||
			die $E_KDIR "checkout of the base in $BASE_TREE failed"
	fi
	as_root mkdir -p "$ROOTFS$BASE_MNT"
}

# The base kernel, and bpf_test_clones.ko built for it from the series'
# source (a copy: the series' build of the module stays as it is).
build_base()
{
	local mod="$BASE_TREE/.vmtest/bpf_test_clones"

	log "make -j$JOBS in $BASE_TREE (log: $LOG_DIR/build-base.log)"
	in_chroot_at "$BASE_TREE" "$BASE_MNT" "make ARCH=x86_64 -j$JOBS all" \
		>"$LOG_DIR/build-base.log" 2>&1 ||
		build_failed "base kernel build" "$LOG_DIR/build-base.log"
	rm -rf "$mod"
	mkdir -p "$mod"
	cp "$TREE/$SELFTESTS_REL"/bpf_test_clones/{Makefile,*.[ch]} "$mod/"
	log "bpf_test_clones.ko for the base kernel (log: $LOG_DIR/build-base-module.log)"
	in_chroot_at "$BASE_TREE" "$BASE_MNT" \
		"make -C .vmtest/bpf_test_clones KDIR=$BASE_MNT" \
		>"$LOG_DIR/build-base-module.log" 2>&1 ||
		build_failed "bpf_test_clones.ko for the base kernel" "$LOG_DIR/build-base-module.log"
}

# -B: pass only if every test of what the series adds ran and neither it
# nor any of its subtests passed.
report_base()
{
	local vm="$OUTPUT_DIR/vm" log="$LOG_DIR/test.log" t bad=0 line

	[ -f "$vm/test.log" ] && cp "$vm/test.log" "$log"
	if [ ! -f "$vm/status" ] || [ ! -f "$log" ]; then
		check_console
		die $E_VM "the guest ended without reporting a status; console: $LOG_DIR/console.log"
	fi
	check_console
	echo "on the base kernel, without patches/:"
	for t in $NEW_TESTS btf_clone_names; do
		# test_progs repeats failed tests in its error log: first line
		line=$(grep -a -m1 -E "^#[0-9]+ +$t:(OK|FAIL|SKIP)" "$log" | sed 's/^#[0-9]* *//')
		case "$t:$line" in
		btf_clone_names:*) echo "  ${line:-$t: did not run} (behaviour the base has since v6.4)" ;;
		*:*:FAIL|*:*:SKIP) echo "  $line" ;;
		*:) echo "  $t: did not run"; bad=1 ;;
		*) echo "  $line: passes without the kernel series"; bad=1 ;;
		esac
	done
	line=$(grep -a -E "^#[0-9]+/[0-9]+ +($(echo "$NEW_TESTS" | tr ' ' '|'))/[^:]*:OK" "$log" | sort -u)
	if [ -n "$line" ]; then
		echo "subtests that pass without the kernel series:"
		echo "$line" | sed 's/^/  /'
		bad=1
	fi
	if [ "$bad" -ne 0 ]; then
		TEST_SUMMARY="base kernel: a test of the series passed or did not run (log: $log)"
		return $E_TESTS
	fi
	TEST_SUMMARY="base kernel: each test of the series fails there (log: $log)"
	echo "ok: none of $NEW_TESTS passes without the kernel series"
	return 0
}

main()
{
	local opt

	if [ "${1:-}" = "--series-hash" ]; then
		# Internal, for scripts/export-series.sh.
		series_hash
		exit 0
	fi
	while getopts ':k:d:j:t:DfbBsh' opt; do
		case "$opt" in
		k) KERNEL_DIR="$(realpath -e "$OPTARG" 2>/dev/null)" ||
			die $E_KDIR "-k $OPTARG: no such directory" ;;
		d) OUTPUT_DIR="$OPTARG" ;;
		j) [[ "$OPTARG" =~ ^[1-9][0-9]*$ ]] || { usage >&2; die $E_USAGE "-j needs a positive number"; }
		   JOBS="$OPTARG" ;;
		t) [[ "$OPTARG" =~ ^[1-9][0-9]*$ ]] || { usage >&2; die $E_USAGE "-t needs a number of seconds"; }
		   TIMEOUT="$OPTARG" ;;
		D) DEBUG_CONFIG=1 ;;
		f) FORCE=1 ;;
		b) EACH_PATCH=1 ;;
		B) BASE_MODE=1 ;;
		s) SHELL_MODE=1 ;;
		h) usage; exit 0 ;;
		:) usage >&2; die $E_USAGE "-$OPTARG needs an argument" ;;
		*) usage >&2; die $E_USAGE "unknown option -$OPTARG" ;;
		esac
	done
	shift $((OPTIND - 1))
	COMMAND=("$@")

	mkdir -p "$OUTPUT_DIR" "$CACHE_DIR" || die $E_USAGE "cannot create $OUTPUT_DIR or $CACHE_DIR"
	OUTPUT_DIR="$(realpath "$OUTPUT_DIR")"
	readonly TREE="$OUTPUT_DIR/linux" LOG_DIR="$OUTPUT_DIR/logs" ROOTFS="$CACHE_DIR/rootfs-$ROOTFS_SUITE"
	readonly BASE_TREE="$OUTPUT_DIR/linux-base"
	KERNEL_IMAGE="$TREE/arch/x86/boot/bzImage"
	if [ "$BASE_MODE" -eq 1 ]; then
		if [ "$EACH_PATCH" -eq 1 ] || [ "$SHELL_MODE" -eq 1 ] || [ ${#COMMAND[@]} -gt 0 ]; then
			usage >&2
			die $E_USAGE "-B runs its own tests: no -b, -s or COMMAND with it"
		fi
		KERNEL_IMAGE="$BASE_TREE/arch/x86/boot/bzImage"
	fi
	mkdir -p "$LOG_DIR"
	GIT_NAME="$(git -C "$PROJECT_DIR" config user.name 2>/dev/null || echo vmtest)"
	GIT_EMAIL="$(git -C "$PROJECT_DIR" config user.email 2>/dev/null || echo vmtest@localhost)"
	trap summary EXIT
	trap 'die $E_INTR "interrupted during step: ${CURRENT_STEP:-none}"' INT TERM

	step_begin "install dependencies"; install_host_deps; step_end
	# The build root comes from the network and the tree from disk: do both
	# at once.
	step_begin "build root + kernel tree"
	make_rootfs &
	local rootfs_pid=$!
	prepare_tree
	wait "$rootfs_pid" || exit $?
	step_end
	step_begin "configure kernel"; configure_kernel; step_end
	if [ "$EACH_PATCH" -eq 1 ]; then
		step_begin "build each patch"; build_each_patch; step_end
		return
	fi
	step_begin "build kernel"; build_kernel; step_end
	step_begin "vmlinux.h"; make_vmlinux_h; step_end
	step_begin "build selftests"; build_selftests; step_end
	if [ "$BASE_MODE" -eq 1 ]; then
		step_begin "base kernel tree"; prepare_base_tree; step_end
		step_begin "configure base kernel"; configure_tree "$BASE_TREE" "$BASE_MNT" config-base 1; step_end
		step_begin "build base kernel"; build_base; step_end
		step_begin "run in VM (base kernel)"; run_vm; step_end
		report_base
		return
	fi
	step_begin "run in VM"; run_vm; step_end
	report_tests
}

main "$@"
