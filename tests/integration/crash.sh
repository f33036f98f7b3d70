#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/crash.sh: crash safety and concurrent writers.
#
# * kill -9 during `cairn import` of the rootfs tarball, at several points
#   (as soon as the store's files grow, and later), and once while the
#   import is guaranteed to be mid-stream (fed through a pipe that stalls
#   after 100 MiB): afterwards `cairn fsck` exits 0, the image does not
#   exist (images, inspect), the same import then succeeds, and after
#   `cairn prune` the store holds exactly what a store with just that image
#   holds (the killed import's garbage is reclaimed).  Likewise for kill -9
#   during `cairn load` of an OCI layout.
# * two `cairn import`s running at the same time into one store both
#   succeed, both images are complete, fsck is clean.
# * an import running while `cairn prune` runs: both succeed, nothing the
#   new image needs is pruned; `cairn fsck` run while an import is stalled
#   mid-stream exits 0 (uncommitted chunks are not damage).

source "$(dirname "$0")/lib.sh"
it_init jq
ROOTFS=$(fixture_rootfs) || bail_out "could not build the rootfs fixture (debootstrap)"
W=$IT_TMP/w
mkdir -p "$W"
export W ROOTFS

# Allocated bytes of the store (not apparent: an LMDB file may be extended
# sparsely to its map size before anything is written).
store_size() { echo $(($(du -sk "$STORE" 2>/dev/null | cut -f1) * 1024)); }

DU_KEYS='{images, layers, blobs, contents, chunks}'

# How much a complete import of the rootfs grows a store (for kill points).
t_calibrate() {
	new_store
	"$CAIRN" --root "$STORE" images -q >/dev/null
	local base t0 t1
	base=$(store_size)
	t0=$(date +%s.%N)
	must cairn import "$ROOTFS" calib:x
	t1=$(date +%s.%N)
	echo $(($(store_size) - base)) >"$W/growth"
	must cairn du --json
	jq -c "$DU_KEYS" <<<"$RUN_OUT" >"$W/du.one-image"
	must cairn save calib:x --format oci-dir -o "$W/calib-oci"
	info "a full rootfs import grows the store by $(cat "$W/growth") bytes in $(python3 -c "print(round($t1 - $t0, 2))") s"
}

# After a crash: fsck clean, no image; with PRUNE_FIRST=1 `cairn prune`
# then reclaims every chunk the killed process wrote (the store is empty
# again); the import then succeeds, and after a prune the store holds
# exactly what a store with just this image holds.
after_crash() { # NAME PRUNE_FIRST
	run cairn fsck
	echo "fsck after kill -9: exit $RUN_RC"
	echo "$RUN_OUT"
	echo "$RUN_ERR"
	[ "$RUN_RC" -eq 0 ] || fail "fsck after kill -9 exited $RUN_RC"
	must cairn images -q
	assert_eq "$RUN_OUT" "" "images after the killed import"
	must cairn images
	[[ $RUN_OUT != *crash* ]] || fail "the killed import's name is listed: $RUN_OUT"
	run cairn inspect "$1"
	[ "$RUN_RC" -ne 0 ] || fail "inspect finds the half-imported image"
	must cairn du --json
	info "after kill -9: $(jq -c "$DU_KEYS + {stored_bytes}" <<<"$RUN_OUT")"
	if [ "${2:-0}" = 1 ]; then
		must cairn prune
		info "prune after kill -9: $RUN_OUT"
		must cairn du --json
		assert_eq "$(jq -c "$DU_KEYS + {stored_bytes}" <<<"$RUN_OUT")" \
			'{"images":0,"layers":0,"blobs":0,"contents":0,"chunks":0,"stored_bytes":0}' \
			"store after prune of a killed import's leftovers"
		assert_fsck_clean
	fi
	must cairn import "$ROOTFS" "$1"
	inspect_ok "$1"
	assert_fsck_clean
	must cairn prune
	echo "prune: $RUN_OUT"
	assert_fsck_clean
	must cairn inspect "$1"
	must cairn du --json
	assert_eq "$(jq -c "$DU_KEYS" <<<"$RUN_OUT")" "$(cat "$W/du.one-image")" \
		"store contents after prune vs a store with just this image"
}

inspect_ok() { must cairn inspect "$1" --json; }

# kill -9 an import of the rootfs once the store grew by PERCENT of what a
# full import adds (at least 1 MiB).  With MAY_FINISH=1 an import that
# completed before the kill landed is accepted (it must then be complete).
t_kill_at() { # PERCENT MAY_FINISH PRUNE_FIRST
	new_store
	local base pid rc size grow
	grow=$(($(cat "$W/growth") * $1 / 100))
	[ "$grow" -ge $((1 << 20)) ] || grow=$((1 << 20))
	"$CAIRN" --root "$STORE" images -q >/dev/null # create the store
	base=$(store_size)
	"$CAIRN" --root "$STORE" import "$ROOTFS" crash:test >"$W/imp.out" 2>"$W/imp.err" &
	pid=$!
	track_pid "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		size=$(store_size)
		if [ "$size" -ge $((base + grow)) ]; then
			break
		fi
		sleep 0.005
	done
	kill -9 "$pid" 2>/dev/null || true
	set +e
	wait "$pid"
	rc=$?
	set -e
	if [ "$rc" -eq 0 ] && [ "${2:-0}" = 1 ]; then
		info "the import completed before the kill at $1% landed; checking it is whole"
		assert_fsck_clean
		must cairn inspect crash:test
		return 0
	fi
	if [ "$rc" -ne 137 ]; then
		fail "the import was not killed mid-way (exit $rc, store grew by $(($(store_size) - base)) of $grow bytes): $(cat "$W/imp.err")"
	fi
	info "killed import after the store grew by $(($(store_size) - base)) bytes (target $grow)"
	after_crash crash:test "${3:-0}"
}

# Guaranteed mid-import: the tar comes through a pipe that stalls.
t_kill_stalled() {
	new_store
	local pid feeder rc base
	"$CAIRN" --root "$STORE" images -q >/dev/null
	base=$(store_size)
	mkfifo "$W/fifo"
	"$CAIRN" --root "$STORE" import - crash:stalled <"$W/fifo" >"$W/imp.out" 2>"$W/imp.err" &
	pid=$!
	track_pid "$pid"
	(
		head -c $((100 << 20)) "$ROOTFS" || true
		exec sleep 600
	) >"$W/fifo" &
	feeder=$!
	track_pid "$feeder"
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(store_size)" -gt $((base + (8 << 20))) ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	kill -0 "$pid" 2>/dev/null || fail "the import exited on a stalled pipe: $(cat "$W/imp.err")"
	info "stalled import: store grew by $(($(store_size) - base)) bytes before kill -9"
	kill -9 "$pid"
	set +e
	wait "$pid"
	rc=$?
	set -e
	kill "$feeder" 2>/dev/null || true
	wait "$feeder" 2>/dev/null || true
	assert_eq "$rc" 137 "exit status of the killed import"
	after_crash crash:stalled 1
}

# kill -9 during `cairn load` of an OCI layout (the rootfs image).
t_kill_load() {
	new_store
	local base pid rc grow
	grow=$(($(cat "$W/growth") / 2))
	"$CAIRN" --root "$STORE" images -q >/dev/null
	base=$(store_size)
	"$CAIRN" --root "$STORE" load -i "$W/calib-oci" >"$W/load.out" 2>"$W/load.err" &
	pid=$!
	track_pid "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(store_size)" -ge $((base + grow)) ] && break
		sleep 0.005
	done
	kill -9 "$pid" 2>/dev/null || true
	set +e
	wait "$pid"
	rc=$?
	set -e
	[ "$rc" -eq 137 ] || fail "the load was not killed mid-way (exit $rc): $(cat "$W/load.err")"
	info "killed load after the store grew by $(($(store_size) - base)) bytes"
	run cairn fsck
	[ "$RUN_RC" -eq 0 ] || fail "fsck after kill -9 of load exited $RUN_RC: $RUN_OUT $RUN_ERR"
	must cairn images -q
	assert_eq "$RUN_OUT" "" "images after the killed load"
	must cairn load -i "$W/calib-oci"
	must cairn inspect calib:x
	assert_fsck_clean
	must cairn prune
	assert_fsck_clean
}

# An import stalled mid-stream (chunks written, nothing committed): fsck
# meanwhile exits 0 (uncommitted chunks are not damage), a prune started
# meanwhile must not take chunks the import still needs; once the input
# resumes, import and prune both succeed and the image is whole.
t_fsck_prune_during_import() {
	new_store
	local n=$((100 << 20)) pid feeder pp rc rp
	"$CAIRN" --root "$STORE" images -q >/dev/null
	mkfifo "$W/fifo2"
	"$CAIRN" --root "$STORE" import - live:one <"$W/fifo2" >"$W/live.out" 2>"$W/live.err" &
	pid=$!
	track_pid "$pid"
	(
		head -c "$n" "$ROOTFS"
		while [ ! -e "$W/go" ]; do sleep 0.1; done
		tail -c +$((n + 1)) "$ROOTFS"
	) >"$W/fifo2" &
	feeder=$!
	track_pid "$feeder"
	local i base
	base=$(store_size)
	for ((i = 0; i < 600; i++)); do
		[ "$(store_size)" -gt $((base + (8 << 20))) ] && break
		sleep 0.1
	done
	sleep 1
	kill -0 "$pid" 2>/dev/null || fail "the import ended early: $(cat "$W/live.err")"
	run cairn fsck
	echo "fsck during the import: exit $RUN_RC: $RUN_OUT $RUN_ERR"
	[ "$RUN_RC" -eq 0 ] || fail "fsck during an import exited $RUN_RC: $RUN_OUT $RUN_ERR"
	"$CAIRN" --root "$STORE" prune >"$W/live-prune.out" 2>&1 &
	pp=$!
	track_pid "$pp"
	sleep 2
	touch "$W/go"
	set +e
	wait "$pid"
	rc=$?
	wait "$pp"
	rp=$?
	set -e
	wait "$feeder" 2>/dev/null || true
	echo "import: exit $rc $(cat "$W/live.out" "$W/live.err")"
	echo "prune: exit $rp $(cat "$W/live-prune.out")"
	assert_eq "$rc" 0 "import"
	assert_eq "$rp" 0 "prune"
	assert_fsck_clean
	must cairn save live:one --format oci-dir --compression none -o "$W/live-out"
	verify_blobs "$W/live-out"
	local m l
	m=$(oci_manifest_digest "$W/live-out")
	l=$(jq -er '.layers[0].digest' "$W/live-out/blobs/sha256/${m#sha256:}")
	mkdir "$W/live-x"
	tar -xf "$W/live-out/blobs/sha256/${l#sha256:}" -C "$W/live-x" --numeric-owner
	[ -d "$W/pr-ref" ] || extract_ref "$ROOTFS" "$W/pr-ref"
	tree_diff "$W/pr-ref" "$W/live-x" --no-root
}

t_concurrent_imports() {
	new_store
	# a second, different tar: the rootfs plus one file
	mkdir -p "$W/extra"
	head -c $((8 << 20)) /dev/urandom >"$W/extra/extra.bin"
	cp "$ROOTFS" "$W/rootfs2.tar"
	tar --numeric-owner -rf "$W/rootfs2.tar" -C "$W/extra" ./extra.bin
	local p1 p2 r1 r2
	"$CAIRN" --root "$STORE" import "$ROOTFS" conc:one >"$W/c1.out" 2>"$W/c1.err" &
	p1=$!
	"$CAIRN" --root "$STORE" import "$W/rootfs2.tar" conc:two >"$W/c2.out" 2>"$W/c2.err" &
	p2=$!
	track_pid "$p1"
	track_pid "$p2"
	set +e
	wait "$p1"
	r1=$?
	wait "$p2"
	r2=$?
	set -e
	echo "import 1: exit $r1: $(cat "$W/c1.out" "$W/c1.err")"
	echo "import 2: exit $r2: $(cat "$W/c2.out" "$W/c2.err")"
	assert_eq "$r1" 0 "first concurrent import"
	assert_eq "$r2" 0 "second concurrent import"
	must cairn images -q
	assert_eq "$(count_lines "$RUN_OUT")" 2 "two images"
	assert_fsck_clean
	# both complete: export and compare file lists with the inputs
	local n
	for n in one two; do
		must cairn save "conc:$n" --format oci-dir --compression none -o "$W/conc-$n"
		local m l
		m=$(oci_manifest_digest "$W/conc-$n")
		l=$(jq -er '.layers[0].digest' "$W/conc-$n/blobs/sha256/${m#sha256:}")
		tar -tf "$W/conc-$n/blobs/sha256/${l#sha256:}" | sed 's|^\./||; s|/$||' | grep -v '^\.\?$' | LC_ALL=C sort >"$W/list-$n"
	done
	tar -tf "$ROOTFS" | sed 's|^\./||; s|/$||' | grep -v '^\.\?$' | LC_ALL=C sort >"$W/list-orig-one"
	tar -tf "$W/rootfs2.tar" | sed 's|^\./||; s|/$||' | grep -v '^\.\?$' | LC_ALL=C sort >"$W/list-orig-two"
	diff -u "$W/list-orig-one" "$W/list-one" >&2 || fail "image one's files"
	diff -u "$W/list-orig-two" "$W/list-two" >&2 || fail "image two's files"
}

t_import_during_prune() {
	new_store
	must cairn import "$ROOTFS" old:one
	must cairn rmi old:one
	local p1 p2 r1 r2
	"$CAIRN" --root "$STORE" import "$ROOTFS" new:one >"$W/p1.out" 2>"$W/p1.err" &
	p1=$!
	track_pid "$p1"
	sleep 0.3
	"$CAIRN" --root "$STORE" prune >"$W/p2.out" 2>"$W/p2.err" &
	p2=$!
	track_pid "$p2"
	set +e
	wait "$p1"
	r1=$?
	wait "$p2"
	r2=$?
	set -e
	echo "import: exit $r1: $(cat "$W/p1.out" "$W/p1.err")"
	echo "prune: exit $r2: $(cat "$W/p2.out" "$W/p2.err")"
	assert_eq "$r1" 0 "import running during prune"
	assert_eq "$r2" 0 "prune running during import"
	assert_fsck_clean
	must cairn save new:one --format oci-dir -o "$W/pr-out"
	verify_blobs "$W/pr-out"
	mkdir "$W/pr-u"
	local m l
	m=$(oci_manifest_digest "$W/pr-out")
	l=$(jq -er '.layers[0].digest' "$W/pr-out/blobs/sha256/${m#sha256:}")
	tar -xzf "$W/pr-out/blobs/sha256/${l#sha256:}" -C "$W/pr-u" --numeric-owner
	extract_ref "$ROOTFS" "$W/pr-ref"
	tree_diff "$W/pr-ref" "$W/pr-u" --no-root
}

run_test "calibrate: a full rootfs import" t_calibrate
run_test "kill -9 early in an import (10% written): fsck clean, no image, re-import works" t_kill_at 10 0 0
run_test "kill -9 half-way through an import (50%): fsck clean, prune reclaims all, re-import works" t_kill_at 50 0 1
run_test "kill -9 late in an import (90%): fsck clean, no image, re-import works" t_kill_at 90 1 0
run_test "kill -9 of an import stalled mid-stream: fsck clean, prune reclaims all, re-import works" t_kill_stalled
run_test "kill -9 during load of an OCI layout: fsck clean, no image, re-load works" t_kill_load
run_test "fsck and prune while an import is stalled mid-stream: clean, image whole" t_fsck_prune_during_import
run_test "two concurrent imports into one store both succeed, fsck clean" t_concurrent_imports
run_test "import concurrent with prune: both succeed, image intact" t_import_during_prune
tap_done
