#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/fs/random.sh: randomized differential test of a workspace against a
# plain directory (tests/fs/fsrandom.py does the work; see its header).
#
# Every round imports a random base tree, mounts it, applies the same random
# operations to the mount and to the tree extracted on the host filesystem,
# compares every result and both trees (after each batch and each commit),
# then commits, saves, unpacks with umoci and remounts, and compares again.
# Rounds run cairn's default configuration (no writeback cache);
# CAIRN_RANDOM_WRITEBACK=alternate alternates it on and off (the opt-in
# CAIRN_FS_WRITEBACK=1 mode has known divergences: docs/FILESYSTEM.md).
#
# Environment: CAIRN_RANDOM_SEED (the main seed; by default from the clock,
# printed so that a failure can be replayed: the same seed, with CAIRN_ONLY
# selecting the round), CAIRN_RANDOM_ROUNDS (default 4), CAIRN_RANDOM_OPS
# (operations per round, default 800), CAIRN_RANDOM_BATCH (operations between
# full comparisons, default 100), CAIRN_RANDOM_MINIMIZE=1 (shrink a failing
# round's operations to a minimal replayable list), CAIRN_RANDOM_EXCLUDE and
# CAIRN_RANDOM_TOLERATE (fsrandom.py's --exclude and --tolerate: to look past
# a known bug), CAIRN_RANDOM_STATS=1 (each kind's results and time).
# CAIRN_KEEP_TMP=1 keeps WORK/ops.json, the operation log.

source "$(dirname "$0")/../integration/lib.sh"
it_init umoci
[ -e /dev/fuse ] || skip_all "no /dev/fuse"

SEED=${CAIRN_RANDOM_SEED:-$(($(date +%s%N) / 1000 % 1000000000))}
ROUNDS=${CAIRN_RANDOM_ROUNDS:-4}
OPS=${CAIRN_RANDOM_OPS:-800}
BATCH=${CAIRN_RANDOM_BATCH:-100}
FSRANDOM=$(cd "$(dirname "$0")" && pwd)/fsrandom.py
diag "seed $SEED ($ROUNDS rounds of $OPS operations; replay with CAIRN_RANDOM_SEED=$SEED)"

# round I WRITEBACK: one round in its own store and scratch directory.
t_round() {
	new_store
	local work
	work=$(scratch "round$1")
	local extra=()
	[ "${CAIRN_RANDOM_MINIMIZE:-0}" = 1 ] && extra+=(--minimize)
	[ -n "${CAIRN_RANDOM_EXCLUDE:-}" ] && extra+=(--exclude "$CAIRN_RANDOM_EXCLUDE")
	[ -n "${CAIRN_RANDOM_TOLERATE:-}" ] && extra+=(--tolerate "$CAIRN_RANDOM_TOLERATE")
	python3 "$FSRANDOM" --cairn "$CAIRN" --store "$STORE" --work "$work" \
		--seed "$SEED" --round "$1" --ops "$OPS" --batch "$BATCH" --writeback "$2" \
		"${extra[@]}"
	assert_fsck_clean
}

for ((i = 0; i < ROUNDS; i++)); do
	wb=0
	[ "${CAIRN_RANDOM_WRITEBACK:-off}" = alternate ] && wb=$(((i + 1) % 2))
	run_test "round $i: $OPS random operations, writeback cache $([ $wb = 1 ] && echo on || echo off)" \
		t_round "$i" "$wb"
done
tap_done
