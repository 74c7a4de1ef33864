#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vmtest.sh: apply the clone-tracing series to a Linux 7.3 tree (or, with
# -r 6.12, its backport to a 6.12 tree), build the kernel, the test modules
# and test_progs, boot the kernel in QEMU and run the tests there.
# Everything comes from Debian's package archive; nothing else is
# downloaded, and the host's apt configuration is never changed: the
# kernel source and Debian's images are fetched with a private apt state
# in the cache, and kept there.
#
# The kernel, modules and selftests are built inside a Debian trixie chroot
# (clang-19: the selftests need clang >= 18, bookworm has 16).  The same
# tree, shared read-only over 9p, is the guest's root filesystem; the kernel
# tree is shared at the same path, so the guest runs the very test_progs the
# chroot built.

set -uo pipefail

readonly PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly DEFAULT_TESTS="kprobe_clone,libbpf_clone,fentry_clone,btf_clone_names"
# The whole-kernel sweeps print their numbers only under -v: run them
# apart.  (-t matches substrings: DEFAULT_TESTS selects these too.)
readonly DEFAULT_BENCHES="kprobe_clone_sweep,fentry_clone_sweep"
# The series' benchmarks, in ./bench (benchs/bench_kprobe_clone.c): the
# cost of a clone lookup, of a kprobe_multi link with and without
# BPF_F_KPROBE_MULTI_CLONES, and of a libbpf attach on each path.
readonly BENCHES="kprobe-clone-lookup-exact kprobe-clone-lookup-amb kprobe-clone-lookup-none kprobe-clone-multi-plain kprobe-clone-multi-flag kprobe-clone-libbpf-kernel kprobe-clone-libbpf-userspace"

# Exit statuses, one per failure mode (see usage()).
readonly E_TESTS=1 E_USAGE=2 E_DEPS=3 E_KDIR=4 E_APPLY=5 E_BUILD=6
readonly E_PANIC=7 E_TIMEOUT=8 E_VM=9 E_DIRTY=10 E_QEMU=11 E_INTR=130

# The bases a series exists for, newest (the default) first.
readonly BASES="7.3 6.12"
DEFAULT_BASE=7.3

OUTPUT_DIR="${VMTEST_OUTPUT:-}"
CACHE_DIR="${VMTEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/clone-trace-vmtest}"
MIRROR="${VMTEST_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${VMTEST_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
VM_MEMORY="${VMTEST_MEMORY:-4G}"
VM_SMP="${VMTEST_SMP:-$(nproc)}"
BASE=""
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
readonly ROOTFS_PACKAGES="bash,coreutils,util-linux,procps,kmod,iproute2,gcc,g++,make,flex,bison,bc,cpio,python3,perl,libelf-dev,libdw-dev,libssl-dev,zlib1g-dev,libzstd-dev,pkg-config,dwarves,clang-19,lld-19,llvm-19,bpftool,xz-utils,zstd,binutils,file,openssl"
# From trixie-backports: 7.3's selftests need clang >= 20, whose BPF
# target defaults to -mcpu=v3 (libarena's 32-bit atomics; clang-19 fails
# with "unsupported atomic operation, please use 64 bit version").
readonly ROOTFS_BACKPORTS="clang-21 lld-21 llvm-21"
# Where the kernel tree appears inside the chroot and inside the guest.
readonly TREE_MNT=/build/linux
readonly BASE_MNT=/build/linux-base
# Per base (base_setup): where its series lives, the Debian source package
# and version it is made for, and the Debian image whose BTF becomes the
# selftests' vmlinux.h.  A pinned version that left the archive is replaced
# by the newest one there (and said so); whatever was downloaded once is
# kept in the cache and used again.
SERIES_DIR="" SOURCE_PKG="" SOURCE_VERSION="" IMAGE_PKG="" IMAGE_RE="" CLANG_VER=""
MODULES_PKG="" MODULES_RE="" BTF_MODULE=""
IMAGE_VERSION=""

# Upstream's own tests of what the series touches (kprobes, kprobe_multi,
# fentry/fexit, BTF, ksyms, links): run after the series' tests, on the
# series kernel and with -B on the base kernel, and reported apart; they
# must give the same results on both.
readonly UPSTREAM_TESTS="attach_probe,kprobe_multi_test,fentry_test,fexit_test,fentry_fexit,ksyms_btf,ksyms_module,btf_module,perf_link,link_pinning"
# The tests of what the series adds; with -B none of them may pass.
readonly NEW_TESTS="kprobe_clone kprobe_clone_sweep kprobe_clone_tracefs libbpf_clone fentry_clone fentry_clone_sweep"
# ftracetest's tests of the %clone suffix of kprobe and fprobe events (the
# first is the series' own, the others gained %clone cases), in
# tools/testing/selftests/ftrace: run after the series' test_progs.
readonly FTRACE_TESTS="test.d/kprobe/kprobe_clone.tc test.d/kprobe/kprobe_syntax_errors.tc test.d/dynevent/fprobe_syntax_errors.tc"
readonly SELFTESTS_REL=tools/testing/selftests/bpf

BG_PIDS=()
STEP_NAMES=()
STEP_TIMES=()
CURRENT_STEP=""
STEP_START=0
TEST_SUMMARY=""

usage()
{
	cat <<EOF
Usage: $0 [-r BASE] [-k DIR] [-d DIR] [-j N] [-t SECONDS] [-D] [-f] [-b] [-B] [-s] [-h] [-- COMMAND...]

Apply the series for BASE to a kernel tree, build the kernel,
bpf_testmod.ko, bpf_test_clones.ko and test_progs, boot the kernel in QEMU
and run COMMAND in $SELFTESTS_REL inside the guest.
Default: ./test_progs -t $DEFAULT_TESTS -d $DEFAULT_BENCHES,
then ./test_progs -v -t $DEFAULT_BENCHES (the sweeps, with
their numbers), then ./bench for $BENCHES,
then ../ftrace/ftracetest $FTRACE_TESTS.

Bases: 7.3 (patches/ and selftests/, on Debian's linux-source-7.3) and
6.12 (backports/6.12/, on Debian's linux-source-6.12).

Options:
  -r BASE     the base to test: $BASES (default: $DEFAULT_BASE, or the
              VERSION.PATCHLEVEL of -k DIR).
  -k DIR      base kernel tree to use instead of Debian's source package;
              its Makefile's VERSION.PATCHLEVEL picks the series.
              DIR is never modified: a git DIR is cloned (--shared) at its
              HEAD, any other DIR is copied.
  -d DIR      output directory (default: $PROJECT_DIR/out/BASE). It holds the
              patched git tree (DIR/linux), the logs (DIR/logs) and the
              guest's exchange directory (DIR/vm). An existing DIR must be
              empty or made by vmtest.sh (it holds .vmtest-output).
  -j N        parallel build jobs (default: nproc = $(nproc)).
  -t SECONDS  kill the guest after SECONDS (default: 1200 under TCG,
              600 with KVM); a timeout fails the run.
  -D          also merge kconfig-fragments/debug.config (KASAN, lockdep,
              ...): slower, checked run. Switching rebuilds the kernel.
  -f          discard what DIR/linux holds beyond the series (commits and
              changes not exported to the series) when the series or the
              base changed; by default the run stops and says what would
              be lost.
  -b          build every patch of the series on its own instead of
              booting: the kernel at each commit (and libbpf once the series
              touches it), and the touched .c files at W=1 with no warning
              that the base did not have. Reuses DIR/linux's build.
  -B          prove the tests need the kernel series: build the base
              kernel without the kernel series in DIR/linux-base (same
              config, minus the options the series adds) and
              bpf_test_clones.ko for it, boot it and run
              ./test_progs -t $DEFAULT_TESTS
              with the series' test_progs.  Succeeds only if none of
              $NEW_TESTS passes, in whole or in part
              (btf_clone_names checks what the base already does).
  -s          start an interactive shell in the guest (no COMMAND).
  -h          show this help.

Environment:
  VMTEST_OUTPUT          same as -d.
  VMTEST_CACHE           cache for the build root, the downloaded packages
                         and the vmlinux.h (default:
                         \${XDG_CACHE_HOME:-~/.cache}/clone-trace-vmtest).
  VMTEST_MIRROR          Debian mirror (default: $MIRROR).
  VMTEST_SECURITY_MIRROR Debian security mirror (default: $SECURITY_MIRROR).
  VMTEST_SOURCE_VERSION  version of the base's linux-source package
                         (default: the one the series is made for, else the
                         newest in the archive).
  VMTEST_MEMORY          guest memory (default: $VM_MEMORY).
  VMTEST_SMP             guest CPUs (default: nproc).
  VMTEST_ACCEL           kvm, tcg or auto (default: auto: KVM when QEMU
                         can start a vCPU with it, TCG -cpu max otherwise).

Exit status: 0 the tests (or COMMAND) passed and the guest was clean;
  $E_TESTS tests failed (or COMMAND exited non-zero: its status is printed),
  $E_USAGE bad option, $E_DEPS a dependency could not be installed or fetched
  (packages, the kernel source, the build root), $E_KDIR -k DIR is not a
  kernel tree, $E_APPLY a patch does not apply, $E_BUILD build failure,
  $E_PANIC panic/oops/BUG/WARN/lockdep splat in the guest, $E_TIMEOUT guest
  timeout, $E_VM the guest did not report a status, $E_DIRTY DIR/linux holds
  work that the run would discard, $E_QEMU QEMU could not start, $E_INTR
  interrupted (SIGINT/SIGTERM; a re-apply of the series that was cut short
  is redone by the next run, keeping the timestamps it saved).
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
	trap '' INT TERM
	[ -n "$CURRENT_STEP" ] && step_end
	stop_background
	restore_each_patch_head
	{
		echo
		echo "==================== vmtest summary ===================="
		[ -n "$BASE" ] && printf '  %-28s %s\n' "base" "$BASE${BASE_DESC:+ ($BASE_DESC)}"
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

# Background steps (the debootstrap) never outlive the run.
stop_background()
{
	local pid

	# Each background step leads a process group of its own (set -m):
	# end the whole group, debootstrap and its children included.
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	BG_PIDS=()
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
	# python3-ply and python3-git for checkpatch's SPDX check
	# (scripts/check-series.sh).  The kernel source is not installed on
	# the host: fetch_deb() downloads it into the cache.
	local pkgs=(git xz-utils debootstrap qemu-system-x86 util-linux rsync
		    perl python3 python3-ply python3-git dpkg ca-certificates
		    apt zstd)

	[ -r /etc/debian_version ] && command -v dpkg-query >/dev/null ||
		die $E_DEPS "this host is not Debian (no /etc/debian_version or dpkg): vmtest.sh needs Debian 12 or later with apt, or the packages ${pkgs[*]} installed by hand"
	for pkg in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0

	log "installing from the host's apt sources: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
		die $E_DEPS "missing packages: ${missing[*]}; run as root or with passwordless sudo, or install them"
	fi
	# A held dpkg lock (unattended-upgrades) is waited for, up to 5 min.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
		update -q >"$LOG_DIR/apt.log" 2>&1 || {
		tail -n 20 "$LOG_DIR/apt.log" >&2
		die $E_DEPS "apt-get update failed; see $LOG_DIR/apt.log"
	}
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
		install -y -q --no-install-recommends "${missing[@]}" \
		</dev/null >>"$LOG_DIR/apt.log" 2>&1 || {
		tail -n 20 "$LOG_DIR/apt.log" >&2
		die $E_DEPS "could not install ${missing[*]}; see $LOG_DIR/apt.log"
	}
}

# Per-base settings.  The pinned versions are the ones the series was
# made and measured on.
base_setup()
{
	case "$BASE" in
	7.3)
		SERIES_DIR="$PROJECT_DIR"
		SOURCE_PKG=linux-source-7.3
		SOURCE_VERSION="${VMTEST_SOURCE_VERSION:-7.3.4-1~bpo13+1}"
		# Since 7.3, Debian's vmlinuz is in linux-binary-*.
		IMAGE_PKG=linux-binary-7.3.4+deb13-amd64
		IMAGE_VERSION=7.3.4-1~bpo13+1
		IMAGE_RE='^linux-binary-7\.3\.[0-9]+\+deb13-amd64$'
		# test_lwt_ip_encap.c uses struct vxlanhdr, which Debian's
		# vmlinux BTF lacks (VXLAN=m): vmlinux.h is dumped from the
		# module's split BTF, which holds vmlinux's types too.
		MODULES_PKG=linux-modules-7.3.4+deb13-amd64
		MODULES_RE='^linux-modules-7\.3\.[0-9]+\+deb13-amd64$'
		BTF_MODULE=vxlan
		CLANG_VER=21
		;;
	6.12)
		SERIES_DIR="$PROJECT_DIR/backports/6.12"
		SOURCE_PKG=linux-source-6.12
		SOURCE_VERSION="${VMTEST_SOURCE_VERSION:-6.12.95-1~bpo12+1}"
		IMAGE_PKG=linux-image-6.12.95+deb12-amd64-unsigned
		IMAGE_VERSION=6.12.95-1~bpo12+1
		IMAGE_RE='^linux-image-6\.12\.[0-9]+\+deb1[23]-amd64-unsigned$'
		CLANG_VER=19
		;;
	*)
		die $E_USAGE "no series for base '$BASE' (bases: $BASES)"
		;;
	esac
	[ -f "$SERIES_DIR/patches/series" ] && [ -f "$SERIES_DIR/selftests/series" ] ||
		die $E_USAGE "base $BASE: no series in $SERIES_DIR/{patches,selftests}/series"
}

# apt-get with a private configuration, state and package cache under the
# cache directory: the host's sources are never touched, and any user can
# run it.  All the suites the bases need are listed.
APT_DIR=""
# The options both apt-get and apt-cache take for the private state.
apt_private_opts()
{
	APT_OPTS=(-o Dir::Etc::sourcelist="$APT_DIR/sources.list"
		  -o Dir::Etc::sourceparts=- -o Dir::Etc::preferencesparts=-
		  -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache"
		  -o Dir::State::status=/dev/null)
}

apt_private()
{
	local APT_OPTS

	apt_private_opts
	apt-get -q "${APT_OPTS[@]}" -o Debug::NoLocking=1 \
		-o APT::Sandbox::User="$(id -un)" -o Acquire::Retries=3 "$@"
}

apt_cache_private()
{
	local APT_OPTS

	apt_private_opts
	apt-cache "${APT_OPTS[@]}" "$@"
}

# cached DIR PACKAGE VERSION SUFFIX: the file DIR/PACKAGE_VERSION_*SUFFIX
# the cache holds (apt's file names spell ':' as %3a), or nothing.
cached()
{
	ls "$1/${2}_${3//:/%3a}_"*"$4" 2>/dev/null | head -n 1
}

# Once per run: fetch_deb() runs in command substitutions, so the mark is a
# file holding the run's pid ($$ is the same in subshells).
apt_update_private()
{
	APT_DIR="$CACHE_DIR/apt"
	[ "$(cat "$APT_DIR/.updated-by" 2>/dev/null)" = "$$" ] && return 0
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	cat >"$APT_DIR/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-backports main
deb $SECURITY_MIRROR bookworm-security main
deb $MIRROR trixie main
deb $MIRROR trixie-backports main
deb $SECURITY_MIRROR trixie-security main
EOF
	log "reading the package lists of Debian's archive (private apt state in $APT_DIR)"
	apt_private update >"$LOG_DIR/apt-private.log" 2>&1 || {
		tail -n 20 "$LOG_DIR/apt-private.log" >&2
		die $E_DEPS "apt-get update of Debian's archive failed; see $LOG_DIR/apt-private.log"
	}
	echo "$$" >"$APT_DIR/.updated-by"
}

# fetch_deb PACKAGE VERSION REGEX: print the path of PACKAGE's .deb at
# VERSION in the cache, downloading it if needed.  When that version is
# neither cached nor in the archive any more, take the newest version of
# the package (or, with REGEX, of the newest package matching it) and say
# so on stderr.
fetch_deb()
{
	local pkg="$1" ver="$2" re="$3" dir="$CACHE_DIR/debs" f have tmp

	mkdir -p "$dir"
	f=$(cached "$dir" "$pkg" "$ver" .deb)
	if [ -n "$f" ]; then
		echo "$f"
		return 0
	fi
	apt_update_private
	have=$(apt_cache_private madison "$pkg" 2>/dev/null | awk -F' [|] ' -v v="$ver" '$2 == v { print $2 }' | head -n 1)
	if [ -z "$have" ]; then
		if [ -n "$re" ]; then
			pkg=$(apt_cache_private pkgnames 2>/dev/null | grep -E "$re" | sort -V | tail -n 1)
			[ -n "$pkg" ] || die $E_DEPS "no package matching $re in Debian's archive"
		fi
		have=$(apt_cache_private madison "$pkg" 2>/dev/null | awk -F' [|] ' '{ print $2 }' | sort -V | tail -n 1)
		[ -n "$have" ] || die $E_DEPS "$pkg is not in Debian's archive ($APT_DIR/sources.list)"
		log "NOTE: $1 $ver is no longer in Debian's archive; using $pkg $have instead" >&2
		f=$(cached "$dir" "$pkg" "$have" .deb)
		if [ -n "$f" ]; then
			echo "$f"
			return 0
		fi
	fi
	tmp=$(mktemp -d "$dir/.download.XXXXXX")
	log "downloading $pkg $have" >&2
	(cd "$tmp" && apt_private download "$pkg=$have") >>"$LOG_DIR/apt-private.log" 2>&1 || {
		rm -rf "$tmp"
		die $E_DEPS "apt-get download $pkg=$have failed; see $LOG_DIR/apt-private.log"
	}
	f=$(ls "$tmp"/*.deb | head -n 1)
	mv "$f" "$dir/" && rmdir "$tmp" ||
		die $E_DEPS "cannot store $f in $dir (disk full?)"
	echo "$dir/$(basename "$f")"
}

# Take the lock file $1 on fd $2, waiting for (and naming) its holder.
take_lock()
{
	local file="$1" fd="$2" what="$3" mode=-x

	[ "${4:-}" = shared ] && mode=-s
	eval "exec $fd>>\"\$file\"" || die $E_USAGE "cannot open lock $file"
	if ! flock -n "$mode" "$fd"; then
		log "waiting for $what: held by $(cat "$file.owner" 2>/dev/null || echo 'another run')"
		flock "$mode" "$fd" || die $E_USAGE "cannot lock $file"
	fi
	echo "pid $$ ($(id -un)@$(hostname), $(date -u +%FT%TZ), $PROJECT_DIR)" >"$file.owner"
}

# The build root / guest root.  Cached: rebuilt only when the package list
# changes.  Built in a temporary directory of its own and renamed, so an
# interrupted debootstrap never leaves a half tree behind; the cache lock
# keeps two runs from replacing a root the other one uses.
make_rootfs()
{
	local stamp="$ROOTFS/.vmtest-packages" tmp

	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ROOTFS_PACKAGES $ROOTFS_BACKPORTS" ]; then
		log "build root up to date: $ROOTFS"
		return 0
	fi
	# What an interrupted run left: the cache is locked exclusively here.
	as_root rm -rf --one-file-system "$CACHE_DIR"/.rootfs.*
	tmp=$(mktemp -d "$CACHE_DIR/.rootfs.XXXXXX") ||
		die $E_DEPS "cannot create a temporary directory in $CACHE_DIR"
	log "debootstrap $ROOTFS_SUITE into $ROOTFS (log: $LOG_DIR/debootstrap.log)"
	if ! as_root debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" \
		"$ROOTFS_SUITE" "$tmp" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1; then
		as_root rm -rf --one-file-system "$tmp"
		tail -n 20 "$LOG_DIR/debootstrap.log" >&2
		die $E_DEPS "debootstrap of the build root failed; see $LOG_DIR/debootstrap.log"
	fi
	echo "deb $MIRROR trixie-backports main" |
		as_root tee "$tmp/etc/apt/sources.list.d/vmtest-trixie-backports.list" >/dev/null
	as_root cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null
	if ! as_root chroot "$tmp" /bin/sh -c "apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-t trixie-backports $ROOTFS_BACKPORTS && apt-get clean" \
		>>"$LOG_DIR/debootstrap.log" 2>&1; then
		as_root rm -rf --one-file-system "$tmp"
		tail -n 20 "$LOG_DIR/debootstrap.log" >&2
		die $E_DEPS "installing $ROOTFS_BACKPORTS from trixie-backports into the build root failed; see $LOG_DIR/debootstrap.log"
	fi
	as_root mkdir -p "$tmp$TREE_MNT" "$tmp$BASE_MNT" "$tmp/vmtest"
	echo "$ROOTFS_PACKAGES $ROOTFS_BACKPORTS" | as_root tee "$tmp/.vmtest-packages" >/dev/null
	if [ -d "$ROOTFS" ]; then
		as_root mv "$ROOTFS" "$tmp.old" && as_root rm -rf --one-file-system "$tmp.old"
	fi
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

# What the base tree is made from, as one line: the Debian source package
# and version, or -k DIR and its HEAD.  A tree made from something else is
# made again (prepare_tree).  Sets BASE_ID, BASE_DESC and, for Debian's
# source, SOURCE_DEB.
SOURCE_DEB=""
resolve_base_id()
{
	local v

	if [ -z "$KERNEL_DIR" ]; then
		SOURCE_DEB=$(fetch_deb "$SOURCE_PKG" "$SOURCE_VERSION" "") || exit $?
		v=$(dpkg-deb -f "$SOURCE_DEB" Version) ||
			die $E_DEPS "$SOURCE_DEB is not a Debian package; remove it"
		BASE_DESC="Debian $SOURCE_PKG $v"
		[ "$v" = "$SOURCE_VERSION" ] ||
			BASE_DESC+=", not $SOURCE_VERSION that the series was made on"
		BASE_ID="debian:$SOURCE_PKG=$v"
	elif [ -e "$KERNEL_DIR/.git" ]; then
		v=$(git -C "$KERNEL_DIR" rev-parse HEAD) ||
			die $E_KDIR "-k $KERNEL_DIR: git rev-parse HEAD failed"
		BASE_DESC="$KERNEL_DIR at ${v:0:12}"
		BASE_ID="git:$KERNEL_DIR@$v"
	else
		BASE_DESC="copy of $KERNEL_DIR"
		BASE_ID="copy:$KERNEL_DIR"
	fi
}

# Import the base tree into $TREE as a git repository with one commit.
# The commit's identity and dates are fixed so that the same source always
# gives the same base commit (format-patch's base-commit then stays stable).
import_base()
{
	local tmp

	tmp=$(mktemp -d "$OUTPUT_DIR/.linux.XXXXXX") ||
		die $E_DEPS "cannot create a directory in $OUTPUT_DIR"
	if [ -z "$KERNEL_DIR" ]; then
		log "unpacking $SOURCE_PKG from $(basename "$SOURCE_DEB")"
		dpkg-deb --fsys-tarfile "$SOURCE_DEB" |
			tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
			tar -xJ -C "$tmp" --strip-components=1 || {
			rm -rf "$tmp"
			die $E_DEPS "cannot unpack the kernel source from $SOURCE_DEB into $OUTPUT_DIR (disk full?)"
		}
	elif [ -e "$KERNEL_DIR/.git" ]; then
		log "cloning $KERNEL_DIR at HEAD (uncommitted changes there are not used)"
		rmdir "$tmp"
		git clone -q --shared --no-checkout "$KERNEL_DIR" "$tmp" ||
			die $E_KDIR "git clone of $KERNEL_DIR failed"
		git -C "$tmp" checkout -q -B vmtest "${BASE_ID##*@}" ||
			die $E_KDIR "checkout of $KERNEL_DIR HEAD failed"
		git -C "$tmp" tag -f vmtest-base HEAD >/dev/null
		mv "$tmp" "$TREE"
		return 0
	else
		log "copying $KERNEL_DIR"
		rsync -a --exclude=.git "$KERNEL_DIR/" "$tmp/" || {
			rm -rf "$tmp"
			die $E_KDIR "copying $KERNEL_DIR failed"
		}
	fi
	(
		cd "$tmp" || exit 1
		export GIT_AUTHOR_NAME=vmtest GIT_AUTHOR_EMAIL=vmtest@localhost
		export GIT_COMMITTER_NAME=vmtest GIT_COMMITTER_EMAIL=vmtest@localhost
		export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z"
		export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
		git init -q -b vmtest &&
		git add -f -A &&
		git commit -q -m "base: ${BASE_DESC%%, not *}" &&
		git tag vmtest-base
	) || { rm -rf "$tmp"; die $E_KDIR "git import of the base tree failed"; }
	mv "$tmp" "$TREE"
}

# The series of the base and what it is applied on: a change of either
# means the tree has to be made again.
series_hash()
{
	{
		echo "$BASE_ID"
		cat "$SERIES_DIR"/patches/series "$SERIES_DIR"/selftests/series \
			"$SERIES_DIR"/patches/*.patch "$SERIES_DIR"/selftests/*.patch
	} 2>/dev/null | sha256sum | cut -d' ' -f1
}

apply_series()
{
	local dir p name n=0

	for dir in patches selftests; do
		while read -r name; do
			case "$name" in ''|'#'*) continue ;; esac
			p="$SERIES_DIR/$dir/$name"
			[ -f "$p" ] || die $E_APPLY "$SERIES_DIR/$dir/series names $name, which does not exist"
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
		done <"$SERIES_DIR/$dir/series"
	done
	log "applied $n patches of ${SERIES_DIR#"$PROJECT_DIR"/}"
}

# Make $TREE the base plus both series.  An existing tree is reused as is
# when neither the series nor the base changed since it was applied, so that
# edits made in the tree (the way to work on the series) are built and
# tested.  Otherwise the tree is made again, but never over work that is
# only there: commits or changes the series does not hold stop the run.
# The state file holds the series hash and the HEAD the harness (or
# scripts/export-series.sh) left.
prepare_tree()
{
	local state="$OUTPUT_DIR/.vmtest-series" idf="$OUTPUT_DIR/.vmtest-base-id"
	local want have="" have_head="" head lost

	if [ -n "$KERNEL_DIR" ]; then
		[ -f "$KERNEL_DIR/Makefile" ] && [ -f "$KERNEL_DIR/kernel/bpf/syscall.c" ] ||
			die $E_KDIR "-k $KERNEL_DIR is not a kernel tree (no Makefile or kernel/bpf/syscall.c)"
	fi
	if [ -d "$TREE" ] && ! git -C "$TREE" rev-parse -q --verify vmtest-base >/dev/null; then
		die $E_KDIR "$TREE exists but is not a vmtest tree; remove it or pick another -d"
	fi

	want=$(series_hash)
	if [ -s "$state" ]; then
		have=$(sed -n 's/^series //p' "$state")
		have_head=$(sed -n 's/^head //p' "$state")
	fi
	if [ -d "$TREE" ] && [ "$want" = "$have" ] &&
	   [ "$(cat "$idf" 2>/dev/null)" = "$BASE_ID" ]; then
		head=$(git -C "$TREE" rev-parse HEAD)
		# An interrupted -b leaves HEAD detached on a commit of the
		# series: back to the whole series.
		if ! git -C "$TREE" symbolic-ref -q HEAD >/dev/null && [ -n "$have_head" ] &&
		   [ "$head" != "$have_head" ] &&
		   git -C "$TREE" merge-base --is-ancestor "$head" "$have_head" 2>/dev/null &&
		   [ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
			log "$TREE was left at $(git -C "$TREE" log -1 --format='%h %s' "$head") (interrupted -b?); back to the whole series"
			git -C "$TREE" checkout -q vmtest 2>/dev/null ||
				git -C "$TREE" checkout -q "$have_head"
		fi
		log "series and base unchanged since they were applied; building $TREE as it is"
		return 0
	fi

	if [ -d "$TREE" ] && [ "$FORCE" -eq 0 ]; then
		head=$(git -C "$TREE" rev-parse HEAD)
		lost=""
		# Changes left by an interrupted re-apply are the half-applied series.
		if [ ! -f "$OUTPUT_DIR/.vmtest-mtimes.pending" ] &&
		   [ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
			lost="uncommitted changes ($(git -C "$TREE" status --porcelain --untracked-files=no | wc -l) files)"
		elif [ ! -f "$OUTPUT_DIR/.vmtest-mtimes.pending" ] &&
		     [ "$head" != "$have_head" ] &&
		     [ "$head" != "$(git -C "$TREE" rev-parse vmtest-base)" ]; then
			if [ -n "$have_head" ] && git -C "$TREE" merge-base --is-ancestor "$have_head" "$head" 2>/dev/null; then
				lost="$(git -C "$TREE" rev-list --count "$have_head..$head") commits not exported: $(git -C "$TREE" log --format=%s -3 "$have_head..$head" | paste -sd';' -)"
			else
				lost="HEAD ${head:0:12} is not the series the harness applied ($( [ -n "$have_head" ] && echo "that was ${have_head:0:12}" || echo "no record of it: $state is missing or empty"))"
			fi
		fi
		[ -z "$lost" ] ||
			die $E_DIRTY "the series or the base changed, and re-applying would lose what $TREE holds: $lost. Export it (commit, then scripts/export-series.sh $( [ "$BASE" = "$DEFAULT_BASE" ] || echo "-r $BASE ")), or rerun with -f to discard it"
	fi
	if [ -d "$TREE" ] && [ "$(cat "$idf" 2>/dev/null)" != "$BASE_ID" ]; then
		log "the base changed ($(cat "$idf" 2>/dev/null || echo unknown) -> $BASE_ID): making $TREE again"
		rm -rf "$TREE" "$OUTPUT_DIR/.vmtest-mtimes" "$OUTPUT_DIR/.vmtest-mtimes.pending"
	fi
	if [ ! -d "$TREE" ]; then
		import_base
		echo "$BASE_ID" >"$idf"
	fi
	git -C "$TREE" am --abort >/dev/null 2>&1
	save_mtimes
	git -C "$TREE" checkout -q -f -B vmtest vmtest-base
	apply_series
	restore_mtimes
	printf 'series %s\nhead %s\n' "$want" "$(git -C "$TREE" rev-parse HEAD)" >"$state.tmp" &&
		mv "$state.tmp" "$state"
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
	local frags=("$PROJECT_DIR"/kconfig-fragments/vm.config
		     "$PROJECT_DIR/kconfig-fragments/base-$BASE.config")
	local stamp="$tree/.vmtest-config" want have="" f sym val merge=""

	[ "$DEBUG_CONFIG" -eq 1 ] && frags+=("$PROJECT_DIR"/kconfig-fragments/debug.config)
	want=$(cat "${frags[@]}" | sha256sum | cut -d' ' -f1)
	[ -f "$stamp" ] && have=$(cat "$stamp")
	if [ "$want" = "$have" ] && [ -f "$tree/.config" ]; then
		log "kernel config of $tree up to date"
		return 0
	fi
	mkdir -p "$tree/.vmtest"
	rm -f "$tree"/.vmtest/*.config
	cp "${frags[@]}" "$tree/.vmtest/"
	# In order: vm.config, then what differs per base, then -D's.
	for f in "${frags[@]}"; do
		merge+=" .vmtest/$(basename "$f")"
	done
	in_chroot_at "$tree" "$mnt" "make ARCH=x86_64 tinyconfig &&
		scripts/kconfig/merge_config.sh -m .config$merge &&
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

EACH_PATCH_HEAD=""
restore_each_patch_head()
{
	[ -n "$EACH_PATCH_HEAD" ] || return 0
	git -C "$TREE" checkout -q "$EACH_PATCH_HEAD" ||
		log "could not check out $EACH_PATCH_HEAD again in $TREE: do it by hand"
	EACH_PATCH_HEAD=""
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
	# Whatever ends the run (a failure, Ctrl-C), summary() puts HEAD back.
	EACH_PATCH_HEAD="$head"
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
	restore_each_patch_head
	[ "$failed" -eq 0 ] || die $E_BUILD "some patches add W=1 warnings (above); log: $logf"
}

# vmlinux.h for the selftests.  The test kernel's own BTF is too small
# (tinyconfig): ~800 progs use types from all over the kernel.  Debian's
# image of the base embeds the BTF of a full config of the same kernel
# version, which is what a distro user compiles against anyway.  Only the
# vmlinux is prepared here, and passed as VMLINUX_BTF: the selftests dump
# vmlinux.h from it with the bpftool they build from the tree.  The
# build root's bpftool (7.5) is too old for 7.3's BTF: it prints the
# "address_space(1)" type attributes that resolve_btfids puts on the arena
# kfuncs as btf_type_tag(), and libarena's own declarations of those kfuncs
# then conflict with vmlinux.h.
make_vmlinux_btf()
{
	local deb out work

	out=$(cached "$CACHE_DIR/vmlinux-btf" "$IMAGE_PKG" "$IMAGE_VERSION" .vmlinux)
	if [ -s "$out" ]; then
		VMLINUX_BTF_FILE="$out"
		return 0
	fi
	deb=$(fetch_deb "$IMAGE_PKG" "$IMAGE_VERSION" "$IMAGE_RE") || exit $?
	out="$CACHE_DIR/vmlinux-btf/$(basename "$deb" .deb).vmlinux"
	VMLINUX_BTF_FILE="$out"
	[ -s "$out" ] && return 0
	mkdir -p "$CACHE_DIR/vmlinux-btf"
	work=$(mktemp -d "$CACHE_DIR/vmlinux-btf/.work.XXXXXX")
	log "extracting the vmlinux of $(basename "$deb") for the selftests' vmlinux.h"
	dpkg-deb -x "$deb" "$work/x" >"$LOG_DIR/vmlinux-h.log" 2>&1 || {
		rm -rf "$work"
		build_failed "unpacking $(basename "$deb")" "$LOG_DIR/vmlinux-h.log"
	}
	mkdir -p "$TREE/.vmtest"
	find "$work/x" -name 'vmlinuz*' -type f | head -n 1 | xargs -r -I{} cp {} "$TREE/.vmtest/vmlinuz.distro"
	[ -s "$TREE/.vmtest/vmlinuz.distro" ] || {
		rm -rf "$work"
		die $E_DEPS "$(basename "$deb") has no vmlinuz"
	}
	in_chroot "scripts/extract-vmlinux .vmtest/vmlinuz.distro >.vmtest/vmlinux.distro &&
		bpftool btf dump file .vmtest/vmlinux.distro format raw >/dev/null" \
		>>"$LOG_DIR/vmlinux-h.log" 2>&1 || {
		rm -rf "$work"
		build_failed "extracting vmlinux from $(basename "$deb")" "$LOG_DIR/vmlinux-h.log"
	}
	mv "$TREE/.vmtest/vmlinux.distro" "$work/vmlinux" && mv "$work/vmlinux" "$out"
	rm -rf "$work" "$TREE/.vmtest/vmlinuz.distro"
}

# The Debian module whose split BTF vmlinux.h is dumped from (BTF_MODULE),
# decompressed, in VMLINUX_BTF_MODULE.
make_module_btf()
{
	local deb out ko

	VMLINUX_BTF_MODULE=""
	[ -n "$BTF_MODULE" ] || return 0
	out=$(cached "$CACHE_DIR/vmlinux-btf" "$MODULES_PKG" "$IMAGE_VERSION" ".$BTF_MODULE.ko")
	if [ -s "$out" ]; then
		VMLINUX_BTF_MODULE="$out"
		return 0
	fi
	deb=$(fetch_deb "$MODULES_PKG" "$IMAGE_VERSION" "$MODULES_RE") || exit $?
	out="$CACHE_DIR/vmlinux-btf/$(basename "$deb" .deb).$BTF_MODULE.ko"
	log "extracting $BTF_MODULE.ko of $(basename "$deb") for the selftests' vmlinux.h"
	ko=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | grep "/$BTF_MODULE\.ko" || true)
	ko=$(head -n 1 <<<"$ko")
	[ -n "$ko" ] || die $E_DEPS "$(basename "$deb") has no $BTF_MODULE.ko"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "$ko" >"$out.tmp" ||
		die $E_DEPS "cannot extract $ko from $(basename "$deb")"
	case "$ko" in
	*.xz) xz -dc "$out.tmp" >"$out.tmp2" && mv "$out.tmp2" "$out.tmp" ;;
	*.zst) zstd -qdc "$out.tmp" >"$out.tmp2" && mv "$out.tmp2" "$out.tmp" ;;
	esac || die $E_DEPS "cannot decompress $ko"
	mv "$out.tmp" "$out"
	VMLINUX_BTF_MODULE="$out"
}

build_selftests()
{
	local bpftool="$TREE_MNT/.vmtest/bpftool/bootstrap/bpftool" src=.vmtest/vmlinux.btf base="" vars

	mkdir -p "$TREE/.vmtest"
	cmp -s "$VMLINUX_BTF_FILE" "$TREE/.vmtest/vmlinux.btf" ||
		cp "$VMLINUX_BTF_FILE" "$TREE/.vmtest/vmlinux.btf"
	if [ -n "$VMLINUX_BTF_MODULE" ]; then
		cmp -s "$VMLINUX_BTF_MODULE" "$TREE/.vmtest/module.btf.ko" ||
			cp "$VMLINUX_BTF_MODULE" "$TREE/.vmtest/module.btf.ko"
		src=".vmtest/module.btf.ko"
		base="-B .vmtest/vmlinux.btf"
	fi
	# The selftests' module rules depend on VMLINUX_BTF (the base's BTF),
	# not on the kernel they are built for: after a kernel rebuilt with
	# another config (-D) they would keep modules that no longer load
	# (-ENOEXEC).  Modules older than vmlinux are built again.
	if [ -n "$(find "$TREE/$SELFTESTS_REL" -maxdepth 1 -name '*.ko' ! -newer "$TREE/vmlinux" 2>/dev/null)" ]; then
		log "vmlinux is newer than the selftests' modules: building them again"
		rm -f "$TREE/$SELFTESTS_REL"/*.ko "$TREE/$SELFTESTS_REL"/test_kmods/*.ko \
			"$TREE/$SELFTESTS_REL"/bpf_test_clones/*.ko
	fi
	log "make -C $SELFTESTS_REL test_progs bench (log: $LOG_DIR/build-selftests.log)"
	# vmlinux.h from the bpftool the selftests build, which knows this
	# base's BTF (see make_vmlinux_btf).
	vars="VMLINUX_BTF=$TREE_MNT/.vmtest/vmlinux.btf VMLINUX_H=$TREE_MNT/.vmtest/vmlinux.h"
	vars+=" CLANG=clang-$CLANG_VER LLC=llc-$CLANG_VER LLVM_STRIP=llvm-strip-$CLANG_VER"
	vars+=" LLVM_OBJCOPY=llvm-objcopy-$CLANG_VER"
	in_chroot "mkdir -p .vmtest/bpftool &&
		make -s -C tools/bpf/bpftool -j$JOBS bootstrap OUTPUT=$TREE_MNT/.vmtest/bpftool/ &&
		$bpftool $base btf dump file $src format c >.vmtest/vmlinux.h.tmp &&
		{ cmp -s .vmtest/vmlinux.h.tmp .vmtest/vmlinux.h || mv .vmtest/vmlinux.h.tmp .vmtest/vmlinux.h; } &&
		make -C $SELFTESTS_REL -j$JOBS test_progs bench $vars" \
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

# /dev/kvm can exist and still fail: with nested virtualization QEMU may
# abort at the first vCPU reset (MSR 0x10a), or start and never run the
# guest.  So boot the kernel under test with KVM for a few seconds and
# require its first console line; the answer is kept for the run.
KVM_OK=""
kvm_usable()
{
	local probe="$LOG_DIR/kvm-probe.log"

	case "${VMTEST_ACCEL:-auto}" in
	tcg) return 1 ;;
	kvm) return 0 ;;
	esac
	[ -n "$KVM_OK" ] && { [ "$KVM_OK" = y ]; return; }
	KVM_OK=n
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	# (A subshell, so that an abort is not reported on the terminal.)
	(timeout -k 5 15 qemu-system-x86_64 -accel kvm -cpu host -m 256M \
		-nodefaults -display none -serial stdio -no-reboot \
		-kernel "$KERNEL_IMAGE" -append "console=ttyS0 panic=-1 init=/nonexistent" \
		</dev/null >"$probe" 2>&1) 2>/dev/null
	if ! grep -q -a 'Linux version' "$probe"; then
		log "/dev/kvm is there but a KVM guest printed nothing in 15 s ($(grep -a -m1 -i error "$probe" || echo 'no error from QEMU')); using TCG"
		return 1
	fi
	KVM_OK=y
	return 0
}

run_vm()
{
	local vm="$OUTPUT_DIR/vm" console="$LOG_DIR/console.log" accel accel_desc status
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
./test_progs -t $UPSTREAM_TESTS >/vmtest/upstream.log 2>&1
EOF
	elif [ ${#COMMAND[@]} -eq 0 ]; then
		cat >"$vm/cmd" <<EOF

set -o pipefail
./test_progs -t $DEFAULT_TESTS -d $DEFAULT_BENCHES 2>&1 | tee /vmtest/test.log
tests=\$?
./test_progs -v -t $DEFAULT_BENCHES 2>&1 | tee -a /vmtest/test.log
benches=\$?
for b in $BENCHES; do
	./bench -w1 -d3 \$b 2>&1 | tee -a /vmtest/test.log || benches=1
done
# 1,000 names above; 1 and 10,000 here (one 10,000-name link and its
# detach take seconds under TCG: a longer run).
for b in kprobe-clone-multi-plain kprobe-clone-multi-flag; do
	./bench -w1 -d3 --clone-syms 1 \$b 2>&1 | tee -a /vmtest/test.log || benches=1
	./bench -w1 -d20 --clone-syms 10000 \$b 2>&1 | tee -a /vmtest/test.log || benches=1
done
(cd ../ftrace && ./ftracetest -l /tmp/ftrace-logs $FTRACE_TESTS) >/vmtest/ftrace.log 2>&1
ftrace=\$?
./test_progs -t $UPSTREAM_TESTS >/vmtest/upstream.log 2>&1
[ \$tests -ne 0 ] && exit \$tests
[ \$benches -ne 0 ] && exit \$benches
exit \$ftrace
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
		accel_desc="KVM (-cpu host)"
		: "${TIMEOUT:=600}"
	else
		accel=(-accel tcg -cpu max)
		accel_desc="TCG (-cpu max)"
		: "${TIMEOUT:=1200}"
	fi
	q=(qemu-system-x86_64 "${accel[@]}" -smp "$VM_SMP" -m "$VM_MEMORY"
	   -nodefaults -display none -serial mon:stdio -no-reboot
	   -kernel "$KERNEL_IMAGE"
	   -append "console=ttyS0 earlyprintk=serial root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000 ro init=/usr/local/sbin/vmtest-init panic=-1 oops=panic softlockup_panic=0 nokaslr"
	   -fsdev "local,id=root9p,path=$ROOTFS,security_model=none,readonly=on,multidevs=remap"
	   -device virtio-9p-pci,fsdev=root9p,mount_tag=/dev/root
	   -fsdev "local,id=tree9p,path=$TREE,security_model=none,readonly=on,multidevs=remap"
	   -device virtio-9p-pci,fsdev=tree9p,mount_tag=linux
	   -fsdev "local,id=vm9p,path=$vm,security_model=none,multidevs=remap"
	   -device virtio-9p-pci,fsdev=vm9p,mount_tag=vmtest)

	log "booting $KERNEL_IMAGE under $accel_desc, $VM_SMP CPUs (timeout ${TIMEOUT}s, console: $console)"
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
		# QEMU that never started a guest: no kernel line in the console.
		if [ "$status" -ne 0 ] && ! grep -q -a -E '^\[ *[0-9]+\.[0-9]+\]|Linux version' "$console"; then
			tail -n 5 "$console" >&2
			die $E_QEMU "QEMU exited $status before the kernel printed anything; console: $console"
		fi
	fi
}

# The first line of each kind of kernel splat: what the kernel prints as the
# header of a report (BUG:, WARNING:, Oops, lockdep's WARNING: lines, the
# sanitizers, watchdogs, RCU stalls), right after the printk timestamp and
# the optional caller id.  Words inside other messages ("RCU lockdep
# checking is enabled", print_lockdep_cache.isra.0) are not splats.
splat_lines()
{
	grep -E -a '^\[ *[0-9]+\.[0-9]+\] (\[ *[CT][0-9]+\] )?(Kernel panic - |BUG: |WARNING: |Oops: |Oops[^a-z]|general protection fault|UBSAN: |KASAN: |KCSAN: |kmemleak: [0-9]+ new suspected|INFO: task .* blocked for more than|watchdog: BUG: soft lockup|Watchdog detected hard LOCKUP|rcu: INFO: rcu_[a-z]+ (self-)?detected stall|INFO: rcu_[a-z]+ (self-)?detected stall)' "$1"
}

# Kernel splats fail the run even when the tests passed.  Only kernel lines
# (with a printk timestamp) are matched, never test output.
check_console()
{
	local console="${1:-$LOG_DIR/console.log}" bad

	bad=$(splat_lines "$console" | head -n 5)
	if [ -n "$bad" ]; then
		echo "$bad" >&2
		die $E_PANIC "kernel splat in the guest's console (first lines above); console: $console"
	fi
}

# The summary of upstream's tests (UPSTREAM_TESTS), when they ran.
report_upstream()
{
	local f="$OUTPUT_DIR/vm/upstream.log" line

	[ -f "$f" ] || return 0
	cp "$f" "$LOG_DIR/upstream.log"
	line=$(grep -a -E '^Summary: ' "$f" | tail -n 1)
	echo "upstream tests ($UPSTREAM_TESTS) on the $1 kernel: ${line:-no summary} (log: $LOG_DIR/upstream.log)"
}

# The summary of the ftracetest run (FTRACE_TESTS), when it ran.
report_ftrace()
{
	local f="$OUTPUT_DIR/vm/ftrace.log" n

	[ -f "$f" ] || return 0
	cp "$f" "$LOG_DIR/ftrace.log"
	n=$(grep -a -E '^# of (passed|failed|unsupported): ' "$f" |
		sed -E 's/^# of ([a-z]+): +([0-9]+).*/\2 \1/' | paste -sd, - | sed 's/,/, /g')
	echo "ftracetest (${FTRACE_TESTS// /, }): ${n:-no summary} (log: $LOG_DIR/ftrace.log)"
	grep -a -E '\[(FAIL|UNRESOLVED|UNTESTED)\]' "$f" >&2 || true
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
	# "Summary: 3/21 PASSED, 0 SKIPPED, 1 FAILED" (6.12) or "..., 1/1 FAILED" (7.3)
	line=$(grep -a -E '^Summary: [0-9]+/[0-9]+ PASSED, [0-9]+ SKIPPED, [0-9]+(/[0-9]+)? FAILED' \
		"$vm/test.log" 2>/dev/null |
		sed -E 's|^Summary: ([0-9]+)/[0-9]+ PASSED, ([0-9]+) SKIPPED, ([0-9]+)(/[0-9]+)? FAILED.*|\1 \2 \3|' |
		awk '{ p += $1; s += $2; f += $3; n++ } END { if (n) print p, s, f }')
	if [ -n "$line" ]; then
		read -r pass skip fail <<<"$line"
		TEST_SUMMARY="tests: $pass passed, $fail failed, $skip skipped (log: $LOG_DIR/test.log)"
	else
		TEST_SUMMARY="command exited $status (no test_progs summary; log: $LOG_DIR/test.log)"
	fi
	check_console
	report_upstream series
	report_ftrace
	if [ -n "$line" ]; then
		echo "$pass passed, $fail failed, $skip skipped"
		if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
			[ "$status" -eq 0 ] && status=$E_TESTS
			echo "no test ran: the selection matched nothing" >&2
		fi
	fi
	if [ "$status" -ne 0 ]; then
		log "command in the guest exited $status"
		return $E_TESTS
	fi
	return 0
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
	report_upstream base
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

# The base of -k DIR: VERSION.PATCHLEVEL of its Makefile.
kernel_dir_base()
{
	awk -F' *= *' '$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		END { if (v != "" && p != "") print v "." p }' "$1/Makefile" 2>/dev/null
}

# Lock the cache: shared when everything this run needs from it is there
# (the build root, the base's packages, the vmlinux BTF), so that runs
# from several clones go on in parallel; exclusive while any of it is made
# or downloaded.  Sets what resolve_base_id sets.
lock_cache()
{
	local f="$CACHE_DIR/.vmtest-lock" ready=1

	take_lock "$f" 9 "the cache $CACHE_DIR" shared
	[ "$(cat "$ROOTFS/.vmtest-packages" 2>/dev/null)" = "$ROOTFS_PACKAGES $ROOTFS_BACKPORTS" ] || ready=0
	if [ -z "$KERNEL_DIR" ]; then
		[ -n "$(cached "$CACHE_DIR/debs" "$SOURCE_PKG" "$SOURCE_VERSION" .deb)" ] || ready=0
	fi
	[ -n "$(cached "$CACHE_DIR/vmlinux-btf" "$IMAGE_PKG" "$IMAGE_VERSION" .vmlinux)" ] || ready=0
	[ -z "$BTF_MODULE" ] ||
		[ -n "$(cached "$CACHE_DIR/vmlinux-btf" "$MODULES_PKG" "$IMAGE_VERSION" ".$BTF_MODULE.ko")" ] || ready=0
	if [ "$ready" -eq 0 ]; then
		flock -u 9
		take_lock "$f" 9 "the cache $CACHE_DIR"
	fi
	resolve_base_id
}

# The output directory is the harness's own: created by it, or empty when
# first used.  Anything else (-d ~) is refused, so nothing is deleted there.
claim_output_dir()
{
	local marker="$OUTPUT_DIR/.vmtest-output"

	if [ -d "$OUTPUT_DIR" ] && [ ! -f "$marker" ] &&
	   [ -n "$(ls -A "$OUTPUT_DIR" 2>/dev/null)" ]; then
		# A tree from before the marker existed is still ours.
		if ! git -C "$OUTPUT_DIR/linux" rev-parse -q --verify vmtest-base >/dev/null 2>&1; then
			die $E_USAGE "$OUTPUT_DIR is not empty and was not made by vmtest.sh (no .vmtest-output): pick an empty or new directory with -d"
		fi
	fi
	mkdir -p "$OUTPUT_DIR" || die $E_USAGE "cannot create $OUTPUT_DIR"
	echo "vmtest.sh output directory; everything here may be deleted by it" >"$marker"
}

main()
{
	local opt kbase

	if [ "${1:-}" = "--check-console" ] && [ $# -eq 2 ]; then
		# Internal, for scripts/vmtest-selftest.sh: the splat check alone.
		check_console "$2"
		exit 0
	fi
	if [ "${1:-}" = "--series-hash" ] && [ $# -eq 3 ]; then
		# Internal, for scripts/export-series.sh: --series-hash BASE
		# OUTPUT_DIR prints the series hash of the tree there.
		BASE="$2"
		base_setup
		BASE_ID=$(cat "$3/.vmtest-base-id" 2>/dev/null) ||
			die $E_USAGE "no .vmtest-base-id in $3"
		series_hash
		exit 0
	fi
	while getopts ':r:k:d:j:t:DfbBsh' opt; do
		case "$opt" in
		r) BASE="$OPTARG" ;;
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

	if [ -n "$KERNEL_DIR" ]; then
		kbase=$(kernel_dir_base "$KERNEL_DIR")
		[ -n "$kbase" ] || die $E_KDIR "-k $KERNEL_DIR is not a kernel tree (no VERSION/PATCHLEVEL in its Makefile)"
		if [ -n "$BASE" ] && [ "$BASE" != "$kbase" ]; then
			die $E_USAGE "-r $BASE, but -k $KERNEL_DIR is $kbase"
		fi
		case " $BASES " in
		*" $kbase "*) ;;
		*) die $E_KDIR "-k $KERNEL_DIR is Linux $kbase; there is a series for $BASES only" ;;
		esac
		BASE="$kbase"
		log "-k $KERNEL_DIR is Linux $kbase: using the $kbase series"
	fi
	: "${BASE:=$DEFAULT_BASE}"
	base_setup
	if [ "$SHELL_MODE" -eq 1 ] && [ ${#COMMAND[@]} -gt 0 ]; then
		usage >&2
		die $E_USAGE "-s starts a shell: no COMMAND with it (run it from the shell)"
	fi

	: "${OUTPUT_DIR:=$PROJECT_DIR/out/$BASE}"
	mkdir -p "$CACHE_DIR" || die $E_USAGE "cannot create $CACHE_DIR"
	claim_output_dir
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

	# One run at a time per output directory (its tree, build and guest);
	# the cache is locked while the build root or a download is made and
	# shared (read) while a guest uses the build root.
	take_lock "$OUTPUT_DIR/.vmtest-lock" 8 "the output directory $OUTPUT_DIR"

	step_begin "install dependencies"; install_host_deps; step_end
	# The build root comes from the network and the tree from disk: do both
	# at once.
	step_begin "build root + kernel tree"
	lock_cache
	# set -m: the background step gets a process group of its own, so that
	# stop_background() ends debootstrap too.
	set -m
	make_rootfs &
	BG_PIDS+=($!)
	set +m
	prepare_tree
	wait "${BG_PIDS[0]}" || exit $?
	BG_PIDS=()
	step_end
	step_begin "configure kernel"; configure_kernel; step_end
	if [ "$EACH_PATCH" -eq 1 ]; then
		flock -u 9
		step_begin "build each patch"; build_each_patch; step_end
		return
	fi
	step_begin "vmlinux BTF"; make_vmlinux_btf; make_module_btf; step_end
	# From here on the cache is only read: let other runs use it too, but
	# keep the build root from being replaced under this run.
	flock -s 9
	step_begin "build kernel"; build_kernel; step_end
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
