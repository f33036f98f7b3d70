# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/lib-fs.sh: shared setup of the filesystem benchmarks
# (fs-compile.sh, fs-meta.sh, fs-commit.sh).
#
# Sourced after tests/integration/lib.sh's conventions (it sources it).  Gives:
#   * fs_bench_init [PKG...]: root check, installs missing Debian packages with
#     apt-get (like tools/install-deps.sh), it_init, $W (scratch), $RUNS, the
#     cleanup trap (every mount made through this file is undone on exit, on
#     failure and on ^C).
#   * fixture_gcc_rootfs: a Debian bookworm minbase root filesystem with gcc,
#     make, libc6-dev and dpkg-dev, and the Lua 5.4 sources (`apt-get source
#     lua5.4`, inside the chroot, from a deb-src line added for the occasion)
#     in /src/lua: a tarball built once into $CAIRN_FIXTURES, under a
#     lock and renamed into place, as fixture_rootfs does.  Upstream's tree
#     (the .orig tarball): Debian's patches build with libtool, which is not
#     installed.
#   * fs_setup SYSTEM... : the root filesystems under test, each a directory in
#     FS_ROOT[SYSTEM]:
#       plain    the tarball extracted into a directory
#       cairn    `cairn mount` of the image imported from the same tarball
#       overlay  kernel overlayfs, lower = the tarball extracted, upper and work
#                directories on the same filesystem
#       fuse-overlayfs  the same lower/upper layout served by fuse-overlayfs
#     and chroot_prepare/chroot_release (/proc, /dev bind mounts).
#   * timing (tm), statistics (median, ratio, le), the summary table, and
#     optional profiling of the cairn daemon after the measurements:
#     CAIRN_BENCH_PROFILE=1 (or perf): FUSE requests by opcode, with their
#     latency as the kernel sees it, from the tracepoints
#     fuse:fuse_request_send/end filtered on the mount's connection, and the
#     daemon's CPU profile (`perf record -p`); =strace: the daemon's syscalls
#     (`strace -c -f`, which slows every request down a lot); =all: both at
#     once.  Installs linux-perf and strace.

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FS_SYSTEMS_ALL=(plain cairn overlay fuse-overlayfs)
declare -A FS_ROOT=()
_fs_mounts=()     # mount points made here, in order (undone in reverse)
_fs_cairn_dirs=() # cairn workspaces mounted here
FS_STORE=

# ---- packages -------------------------------------------------------------------

# fs_need_pkgs PKG...: installs the Debian packages that are missing.
fs_need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "# installing missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null 2>&1 || true
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		bail_out "apt-get install ${missing[*]} failed"
}

# Packages every filesystem benchmark needs (the tools of lib.sh, the peers).
FS_BASE_PKGS=(python3 tar coreutils findutils util-linux time zstd debootstrap fuse3 fuse-overlayfs procps jq)

# fs_bench_init [PKG...]
fs_bench_init() {
	if [ "$(id -u)" -ne 0 ]; then
		skip_all "needs root (chroot, mounts, FUSE)"
	fi
	local extra=()
	[ "${CAIRN_BENCH_PROFILE:-0}" != 0 ] && extra=(linux-perf strace)
	fs_need_pkgs "${FS_BASE_PKGS[@]}" "${extra[@]}" "$@"
	it_init zstd fuse-overlayfs jq /usr/bin/time debootstrap chroot
	trap _fs_cleanup EXIT
	RUNS=${CAIRN_BENCH_RUNS:-3}
	W=$IT_TMP/bench
	mkdir -p "$W"
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
}

# ---- fixture --------------------------------------------------------------------

# fixture_gcc_rootfs: prints the path of the gcc + Lua sources root filesystem
# tarball, building it once (debootstrap and apt-get source, a few minutes).
fixture_gcc_rootfs() {
	local dir=$CAIRN_FIXTURES out
	out=$dir/bookworm-gcc-lua.tar
	if [ -s "$out" ]; then
		echo "$out"
		return 0
	fi
	mkdir -p "$dir"
	(
		flock 9
		if [ -s "$out" ]; then
			exit 0
		fi
		local old m tmp mirror=${CAIRN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
		_fixture_umount_under() {
			for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r); do
				umount -l "$m" 2>/dev/null || true
			done
		}
		# Leftovers of a killed build: unmount what was mounted there, remove.
		for old in "$dir"/.build-gcc.*; do
			[ -d "$old" ] || continue
			_fixture_umount_under "$old"
			rm -rf --one-file-system "$old"
		done
		tmp=$(mktemp -d "$dir/.build-gcc.XXXXXX")
		local r=$tmp/root log=$tmp/build.log
		_fixture_fail() {
			tail -n 40 "$log" >&2
			_fixture_umount_under "$tmp"
			rm -rf --one-file-system "$tmp"
			exit 1
		}
		echo "building $out (debootstrap bookworm with gcc, Lua sources)..." >&2
		debootstrap --variant=minbase --include=gcc,make,libc6-dev,dpkg-dev,xz-utils \
			bookworm "$r" "$mirror" >"$log" 2>&1 || _fixture_fail
		# The Lua sources, from Debian's archive, fetched inside the chroot.
		cp /etc/resolv.conf "$r/etc/resolv.conf"
		mount -t proc proc "$r/proc"
		cp "$r/etc/apt/sources.list" "$tmp/sources.list.orig"
		echo "deb-src $mirror bookworm main" >>"$r/etc/apt/sources.list"
		if ! chroot "$r" /bin/sh -ec '
			apt-get update -qq
			mkdir -p /src && cd /src
			apt-get source -qq --download-only lua5.4
			tar -xf lua5.4_*.orig.tar.*
			rm -f ./*.dsc ./*.tar.* && mv lua-5.4*/ lua
		' >>"$log" 2>&1; then
			_fixture_fail
		fi
		umount "$r/proc"
		# Back to the pristine apt state (no deb-src, no source indexes).
		cp "$tmp/sources.list.orig" "$r/etc/apt/sources.list"
		rm -f "$r"/var/lib/apt/lists/*Sources* "$r/etc/resolv.conf"
		chroot "$r" apt-get clean >>"$log" 2>&1 || true
		tar --numeric-owner --xattrs --xattrs-include='*' --acls \
			-C "$r" -cpf "$tmp/rootfs.tar" .
		sync -f "$tmp/rootfs.tar" 2>/dev/null || true
		mv -f "$tmp/rootfs.tar" "$out"
		rm -rf --one-file-system "$tmp"
	) 9>"$dir/.lock-gcc"
	[ -s "$out" ] || return 1
	echo "$out"
}

# ---- mounts ---------------------------------------------------------------------

# Every mount made here is recorded as "KIND|STORE|DIR" and undone in reverse
# order by fs_umount_all (and by the exit trap).
_fs_push_mount() { _fs_mounts+=("$1|$2|$3"); }

_fs_undo_mount() { # KIND STORE DIR
	local kind=$1 store=$2 dir=$3 pid
	case $kind in
	cairn)
		pid=$(fs_cairn_pid "$store" "$dir" 2>/dev/null || true)
		if ! "$CAIRN" --root "$store" umount "$dir" >/dev/null 2>&1 &&
			! "$CAIRN" --root "$store" umount --force "$dir" >/dev/null 2>&1; then
			umount -l "$dir" 2>/dev/null || true
			if [ -n "$pid" ]; then
				kill -9 "$pid" 2>/dev/null || true
			fi
		fi
		;;
	*)
		umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
		;;
	esac
}

# fs_umount DIR: undoes the recorded mounts on DIR and below it.
fs_umount() {
	local i k s d
	for ((i = ${#_fs_mounts[@]} - 1; i >= 0; i--)); do
		IFS='|' read -r k s d <<<"${_fs_mounts[i]}"
		if [ "$d" = "$1" ] || [[ $d == "$1"/* ]]; then
			_fs_undo_mount "$k" "$s" "$d"
			unset '_fs_mounts[i]'
		fi
	done
	_fs_mounts=("${_fs_mounts[@]}")
}

fs_umount_all() {
	local i k s d
	for ((i = ${#_fs_mounts[@]} - 1; i >= 0; i--)); do
		IFS='|' read -r k s d <<<"${_fs_mounts[i]}"
		_fs_undo_mount "$k" "$s" "$d"
	done
	_fs_mounts=()
}

_fs_cleanup() {
	set +e
	# stop a profiler that is still running (by pid)
	local p
	for p in "${_fs_prof_pids[@]}"; do
		kill -INT "$p" 2>/dev/null
	done
	fs_umount_all
	_it_cleanup
}

# fs_cairn_pid STORE DIR: the workspace daemon's pid (from `cairn mounts --json`).
fs_cairn_pid() {
	local abs
	abs=$(realpath "$2")
	"$CAIRN" --root "$1" mounts --json | jq -er --arg d "$abs" '.[] | select(.dir == $d) | .pid'
}

# fs_cairn_mount STORE IMAGE DIR
fs_cairn_mount() {
	mkdir -p "$3"
	"$CAIRN" --root "$1" mount "$2" "$3" >/dev/null 2>"$W/mount.err" || {
		diag_stream <"$W/mount.err"
		bail_out "cairn mount $2 $3 failed"
	}
	_fs_push_mount cairn "$1" "$3"
}

# chroot_prepare ROOT: /proc and /dev inside ROOT (recorded mounts).
chroot_prepare() {
	mount -t proc proc "$1/proc"
	_fs_push_mount bind - "$1/proc"
	mount --bind /dev "$1/dev"
	_fs_push_mount bind - "$1/dev"
}

# chroot_release ROOT
chroot_release() {
	fs_umount "$1/proc"
	fs_umount "$1/dev"
}

# fs_setup TAR SYSTEM...: prepares and mounts the systems (see the top), each
# with /proc and /dev inside; FS_ROOT[SYSTEM] is the root directory.  The
# plain tree and the overlay lower are extracted once, the image imported
# once (into $W/store, image bench:rootfs).
fs_setup() {
	local tar=$1 sys
	shift
	for sys in "$@"; do
		case $sys in
		plain)
			[ -d "$W/plain" ] || extract_ref "$tar" "$W/plain"
			;;
		cairn)
			FS_STORE=$W/store
			if [ ! -d "$FS_STORE" ]; then
				"$CAIRN" --root "$FS_STORE" import "$tar" bench:rootfs >/dev/null 2>"$W/import.err" || {
					diag_stream <"$W/import.err"
					bail_out "cairn import failed"
				}
			fi
			;;
		overlay | fuse-overlayfs)
			[ -d "$W/lower" ] || extract_ref "$tar" "$W/lower"
			;;
		*) bail_out "unknown system $sys" ;;
		esac
		fs_mount "$sys"
	done
}

# fs_mount SYSTEM: (re)mounts SYSTEM fresh: an empty upper layer, every cache
# of the filesystem itself cold (the page cache of the files below stays).
fs_mount() {
	local sys=$1 m
	case $sys in
	plain)
		m=$W/plain
		;;
	cairn)
		m=$W/mnt-cairn
		fs_cairn_mount "$FS_STORE" bench:rootfs "$m"
		;;
	overlay)
		m=$W/mnt-ovl
		rm -rf "$W/ovl-upper" "$W/ovl-work"
		mkdir -p "$m" "$W/ovl-upper" "$W/ovl-work"
		mount -t overlay overlay -o "lowerdir=$W/lower,upperdir=$W/ovl-upper,workdir=$W/ovl-work" "$m" ||
			bail_out "mount -t overlay failed"
		_fs_push_mount overlay - "$m"
		;;
	fuse-overlayfs)
		m=$W/mnt-fovl
		rm -rf "$W/fovl-upper" "$W/fovl-work"
		mkdir -p "$m" "$W/fovl-upper" "$W/fovl-work"
		fuse-overlayfs -o "lowerdir=$W/lower,upperdir=$W/fovl-upper,workdir=$W/fovl-work" "$m" \
			>"$W/fovl.log" 2>&1 || {
			diag_stream <"$W/fovl.log"
			bail_out "fuse-overlayfs failed"
		}
		_fs_push_mount fuse-overlayfs - "$m"
		;;
	esac
	FS_ROOT[$sys]=$m
	chroot_prepare "$m"
}

# fs_remount SYSTEM: unmounts (with its chroot mounts) and mounts again fresh.
fs_remount() {
	local m=${FS_ROOT[$1]}
	chroot_release "$m"
	[ "$1" = plain ] || fs_umount "$m"
	fs_mount "$1"
}

# fs_order RUN SYSTEM...: the systems rotated by RUN (1-based), so that each
# goes first in turn and load from the rest of the machine spreads evenly.
fs_order() {
	local r=$1 n i
	shift
	n=$#
	local a=("$@")
	for ((i = 0; i < n; i++)); do
		printf '%s ' "${a[(i + r - 1) % n]}"
	done
}

# ---- timing and statistics ------------------------------------------------------

# tm VAR CMD...: runs CMD (stdout to /dev/null), sets VAR to the wall time in
# seconds; a failing CMD ends the benchmark (its stderr shown).
tm() {
	local __v=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>"$W/cmd.err" || {
		diag "command failed: $*"
		tail -n 30 "$W/cmd.err" | diag_stream
		bail_out "command failed: $*"
	}
	t1=$EPOCHREALTIME
	printf -v "$__v" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}

median() { printf '%s\n' "$@" | LC_ALL=C sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
# le A B: A <= B (decimal numbers)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
sum() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.2f", s}'; }

# fs_table TITLE HEADER ROW...: a table as TAP diagnostics (rows are
# "|"-separated cells, the first column left-aligned).
fs_table() {
	local title=$1
	shift
	diag "" "$title"
	printf '%s\n' "$@" | awk -F'|' '
		{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > nf) nf = NF }
		END { for (r = 1; r <= NR; r++) { l = ""; for (i = 1; i <= nf; i++) l = l sprintf(i == 1 ? "%-*s" : "  %*s", w[i], c[r, i]); print l } }' |
		diag_stream
}

# vm_kib PID FIELD: a /proc/PID/status field (VmHWM, VmRSS) in KiB.
vm_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib() { echo $(($1 / 1024)); }

# ---- profiling (CAIRN_BENCH_PROFILE=1) ------------------------------------------

_fs_prof_pids=()

# fs_profile_start DAEMON_PID MOUNTDIR: records the FUSE requests of that
# mount (perf, tracepoints fuse:fuse_request_send/end filtered on its
# connection) and the daemon's syscalls (strace -c -f) until fs_profile_stop.
fs_profile_start() {
	local pid=$1 dir=$2 conn
	_fs_prof_dir=$W/profile.$BASHPID.$RANDOM
	mkdir -p "$_fs_prof_dir"
	_fs_prof_pids=()
	# the connection is the superblock's dev_t, kernel encoding
	conn=$(( ($(stat -c %Hd "$dir") << 20) | $(stat -c %Ld "$dir") ))
	local mode=${CAIRN_BENCH_PROFILE:-1}
	if [ "$mode" != strace ] && command -v perf >/dev/null; then
		if [ ! -d /sys/kernel/tracing/events ] && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
			_fs_push_mount tracefs - /sys/kernel/tracing # undone at exit
		fi
		perf record -q -a -o "$_fs_prof_dir/perf.data" \
			-e fuse:fuse_request_send --filter "connection == $conn" \
			-e fuse:fuse_request_end --filter "connection == $conn" \
			>"$_fs_prof_dir/perf.log" 2>&1 &
		_fs_prof_pids+=($!)
	fi
	if [ "$mode" != strace ] && command -v perf >/dev/null; then
		perf record -q -F 499 -p "$pid" -o "$_fs_prof_dir/cpu.data" >"$_fs_prof_dir/cpu.log" 2>&1 &
		_fs_prof_pids+=($!)
	fi
	if { [ "$mode" = strace ] || [ "$mode" = all ]; } && command -v strace >/dev/null; then
		strace -c -f -p "$pid" -o "$_fs_prof_dir/strace.txt" >"$_fs_prof_dir/strace.log" 2>&1 &
		_fs_prof_pids+=($!)
	fi
	sleep 1 # let them attach
}

# fs_profile_stop TITLE: stops the profilers and prints their summaries.
fs_profile_stop() {
	local p
	for p in "${_fs_prof_pids[@]}"; do
		kill -INT "$p" 2>/dev/null || true
	done
	for p in "${_fs_prof_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	_fs_prof_pids=()
	diag "" "profile: $1"
	if [ -s "$_fs_prof_dir/perf.data" ]; then
		perf script -i "$_fs_prof_dir/perf.data" -F time,event,trace 2>/dev/null |
			python3 -c '
import re, sys
send, cnt, lat = {}, {}, {}
for l in sys.stdin:
    m = re.match(r"\s*([\d.]+):\s+fuse:(fuse_request_\w+):\s+connection \d+ req (\d+)(?: opcode \d+ \((\w+)\))?", l)
    if not m:
        continue
    t, ev, req, op = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    if ev == "fuse_request_send":
        cnt[op] = cnt.get(op, 0) + 1
        send[req] = (t, op)
    elif req in send:
        t0, op = send.pop(req)
        lat[op] = lat.get(op, 0.0) + (t - t0)
tot = sum(cnt.values())
print("FUSE requests: %d" % tot)
print("%-22s %9s %6s %10s %9s" % ("opcode", "count", "%", "total s", "mean us"))
for op, n in sorted(cnt.items(), key=lambda kv: -kv[1])[:12]:
    s = lat.get(op, 0.0)
    print("%-22s %9d %5.1f%% %10.3f %9.1f" % (op, n, 100.0 * n / tot, s, 1e6 * s / n))
' | diag_stream
	else
		[ -e "$_fs_prof_dir/perf.log" ] && diag "(no FUSE trace: $(tail -n1 "$_fs_prof_dir/perf.log" 2>/dev/null))"
	fi
	if [ -s "$_fs_prof_dir/cpu.data" ]; then
		# (in a VM without a PMU the kernel's share lands on the places that
		# re-enable interrupts: finish_task_switch, *_unlock_irqrestore)
		diag "daemon CPU (perf record -p, self time) by object:"
		{ perf report -i "$_fs_prof_dir/cpu.data" --stdio --no-children --sort dso 2>/dev/null |
			grep -E '^ +[0-9.]+%' | sed -n '1,6p' | diag_stream; } || true
		diag "top user-space symbols:"
		{ perf report -i "$_fs_prof_dir/cpu.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
			grep -E '^ +[0-9.]+%' | grep -v '\[k\]' | sed -n '1,12p' |
			sed 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' | diag_stream; } || true
	fi
	if [ -s "$_fs_prof_dir/strace.txt" ]; then
		diag "daemon syscalls (strace -c -f, top 10 by time; read = waiting on /dev/fuse):"
		sed -n '1,12p' "$_fs_prof_dir/strace.txt" | diag_stream
	fi
}
