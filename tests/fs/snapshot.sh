#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/fs/snapshot.sh: the snapshotter (containerd's model).
#
# * examples/snapshot-api (the C API driven like a build tool: prepare on an
#   image, write, commit, prepare on the commit, view, diff, usage, remove);
# * the CLI: prepare/view/mounts (--json)/commit/remove/ls/stat/usage;
#   an active snapshot keeps its changes across unmount (checkpoint) and
#   kill -9 of its daemon loses only what was not checkpointed;
# * diff gives an OCI layer with whiteouts that GNU tar lists and that
#   apply (to another active snapshot) reproduces; apply of a layer with
#   whiteouts and an opaque directory, mounted and not mounted;
# * containerd's rules: committed snapshots are immutable (no mounts), a
#   view cannot be committed, a parent with children cannot be removed,
#   keys are unique; prune keeps every snapshot's layers; fsck stays clean.

source "$(dirname "$0")/../integration/lib.sh"
it_init jq tar
[ -e /dev/fuse ] || skip_all "no /dev/fuse"
W=$IT_TMP/w
mkdir -p "$W"
export W

base_image() {
	new_store
	mkdir -p "$W/b.$BASHPID/etc" "$W/b.$BASHPID/opt/old"
	echo motd >"$W/b.$BASHPID/etc/motd"
	echo old >"$W/b.$BASHPID/opt/old/file"
	tar --numeric-owner -C "$W/b.$BASHPID" -cf "$W/b.$BASHPID.tar" .
	must cairn import "$W/b.$BASHPID.tar" base
}

t_example() {
	base_image
	local exe=${CAIRN_BUILD_STEPS:-$CAIRN_SRC/build/examples/build-steps}
	[ -x "$exe" ] || fail "examples/snapshot-api not built ($exe)"
	run "$exe" "$STORE" base "$W/ex.tar"
	echo "$RUN_OUT"
	[ "$RUN_RC" -eq 0 ] || fail "build-steps failed: $RUN_ERR"
	tar -tvf "$W/ex.tar" >"$W/ex.list"
	grep -q 'app/more' "$W/ex.list" || fail "the diff lacks app/more"
	grep -q 'etc/.wh.motd' "$W/ex.list" || fail "the diff lacks the whiteout of etc/motd"
	must cairn snapshot ls --json
	assert_eq "$(jq length <<<"$RUN_OUT")" 0 "snapshots left"
	assert_fsck_clean
}

t_cli() {
	base_image
	must cairn snapshot prepare s1 base
	run cairn snapshot prepare s1 base
	[ "$RUN_RC" -ne 0 ] || fail "a second prepare of the same key succeeded"
	must cairn snapshot mounts s1
	local d=$RUN_OUT
	assert_eq "$(cat "$d/etc/motd")" motd "the parent image's file"
	must cairn snapshot mounts --json s1
	assert_eq "$(jq -r '.[0].source' <<<"$RUN_OUT")" "$d" "mounts --json source"
	assert_eq "$(jq -r '.[0].options[1]' <<<"$RUN_OUT")" rw "mounts --json options"
	echo kept >"$d/kept"
	# unmounted: the changes become its checkpoint, and come back
	must cairn snapshot unmount s1
	must cairn snapshot stat s1
	assert_eq "$(jq -r .Mounted <<<"$RUN_OUT")" false "unmounted"
	must cairn snapshot mounts s1
	d=$RUN_OUT
	assert_eq "$(cat "$d/kept")" kept "a change survives the unmount"
	echo lost >"$d/lost"
	kill -9 "$(cairn mounts --json | jq -r '.[0].pid')"
	sleep 0.2
	must cairn snapshot mounts s1
	d=$RUN_OUT
	assert_eq "$(cat "$d/kept")" kept "the checkpoint after kill -9"
	assert_not_exists "$d/lost" "what was not checkpointed"
	rm "$d/etc/motd"
	must cairn snapshot commit c1 s1
	run cairn snapshot stat s1
	[ "$RUN_RC" -ne 0 ] || fail "the active snapshot still exists after commit"
	must cairn snapshot stat c1
	assert_eq "$(jq -r .Kind <<<"$RUN_OUT")" Committed "kind of c1"
	run cairn snapshot mounts c1
	[ "$RUN_RC" -ne 0 ] || fail "a committed snapshot was mounted"
	must cairn snapshot usage --json c1
	assert_eq "$(jq .Inodes <<<"$RUN_OUT")" 3 "entries of c1's layer (kept, etc, etc/.wh.motd)"
	must cairn snapshot view v1 c1
	must cairn snapshot mounts v1
	d=$RUN_OUT
	assert_eq "$(cat "$d/kept")" kept "the view sees the committed change"
	if echo x >"$d/x" 2>/dev/null; then fail "a view is writable"; fi
	run cairn snapshot commit c2 v1
	[ "$RUN_RC" -ne 0 ] || fail "a view was committed"
	run cairn snapshot remove c1
	[ "$RUN_RC" -ne 0 ] || fail "a parent with children was removed"
	assert_contains "$RUN_ERR" "v1" "the child is named"
	must cairn snapshot ls --json
	assert_eq "$(jq -r '[.[].Name] | sort | join(",")' <<<"$RUN_OUT")" "c1,v1" "ls"
	must cairn rmi base
	must cairn prune
	must cairn snapshot prepare s2 c1
	must cairn snapshot mounts s2
	assert_eq "$(cat "$RUN_OUT/kept")" kept "prune kept the snapshot's layers"
	must cairn snapshot remove s2 v1 c1
	must cairn snapshot ls --json
	assert_eq "$(jq length <<<"$RUN_OUT")" 0 "all removed"
	must cairn mounts -q
	assert_eq "$RUN_OUT" "" "no daemon left"
	must cairn prune
	assert_fsck_clean
}

# diff of one snapshot applied to another reproduces its changes.
t_diff_apply() {
	base_image
	must cairn snapshot prepare a base
	must cairn snapshot mounts a
	local d=$RUN_OUT
	rm -rf "$d/opt/old" && mkdir "$d/opt/old" && echo new >"$d/opt/old/new"
	rm "$d/etc/motd"
	mkdir -p "$d/usr/bin" && printf '#!/bin/sh\n' >"$d/usr/bin/tool" && chmod 755 "$d/usr/bin/tool"
	tree_list --no-root "$d" >"$W/a.list"
	must cairn snapshot diff a -o "$W/a.tar"
	tar -tvf "$W/a.tar" >"$W/a.tar.list"
	grep -q 'opt/old/.wh..wh..opq' "$W/a.tar.list" || fail "no opaque marker in the diff"
	grep -q 'etc/.wh.motd' "$W/a.tar.list" || fail "no whiteout in the diff"
	# apply to a snapshot that is not mounted, then look
	must cairn snapshot prepare b base
	must cairn snapshot apply b "$W/a.tar"
	must cairn snapshot mounts b
	tree_list --no-root "$RUN_OUT" >"$W/b.list"
	diff -u "$W/a.list" "$W/b.list" || fail "apply (unmounted) does not reproduce the changes"
	# and to a mounted one
	must cairn snapshot prepare c base
	must cairn snapshot mounts c
	local dc=$RUN_OUT
	ls -R "$dc" >/dev/null # the kernel caches what it saw
	must cairn snapshot apply c "$W/a.tar"
	tree_list --no-root "$dc" >"$W/c.list"
	diff -u "$W/a.list" "$W/c.list" || fail "apply (mounted) does not reproduce the changes"
	must cairn snapshot commit cc c
	must cairn snapshot diff cc -o "$W/cc.tar"
	cmp "$W/a.tar" "$W/cc.tar" || fail "the committed diff differs from the applied layer"
	must cairn snapshot remove a b cc
	assert_fsck_clean
}

t_errors() {
	base_image
	run cairn snapshot prepare x no-such-parent
	[ "$RUN_RC" -eq 1 ] || fail "prepare on an unknown parent: $RUN_RC"
	assert_contains "$RUN_ERR" "no-such-parent" "unknown parent message"
	run cairn snapshot stat nope
	[ "$RUN_RC" -eq 1 ] || fail "stat of an unknown key"
	run cairn snapshot frobnicate
	[ "$RUN_RC" -eq 2 ] || fail "unknown subcommand: exit $RUN_RC"
	run cairn snapshot diff nope
	[ "$RUN_RC" -eq 2 ] || fail "diff without -o: exit $RUN_RC"
	must cairn snapshot prepare p base
	run cairn snapshot prepare q p
	[ "$RUN_RC" -ne 0 ] || fail "an active snapshot was used as a parent"
	must cairn snapshot remove p
}

run_test "examples/snapshot-api: a build-like sequence through the C API" t_example
run_test "the snapshot CLI, checkpoints, containerd's rules" t_cli
run_test "diff and apply" t_diff_apply
run_test "errors" t_errors
tap_done
