#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/import.sh: import/export speed and memory of cairn, measured
# side by side with the standard tools on the same input in the same run.
#
# Workload: the Debian bookworm minbase root filesystem tarball (debootstrap,
# the integration tests' fixture, ~200 MiB, ~6800 entries), page cache warm.
#   import   `cairn import TAR` into a fresh store, vs `zstd -3 -T2 -c TAR`
#            (the issue's bar: at most 1.5x zstd's time, peak RSS <= 200 MiB)
#   save     `cairn save --format oci-dir` (gzip, first save of the image) vs
#            `gzip -6 -c TAR`; and `--compression zstd` vs `zstd -3 -T2`
#   load     `cairn load -i` of that OCI layout into a fresh store
# Each is run CAIRN_BENCH_RUNS times (default 3), alternating with its
# reference; medians are reported.  Peak RSS comes from /usr/bin/time %M.
# Output is TAP: the two limits of the issue are tests, the rest diagnostics.
#
#   bash tests/bench/import.sh            (CAIRN=path/to/cairn, default build/)
#   meson test -C build --suite bench -v

source "$(dirname "$0")/../integration/lib.sh"
it_init zstd gzip /usr/bin/time
ROOTFS=$(fixture_rootfs) || bail_out "could not build the rootfs fixture (debootstrap)"
RUNS=${CAIRN_BENCH_RUNS:-3}
W=$IT_TMP/bench
mkdir -p "$W"

# timed OUTVAR_PREFIX CMD...: runs CMD (stdout to /dev/null unless redirected
# by the caller's CMD), sets ${prefix}_s (wall seconds) and ${prefix}_kib
# (peak RSS); fails on a non-zero exit.
timed() {
	local p=$1 t0 t1 rss
	shift
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$W/time.out" "$@" >/dev/null 2>"$W/cmd.err" || {
		cat "$W/cmd.err" >&2
		fail "command failed: $*"
	}
	t1=$(date +%s.%N)
	rss=$(tail -n1 "$W/time.out")
	printf -v "${p}_s" '%s' "$(python3 -c "print('%.3f' % ($t1 - $t0))")"
	printf -v "${p}_kib" '%s' "$rss"
}

median() { printf '%s\n' "$@" | LC_ALL=C sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
mib() { echo $(($1 / 1024)); }


cat "$ROOTFS" >/dev/null # warm the page cache
TAR_BYTES=$(stat -c %s "$ROOTFS")
TAR_ENTRIES=$(tar -tf "$ROOTFS" | wc -l)
diag "workload: $ROOTFS, $((TAR_BYTES >> 20)) MiB, $TAR_ENTRIES entries; $(nproc) CPUs; $RUNS runs, medians"
diag "cairn: $CAIRN"

imp=() zs=() rss=() stores=()
for ((i = 1; i <= RUNS; i++)); do
	timed z zstd -3 -T2 -q -c "$ROOTFS"
	zs+=("$z_s")
	rm -rf "$W/store"
	timed c "$CAIRN" --root "$W/store" import "$ROOTFS" bench:rootfs
	imp+=("$c_s")
	rss+=("$c_kib")
	stores+=("$(du -sk "$W/store" | cut -f1)")
	diag "run $i: cairn import ${c_s}s (peak RSS $(mib "$c_kib") MiB), zstd -3 -T2 ${z_s}s"
done
IMP=$(median "${imp[@]}")
ZS=$(median "${zs[@]}")
RSS=$(median "${rss[@]}")
MAXRSS=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n1)
R=$(ratio "$IMP" "$ZS")
diag "cairn import: ${IMP}s median; zstd -3 -T2: ${ZS}s median"
diag "store after import: $(($(median "${stores[@]}") / 1024)) MiB on disk for a $((TAR_BYTES >> 20)) MiB tar"
echo "import/zstd ratio: $R" | diag_stream
echo "peak RSS: $(mib "$MAXRSS") MiB" | diag_stream

rc=0
python3 -c "import sys; sys.exit(0 if $R <= 1.5 else 1)" || rc=1
tap_ok "$rc" "import/zstd time ratio $R <= 1.5"
rc=0
[ "$MAXRSS" -le $((200 * 1024)) ] || rc=1
tap_ok "$rc" "import peak RSS $(mib "$MAXRSS") MiB <= 200 MiB"

# ---- save and load (informational) -------------------------------------------
# The store from the last import run holds the image.
sv=() gz=() svz=() zs2=() ld=() svrss=() ldrss=()
for ((i = 1; i <= RUNS; i++)); do
	# a fresh copy of the store so every save is a "first save" (no cached
	# compressed digests from an earlier run)
	rm -rf "$W/s2" "$W/out" "$W/outz"
	cp -a "$W/store" "$W/s2"
	timed g gzip -6 -c "$ROOTFS"
	gz+=("$g_s")
	timed s "$CAIRN" --root "$W/s2" save bench:rootfs --format oci-dir -o "$W/out"
	sv+=("$s_s")
	svrss+=("$s_kib")
	timed z zstd -3 -T2 -q -c "$ROOTFS"
	zs2+=("$z_s")
	timed sz "$CAIRN" --root "$W/s2" save bench:rootfs --format oci-dir --compression zstd -o "$W/outz"
	svz+=("$sz_s")
	rm -rf "$W/s3"
	timed l "$CAIRN" --root "$W/s3" load -i "$W/out"
	ld+=("$l_s")
	ldrss+=("$l_kib")
	diag "run $i: save gzip ${s_s}s vs gzip -6 ${g_s}s; save zstd ${sz_s}s vs zstd -3 -T2 ${z_s}s; load ${l_s}s"
done
SV=$(median "${sv[@]}")
GZ=$(median "${gz[@]}")
SVZ=$(median "${svz[@]}")
ZS2=$(median "${zs2[@]}")
LD=$(median "${ld[@]}")
echo "save(gzip)/gzip -6 ratio: $(ratio "$SV" "$GZ") (${SV}s vs ${GZ}s), peak RSS $(mib "$(median "${svrss[@]}")") MiB" | diag_stream
echo "save(zstd)/zstd -3 -T2 ratio: $(ratio "$SVZ" "$ZS2") (${SVZ}s vs ${ZS2}s)" | diag_stream
echo "load of the OCI layout: ${LD}s, peak RSS $(mib "$(median "${ldrss[@]}")") MiB" | diag_stream
tap_done
