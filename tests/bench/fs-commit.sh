#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/fs-commit.sh: the speed of `cairn commit` on a large workspace,
# measured side by side with zstd on the same bytes, and the workspace
# daemon's memory with many small files.
#
# 1. 1 GiB of new data in a workspace mounted on `scratch` in a fresh store
#    (nothing to deduplicate against), made once, deterministically, in a
#    plain directory and copied in with cp -a before every run:
#      * the gcc fixture's /usr as it is (~350 MiB of real files: ELF
#        binaries and libraries, headers, text; hardlinks and symlinks too)
#      * half of the rest: seeded PRNG bytes (incompressible), files of
#        log-uniform sizes between 4 KiB and 16 MiB
#      * the other half: "source-like" text, lines of the fixture's headers
#        drawn by the same PRNG (compressible ~4x, but no two files and no
#        two chunks alike)
#    Timed: `cairn commit DIR NAME` (the kernel's dirty pages are flushed
#    before, with syncfs; the host's too), against
#    `tar -cf - . | zstd -3 -T2 >/dev/null` of the same directory, alternating,
#    CAIRN_BENCH_RUNS (default 3) runs each, medians.  TAP test (the issue's
#    bar): commit/zstd <= 1.5.
# 2. 100,000 small files (0-4 KiB, seeded PRNG content, 100 directories)
#    created in a workspace of the gcc fixture's image, then committed.  TAP
#    test: the daemon's peak RSS (VmHWM from /proc/PID/status) <= 100 MiB.
#    The same files made in a plain directory are timed for context.
# CAIRN_BENCH_PROFILE=1 (or strace, all: see lib-fs.sh) adds, after the
# measurements, a profiled 1 GiB commit, and a profiled creation and commit of
# 10,000 small files.  CAIRN_BENCH_SMALL_FILES, CAIRN_BENCH_SEED change the
# workload (defaults 100000, 20261123).
#
#   bash tests/bench/fs-commit.sh     (CAIRN=path/to/cairn, default build/)
#   meson test -C build --suite bench -v

source "$(dirname "$0")/lib-fs.sh"
fs_bench_init
ROOTFS=$(fixture_gcc_rootfs) || bail_out "could not build the gcc rootfs fixture (debootstrap)"
LIMIT=1.5
RSS_LIMIT_MIB=100
TOTAL=$((1 << 30))
SMALL=${CAIRN_BENCH_SMALL_FILES:-100000}
SEED=${CAIRN_BENCH_SEED:-20261123}

diag "cairn: $CAIRN; $(nproc) CPUs; $RUNS runs, medians"

# ---- the 1 GiB data set ------------------------------------------------------------
extract_ref "$ROOTFS" "$W/src"
DATA=$W/data
mkdir -p "$DATA"
cp -a "$W/src/usr" "$DATA/usr"
python3 - "$DATA" "$W/src/usr/include" "$TOTAL" "$SEED" <<'PY' >"$W/mix.txt"
import math, os, random, sys
out, inc, total, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
used = 0
for root, dirs, files in os.walk(out):
    for f in files:
        p = os.path.join(root, f)
        if not os.path.islink(p):
            used += os.lstat(p).st_size
usr = used
lines = []
for root, dirs, files in sorted(os.walk(inc)):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(root, f)
        if f.endswith(".h") and not os.path.islink(p):
            with open(p, "rb") as fh:
                lines.extend(fh.read().splitlines(keepends=True))
rng = random.Random(seed)
rest = total - usr
budget = {"random": rest // 2, "text": rest - rest // 2}
made = {"random": 0, "text": 0}
n = 0
for kind in ("random", "text"):
    while made[kind] < budget[kind]:
        size = min(int(math.exp(rng.uniform(math.log(4096), math.log(16 << 20)))),
                   budget[kind] - made[kind])
        d = os.path.join(out, kind, "d%02d" % (n % 32))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%05d" % n), "wb") as fh:
            if kind == "random":
                fh.write(rng.randbytes(size))
            else:
                buf, have = [], 0
                while have < size:
                    chunk = rng.choices(lines, k=4096)
                    buf.extend(chunk)
                    have += sum(map(len, chunk))
                fh.write(b"".join(buf)[:size])
        made[kind] += size
        n += 1
print("%d MiB: /usr of the fixture %d MiB, PRNG bytes %d MiB, header lines %d MiB (%d generated files)"
      % (total >> 20, usr >> 20, made["random"] >> 20, made["text"] >> 20, n))
PY
ZBYTES=$(tar -C "$DATA" -cf - . | zstd -3 -T2 -q | wc -c)
diag "data set: $(cat "$W/mix.txt"); $(find "$DATA" | wc -l) entries; tar | zstd -3: $((ZBYTES >> 20)) MiB"

# commit_run N [profile]: a fresh store, scratch mounted, the data copied in; sets
# c_s (commit seconds), cp_s, hwm_kib (the daemon's peak RSS), store_kib.
commit_run() {
	local st=$W/store.$1 ws=$W/ws pid
	rm -rf "$st"
	fs_cairn_mount "$st" scratch "$ws"
	tm cp_s cp -a "$DATA/." "$ws/"
	sync -f "$ws"
	sync
	pid=$(fs_cairn_pid "$st" "$ws")
	[ "${2:-}" = profile ] && fs_profile_start "$pid" "$ws"
	tm c_s "$CAIRN" --root "$st" commit "$ws" bench:big
	COMMIT_SUMMARY=$(tail -n1 "$W/cmd.err")
	[ "${2:-}" = profile ] && fs_profile_stop "cairn commit of 1 GiB (traced: ${c_s}s)"
	hwm_kib=$(vm_kib "$pid" VmHWM)
	fs_umount "$ws"
	store_kib=$(du -sk "$st" | cut -f1)
	rm -rf "$st"
}

zstd_run() {
	sync
	tm z_s sh -c "tar -C '$DATA' -cf - . | zstd -3 -T2 -q >/dev/null"
}

cs=() zs=() hwms=()
for ((i = 1; i <= RUNS; i++)); do
	if ((i % 2)); then
		commit_run "$i"
		zstd_run
	else
		zstd_run
		commit_run "$i"
	fi
	cs+=("$c_s") zs+=("$z_s") hwms+=("$hwm_kib")
	diag "run $i: cairn commit ${c_s}s (cp -a into the workspace ${cp_s}s; daemon peak RSS $(mib "$hwm_kib") MiB; store $((store_kib >> 10)) MiB), tar | zstd -3 -T2 ${z_s}s"
done
diag "cairn commit: $COMMIT_SUMMARY"
CM=$(median "${cs[@]}")
ZM=$(median "${zs[@]}")
R=$(ratio "$CM" "$ZM")
fs_table "commit of 1 GiB of new data (median of $RUNS):" \
	"step|median s|ratio" "cairn commit|$CM|$R" "tar -c, zstd -3 -T2|$ZM|1.00"
echo "commit/zstd ratio: $R" | diag_stream
rc=0
le "$R" "$LIMIT" || rc=1
tap_ok "$rc" "commit of 1 GiB: cairn/zstd $R <= $LIMIT (${CM}s vs ${ZM}s)"
if [ "${CAIRN_BENCH_PROFILE:-0}" != 0 ]; then
	commit_run profile profile
fi
rm -rf "$DATA"

# ---- 100k small files ------------------------------------------------------------------
ST=$W/sstore WS=$W/ws-small
"$CAIRN" --root "$ST" import "$ROOTFS" bench:rootfs >/dev/null 2>"$W/import.err" || {
	diag_stream <"$W/import.err"
	bail_out "cairn import failed"
}
# make_small DIR N: N small files of seeded PRNG content in 100 directories
make_small() {
	python3 - "$1" "$2" "$SEED" <<'PY' || bail_out "creating $2 files in $1 failed"
import os, random, sys
out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
for d in range(100):
    os.makedirs(os.path.join(out, "d%02d" % d))
for i in range(n):
    with open(os.path.join(out, "d%02d" % (i % 100), "f%06d" % i), "wb") as f:
        f.write(rng.randbytes(rng.randrange(4096)))
PY
}
# the same files in a plain directory of the same filesystem, for context
t0=$EPOCHREALTIME
make_small "$W/small-plain" "$SMALL"
sync -f "$W"
tp=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
rm -rf "$W/small-plain"
fs_cairn_mount "$ST" bench:rootfs "$WS"
PID=$(fs_cairn_pid "$ST" "$WS")
H0=$(vm_kib "$PID" VmHWM)
t0=$EPOCHREALTIME
make_small "$WS/small" "$SMALL"
t1=$EPOCHREALTIME
H1=$(vm_kib "$PID" VmHWM)
sync -f "$WS"
tm sc "$CAIRN" --root "$ST" commit "$WS" bench:small
SUMMARY=$(tail -n1 "$W/cmd.err")
H2=$(vm_kib "$PID" VmHWM)
RSS2=$(vm_kib "$PID" VmRSS)
NF=$(find "$WS/small" -type f | wc -l)
H3=$(vm_kib "$PID" VmHWM)
fs_umount "$WS"
diag "$SMALL small files: created in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s (in a plain directory: ${tp}s), committed in ${sc}s ($SUMMARY); $NF files seen after the commit"
fs_table "workspace daemon memory (image: the gcc fixture, $(tar -tf "$ROOTFS" | wc -l) entries):" \
	"when|VmHWM MiB" "after mount|$(mib "$H0")" "after creating $SMALL files|$(mib "$H1")" \
	"after commit|$(mib "$H2") (VmRSS $(mib "$RSS2"))" "after a find of them|$(mib "$H3")"
echo "daemon peak RSS with $SMALL small files: $(mib "$H3") MiB" | diag_stream
rc=0
[ "$H3" -le $((RSS_LIMIT_MIB * 1024)) ] || rc=1
[ "$NF" -eq "$SMALL" ] || rc=1
tap_ok "$rc" "daemon peak RSS with $SMALL new files, committed: $(mib "$H3") MiB <= $RSS_LIMIT_MIB MiB"

if [ "${CAIRN_BENCH_PROFILE:-0}" != 0 ]; then
	fs_cairn_mount "$ST" bench:rootfs "$WS"
	PID=$(fs_cairn_pid "$ST" "$WS")
	fs_profile_start "$PID" "$WS"
	make_small "$WS/small" 10000
	fs_profile_stop "creating 10000 small files in a workspace"
	sync -f "$WS"
	fs_profile_start "$PID" "$WS"
	tm sc "$CAIRN" --root "$ST" commit "$WS" bench:small10k
	fs_profile_stop "committing them (traced: ${sc}s)"
	fs_umount "$WS"
fi
tap_done
