#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/hostile.sh: hostile and broken input is refused cleanly.
#
# hostile_gen.py writes one archive per case: path traversal (`../`,
# absolute, `a/../../x`), hardlinks out of the archive, symlinks used as a
# path to write through, duplicate entries, absurd sizes in headers,
# truncated / corrupt / garbage archives, and OCI layouts / OCI archives /
# Docker archives with malformed JSON, missing blobs, digest or size
# mismatches, digest path traversal and hostile layers.  For every case:
#   * `cairn import` / `cairn load -i` exits non-zero and prints nothing on
#     stdout (no "Loaded image"),
#   * stderr is exactly one line, starting with "cairn", naming the file
#     (its path or base name) and the entry where one applies,
#   * the sentinel path outside the store was not created and nothing was
#     written into the working directory,
#   * peak RSS stays under 200 MiB (headers declaring GiBs are not buffered),
#   * the store is unchanged: `cairn images -q` and the image/layer/blob/
#     content counts of `cairn du --json` are as before, and `cairn fsck`
#     exits 0.
# Controls: the valid archives made by the same generator are accepted
# (so the failures come from the hostility, not from the generator).

source "$(dirname "$0")/lib.sh"
it_init jq

W=$IT_TMP/w
mkdir -p "$W/cwd/sub"
SENT=$(mktemp -u /tmp/cairn-sentinel.XXXXXXXX)
CASES=$W/cases.tsv
python3 "$IT_DIR/hostile_gen.py" "$W/in" "$SENT" >"$CASES" || bail_out "hostile_gen.py failed"
_hostile_cleanup() {
	rm -rf --one-file-system "$SENT"
	_it_cleanup
}
trap _hostile_cleanup EXIT
new_store
export W SENT STORE

state() {
	cairn images -q | LC_ALL=C sort
	cairn du --json | jq -c '{images, layers, blobs, contents}'
}

t_baseline() {
	# a store with something in it, so "unchanged" means something
	must cairn import "$W/in/good.tar" base:v1
	state >"$W/state.before"
	cat "$W/state.before"
	[ -s "$W/state.before" ]
	assert_fsck_clean
}

check_refused() { # NAME VERB PATH ENTRY
	local name=$1 verb=$2 path=$3 entry=$4
	# compare with the state right before this case, so that one accepted
	# case does not fail all the following ones
	state >"$W/state.before"
	cd "$W/cwd/sub"
	local timer=()
	[ -x /usr/bin/time ] && timer=(/usr/bin/time -f %M -o "$W/rss")
	: >"$W/rss"
	if [ "$verb" = import ]; then
		run "${timer[@]}" "$CAIRN" --root "$STORE" import "$path" "hostile/$name:v1"
	else
		run "${timer[@]}" "$CAIRN" --root "$STORE" load -i "$path"
	fi
	cd - >/dev/null
	# /usr/bin/time adds a "Command exited with non-zero status" line to -o
	local rss
	rss=$(tail -n1 "$W/rss")
	echo "exit $RUN_RC, peak RSS ${rss:-?} KiB"
	if [ -n "$rss" ]; then
		assert_le "$rss" $((200 << 10)) "peak RSS (KiB) while refusing"
	fi
	echo "stdout: $RUN_OUT"
	echo "stderr: $RUN_ERR"
	[ "$RUN_RC" -ne 0 ] || fail "accepted (exit 0)"
	[ "$RUN_RC" -lt 128 ] || fail "died of a signal (exit $RUN_RC)"
	[ -z "$RUN_OUT" ] || fail "printed on stdout"
	assert_eq "$(count_lines "$RUN_ERR")" 1 "number of stderr lines"
	assert_match "$RUN_ERR" '^cairn[ :]' "error prefix"
	local base
	base=$(basename "$path")
	assert_contains "$RUN_ERR" "$base" "the error names the file"
	if [ "$entry" != - ]; then
		local alt found=0
		IFS='|' read -r -a alts <<<"$entry"
		for alt in "${alts[@]}"; do
			[[ $RUN_ERR == *"$alt"* ]] && found=1
		done
		[ "$found" = 1 ] || fail "the error does not name the entry [$entry]: $RUN_ERR"
	fi
	assert_not_exists "$SENT" "sentinel outside the store"
	assert_not_exists "$W/cwd/escape" "../escape relative to the working directory"
	assert_not_exists "$W/cwd/escape-dir" "../escape-dir relative to the working directory"
	assert_not_exists "$W/cwd/x" "a/../../x relative to the working directory"
	assert_eq "$(find "$W/cwd" -mindepth 1 ! -path "$W/cwd/sub" | head -n 5)" "" "files written in the working directory"
	state >"$W/state.after"
	if ! diff -u "$W/state.before" "$W/state.after" >&2; then
		fail "the store changed"
	fi
	run cairn inspect "hostile/$name:v1"
	[ "$RUN_RC" -ne 0 ] || fail "the refused image exists"
	assert_fsck_clean
}

run_test "baseline store" t_baseline
while IFS=$'\t' read -r name verb path entry; do
	run_test "hostile $verb: $name" check_refused "$name" "$verb" "$path" "$entry"
done <"$CASES"

t_prune_after() {
	state >"$W/state.before"
	must cairn prune
	echo "$RUN_OUT"
	assert_fsck_clean
	must cairn inspect base:v1
	state >"$W/state.after"
	diff -u "$W/state.before" "$W/state.after" >&2 || fail "prune changed the referenced state"
}
run_test "prune after the refusals keeps the good image, fsck clean" t_prune_after

t_controls() {
	new_store
	must cairn import "$W/in/good.tar" good:tar
	must cairn load -i "$W/in/good-oci"
	assert_contains "$RUN_OUT" "example.com/hostile:v1" "good OCI layout loaded"
	must cairn load -i "$W/in/good-docker.tar"
	assert_contains "$RUN_OUT" "example.com/hostile-docker:v1" "good Docker archive loaded"
	assert_fsck_clean
}
run_test "controls: the generator's valid tar, OCI layout and Docker archive load" t_controls
tap_done
