#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/fs-compile.sh: a compile inside a cairn workspace, measured side
# by side with a plain directory, kernel overlayfs and fuse-overlayfs holding
# the same root filesystem, in the same run.
#
# Workload: the gcc fixture (Debian bookworm minbase + gcc, make, libc6-dev,
# dpkg-dev, with Lua 5.4's upstream sources from `apt-get source lua5.4` in
# /src/lua), chrooted into (/proc and /dev bind-mounted):
#     cd /src/lua && make -j2 linux        (liblua.a, lua, luac: ~35 units)
# and `make clean` (not timed) after every build.  Each system first builds
# once untimed (reported as "first": cairn fills its content cache from the
# store then, the sources and the compiler are read for the first time), then
# CAIRN_BENCH_RUNS (default 3) timed builds each, the systems' order rotating
# from run to run; the medians are compared with the plain directory's (the
# builds' CPU time, user + system, is shown too: on a loaded machine it tells
# the filesystem's cost from the noise).
# TAP test (the issue's bar): cairn/plain <= 1.05; overlayfs and
# fuse-overlayfs are reported for context.  CAIRN_BENCH_PROFILE=1 (or
# strace, all: see lib-fs.sh) adds one profiled build of cairn (FUSE requests
# by opcode, the daemon's CPU profile or syscalls).
#
#   bash tests/bench/fs-compile.sh    (CAIRN=path/to/cairn, default build/)
#   meson test -C build --suite bench -v

source "$(dirname "$0")/lib-fs.sh"
fs_bench_init
ROOTFS=$(fixture_gcc_rootfs) || bail_out "could not build the gcc rootfs fixture (debootstrap)"
LIMIT=1.05
SYS=("${FS_SYSTEMS_ALL[@]}")
BUILD='cd /src/lua && make -j2 linux'
CLEAN='cd /src/lua && make clean'

# build SYSTEM VAR: one timed build (then an untimed clean); CPU_S is the
# build's user + system CPU seconds
build() {
	tm "$2" /usr/bin/time -f '%U %S' -o "$W/cpu.out" chroot "${FS_ROOT[$1]}" /bin/sh -c "$BUILD"
	CPU_S=$(awk 'END { printf "%.2f", $1 + $2 }' "$W/cpu.out")
	chroot "${FS_ROOT[$1]}" /bin/sh -c "$CLEAN" >/dev/null 2>&1 || bail_out "make clean failed on $1"
}

cat "$ROOTFS" >/dev/null # warm the page cache
diag "workload: $ROOTFS, $(($(stat -c %s "$ROOTFS") >> 20)) MiB; '$BUILD'; $(nproc) CPUs; $RUNS runs, medians"
diag "cairn: $CAIRN"
fs_setup "$ROOTFS" "${SYS[@]}"

declare -A FIRST=() T=() CPU=()
for s in $(fs_order 1 "${SYS[@]}"); do
	tm t chroot "${FS_ROOT[$s]}" /bin/sh -c "$BUILD"
	FIRST[$s]=$t
	v=$(chroot "${FS_ROOT[$s]}" /src/lua/src/lua -e 'print(_VERSION)' 2>&1) || bail_out "the built lua does not run on $s: $v"
	chroot "${FS_ROOT[$s]}" /bin/sh -c "$CLEAN" >/dev/null 2>&1 || bail_out "make clean failed on $s"
	diag "first build $s: ${t}s ($v)"
done
for ((i = 1; i <= RUNS; i++)); do
	line=
	for s in $(fs_order "$i" "${SYS[@]}"); do
		build "$s" t
		T[$s]+="$t "
		CPU[$s]+="$CPU_S "
		line+=" $s ${t}s (cpu ${CPU_S}s)"
	done
	diag "run $i:$line"
done

declare -A M=()
rows=("system|first s|runs s|median s|ratio|cpu s")
for s in "${SYS[@]}"; do
	# shellcheck disable=SC2086
	M[$s]=$(median ${T[$s]})
done
for s in "${SYS[@]}"; do
	# shellcheck disable=SC2086
	rows+=("$s|${FIRST[$s]}|${T[$s]% }|${M[$s]}|$(ratio "${M[$s]}" "${M[plain]}")|$(median ${CPU[$s]})")
done
fs_table "make -j2 linux of Lua 5.4 (median of $RUNS):" "${rows[@]}"

R=$(ratio "${M[cairn]}" "${M[plain]}")
echo "compile cairn/plain ratio: $R (overlay $(ratio "${M[overlay]}" "${M[plain]}"), fuse-overlayfs $(ratio "${M[fuse-overlayfs]}" "${M[plain]}"))" | diag_stream
rc=0
le "$R" "$LIMIT" || rc=1
tap_ok "$rc" "compile: cairn/plain $R <= $LIMIT (${M[cairn]}s vs ${M[plain]}s)"

# ---- profile (optional) -------------------------------------------------------------
if [ "${CAIRN_BENCH_PROFILE:-0}" != 0 ]; then
	pid=$(fs_cairn_pid "$FS_STORE" "${FS_ROOT[cairn]}")
	fs_profile_start "$pid" "${FS_ROOT[cairn]}"
	build cairn t
	fs_profile_stop "cairn, one warm build (traced: ${t}s)"
fi
tap_done
