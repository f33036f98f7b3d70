#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/fs/workspace.sh: `cairn mount / mounts / diff / commit / umount`.
#
# * the issue's change set on an imported image (deletions, a recreated
#   directory, appends to a hardlinked file, chmod/chown, renames, a FIFO, a
#   1 GiB sparse file, xattrs and ACLs): after `commit` and `save`, umoci
#   unpacks exactly the tree the mount showed, as the base layer plus one;
# * the workspace goes on after a commit (the next commit stacks on it);
# * known contents (chmod, rename, copy, identical rewrite) add no chunks;
# * diff in docker's words; read-only mounts; scratch; errors;
# * kill -9 of the daemon mid-write and mid-commit: the store stays fsck
#   clean, committed images are intact and whole (or absent), `cairn
#   umount` recovers the mount point and a new mount there works;
# * prune keeps what a running workspace uses; 100k entries in a directory.

source "$(dirname "$0")/../integration/lib.sh"
it_init umoci jq setfattr getfattr setfacl
[ -e /dev/fuse ] || skip_all "no /dev/fuse"
W=$IT_TMP/w
mkdir -p "$W"
export W

# list DIR: the canonical listing of a tree (no root entry, mtimes in ns).
list() { tree_list --no-root --mtime-ns "$1"; }

# unpack NAME DEST: save NAME as an OCI layout and unpack it with umoci.
unpack() {
	local layout=$W/oci.${1//[:\/]/_}
	rm -rf "$layout" "$2"
	must cairn save --format oci-dir -o "$layout" "$1"
	umoci_unpack "$layout" "$(tag_of "$1")" "$2"
}

# The tag of NAME[:TAG] (latest by default).
tag_of() { [[ ${1##*/} == *:* ]] && echo "${1##*:}" || echo latest; }

# A process that runs (not a zombie left for a pid 1 that does not reap).
pid_alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

layers_of() { cairn inspect "$1" | jq '.[0].Layers | length'; }

base_image() {
	new_store
	make_special_tree "$W/tree.$BASHPID"
	tar_tree "$W/tree.$BASHPID" "$W/base.$BASHPID.tar"
	must cairn import "$W/base.$BASHPID.tar" base:latest
}

t_lifecycle() {
	new_store
	mkdir -p "$W/lc/etc" "$W/lc.mnt"
	echo one >"$W/lc/etc/one"
	tar --numeric-owner -C "$W/lc" -cf "$W/lc.tar" .
	must cairn import "$W/lc.tar" lc
	must cairn mount lc "$W/lc.mnt"
	assert_eq "$RUN_OUT" "$W/lc.mnt" "mount prints the directory"
	assert_eq "$(cat "$W/lc.mnt/etc/one")" one "a file of the image"
	must cairn mounts --json
	assert_eq "$(jq -r '.[0].dir' <<<"$RUN_OUT")" "$W/lc.mnt" "mounts --json dir"
	assert_eq "$(jq -r '.[0].image' <<<"$RUN_OUT")" lc "mounts --json image"
	local pid
	pid=$(jq -r '.[0].pid' <<<"$RUN_OUT")
	pid_alive "$pid" || fail "no daemon"
	echo two >"$W/lc.mnt/etc/two"
	rm "$W/lc.mnt/etc/one"
	mkdir -p "$W/lc.mnt/a/b"
	must cairn diff "$W/lc.mnt"
	assert_eq "$RUN_OUT" $'A /a\nA /a/b\nC /etc\nD /etc/one\nA /etc/two' "diff"
	must cairn commit "$W/lc.mnt" lc:v2
	assert_match "$RUN_OUT" '^sha256:[0-9a-f]{64}$' "commit prints the image id"
	must cairn diff "$W/lc.mnt"
	assert_eq "$RUN_OUT" "" "diff right after a commit"
	assert_eq "$(layers_of lc:v2)" 2 "layers of the committed image"
	must cairn umount "$W/lc.mnt"
	assert_eq "$RUN_ERR" "" "umount without changes says nothing"
	must cairn mounts -q
	assert_eq "$RUN_OUT" "" "no workspace after umount"
	! pid_alive "$pid" || fail "the daemon still runs after umount"
	assert_not_exists "$W/lc.mnt/etc"
	must cairn mount lc:v2 "$W/lc.mnt"
	echo three >"$W/lc.mnt/three"
	must cairn umount "$W/lc.mnt"
	assert_contains "$RUN_ERR" "uncommitted changes discarded" "umount with changes says so"
	assert_fsck_clean
}

# The issue's check: every kind of change, then commit, save, unpack.
t_changes_roundtrip() {
	base_image
	local m=$W/rt.mnt
	mkdir -p "$m"
	must cairn mount base "$m"
	cd "$m"
	rm -rf names links/dangling                      # deletions
	rm -rf xa && mkdir xa && echo new >xa/fresh      # a directory removed and recreated
	echo appended >>hl/b                             # append through one hardlink name
	[ "$(tail -n1 hl/a)" = appended ] || fail "hardlink names do not share data"
	chmod 0700 bin/suid && chown 4242:4343 modes/owned
	mv modes/0777 modes/renamed && mv long renamed-dir
	mkfifo newfifo
	truncate -s 1G sparse.new
	printf 'in the middle' | dd of=sparse.new bs=1M seek=512 conv=notrunc status=none
	setfattr -n user.added -v yes modes/renamed
	setfattr -n trusted.t -v 1 hl/a
	setfacl -m u:1234:r-- modes/empty
	ln hl/a hl/third
	ln -s ../hl/a links/new-link
	cd - >/dev/null
	list "$m" >"$W/rt.mount.list"
	must cairn commit "$m" rt:latest
	assert_eq "$(layers_of rt:latest)" 2 "base layer plus one"
	unpack rt:latest "$W/rt.bundle"
	list "$W/rt.bundle/rootfs" >"$W/rt.unpacked.list"
	diff -u "$W/rt.mount.list" "$W/rt.unpacked.list" || fail "umoci's tree differs from the mount"
	must cairn umount "$m"
	# the new sparse file stays sparse: its holes were not stored (umoci
	# itself writes sparse files out in full, so look through cairn)
	must cairn mount rt:latest "$m"
	assert_le "$(stat -c %b "$m/sparse.new")" 4096 "blocks of the committed 1 GiB sparse file"
	must cairn umount "$m"
	assert_le "$(cairn du --json | jq .chunk_bytes)" $((64 << 20)) "chunk bytes of the store"
	assert_fsck_clean
}

t_keeps_working() {
	base_image
	local m=$W/kw.mnt
	mkdir -p "$m"
	must cairn mount base "$m"
	echo 1 >"$m/first"
	must cairn commit "$m" kw:1
	echo 2 >"$m/second"
	rm "$m/first"
	must cairn commit "$m" kw:2
	assert_eq "$(layers_of kw:2)" 3 "the second commit stacks on the first"
	list "$m" >"$W/kw.mount.list"
	unpack kw:2 "$W/kw.bundle"
	list "$W/kw.bundle/rootfs" >"$W/kw.list"
	diff -u "$W/kw.mount.list" "$W/kw.list" || fail "the second commit differs from the mount"
	must cairn umount "$m"
}

chunk_stats() { cairn du --json | jq -c '{chunks, chunk_bytes}'; }

t_no_new_chunks() {
	new_store
	mkdir -p "$W/nc/d" "$W/nc.mnt"
	head -c $((4 << 20)) /dev/urandom >"$W/nc/d/big"
	head -c $((3 << 20)) /dev/urandom >"$W/nc/d/big2"
	tar --numeric-owner -C "$W/nc" -cf "$W/nc.tar" .
	must cairn import "$W/nc.tar" nc
	must cairn mount nc "$W/nc.mnt"
	local before after
	before=$(cairn du --json | jq '.chunk_bytes')
	chmod 600 "$W/nc.mnt/d/big"                     # metadata only
	mv "$W/nc.mnt/d/big2" "$W/nc.mnt/big2.moved"   # rename
	cp "$W/nc.mnt/d/big" "$W/nc.mnt/copy"           # a copy
	cp "$W/nc/d/big" "$W/nc.mnt/d/big"              # an identical rewrite
	must cairn commit "$W/nc.mnt" nc:2
	after=$(cairn du --json | jq '.chunk_bytes')
	info "chunk bytes: $before before, $after after the commit"
	# the layer table and the config are new; no file data is
	assert_le $((after - before)) 65536 "new chunk bytes after committing known contents"
	must cairn umount "$W/nc.mnt"
	assert_fsck_clean
}

t_readonly_and_scratch() {
	new_store
	mkdir -p "$W/s.mnt" "$W/ro.mnt"
	must cairn mount scratch "$W/s.mnt"
	[ -z "$(ls -A "$W/s.mnt")" ] || fail "scratch is not empty"
	mkdir "$W/s.mnt/etc" && echo s >"$W/s.mnt/etc/s"
	must cairn commit "$W/s.mnt" fromscratch
	assert_eq "$(layers_of fromscratch)" 1 "an image from scratch has one layer"
	must cairn umount "$W/s.mnt"
	must cairn mount --ro fromscratch "$W/ro.mnt"
	assert_eq "$(cat "$W/ro.mnt/etc/s")" s "read-only mount reads"
	if touch "$W/ro.mnt/x" 2>"$W/ro.err"; then fail "a write to a read-only mount succeeded"; fi
	assert_contains "$(cat "$W/ro.err")" "Read-only file system" "write error"
	run cairn commit "$W/ro.mnt" nope
	[ "$RUN_RC" -ne 0 ] || fail "commit of a read-only workspace succeeded"
	must cairn umount "$W/ro.mnt"
}

t_errors() {
	new_store
	mkdir -p "$W/e.mnt"
	run cairn mount scratch "$W/does-not-exist"
	[ "$RUN_RC" -eq 1 ] && [ "$(count_lines "$RUN_ERR")" = 1 ] || fail "mount on a missing dir: $RUN_RC $RUN_ERR"
	run cairn mount no-such-image "$W/e.mnt"
	[ "$RUN_RC" -eq 1 ] || fail "mount of an unknown image: $RUN_RC"
	assert_contains "$RUN_ERR" "no-such-image" "unknown image message"
	assert_eq "$(count_lines "$RUN_ERR")" 1 "one line"
	must cairn mount scratch "$W/e.mnt"
	run cairn mount scratch "$W/e.mnt"
	[ "$RUN_RC" -ne 0 ] || fail "a second mount on the same directory succeeded"
	assert_contains "$RUN_ERR" "already" "double mount message"
	run cairn commit "$W" x
	[ "$RUN_RC" -ne 0 ] || fail "commit of a plain directory succeeded"
	assert_contains "$RUN_ERR" "not a cairn workspace" "commit of a non-workspace"
	run cairn umount "$W"
	[ "$RUN_RC" -ne 0 ] || fail "umount of a plain directory succeeded"
	run cairn mount
	[ "$RUN_RC" -eq 2 ] || fail "mount without arguments: exit $RUN_RC"
	# a busy mount is refused, --force detaches it
	(cd "$W/e.mnt" && sleep 30) &
	local busy=$!
	sleep 0.3
	run cairn umount "$W/e.mnt"
	[ "$RUN_RC" -ne 0 ] || fail "umount of a busy mount succeeded"
	assert_contains "$RUN_ERR" "busy" "busy message"
	must cairn umount --force "$W/e.mnt"
	kill "$busy" 2>/dev/null || true
	wait "$busy" 2>/dev/null || true
	must cairn mounts -q
	assert_eq "$RUN_OUT" "" "nothing mounted after --force"
}

daemon_pid() { cairn mounts --json | jq -r --arg d "$1" '.[] | select(.dir == $d) | .pid'; }

# The daemon dies (kill -9) while a process writes: the store and the
# committed image are intact; umount cleans up; the directory can be used again.
t_kill_mid_write() {
	base_image
	local m=$W/kill.mnt pid
	mkdir -p "$m"
	must cairn mount base "$m"
	echo committed >"$m/committed"
	must cairn commit "$m" kill:1
	list "$m" >"$W/kill.committed.list"
	dd if=/dev/urandom of="$m/big" bs=1M count=2000 status=none 2>/dev/null &
	local writer=$!
	sleep 1
	pid=$(daemon_pid "$m")
	kill -9 "$pid"
	wait "$writer" 2>/dev/null && fail "the writer did not notice the dead filesystem" || true
	must cairn mounts --json
	assert_eq "$(jq -r '.[0].stale' <<<"$RUN_OUT")" true "mounts shows the dead workspace as stale"
	assert_fsck_clean
	must cairn umount "$m"
	ls "$m" >/dev/null # the mount point is usable again
	unpack kill:1 "$W/kill.bundle"
	list "$W/kill.bundle/rootfs" >"$W/kill.list"
	diff -u "$W/kill.committed.list" "$W/kill.list" || fail "the committed image changed"
	must cairn mount kill:1 "$m"
	assert_eq "$(cat "$m/committed")" committed "a new mount on the old mount point"
	# a stale mount does not block a new mount either (without umount first)
	kill -9 "$(daemon_pid "$m")"
	sleep 0.2
	must cairn mount kill:1 "$m"
	assert_eq "$(cat "$m/committed")" committed "a mount over a stale mount"
	must cairn umount "$m"
	assert_fsck_clean
}

# Killed mid-commit: the image exists whole or not at all.  The first
# commit is timed; the others are killed at fractions of that time.
t_kill_mid_commit() {
	base_image
	local m=$W/kc.mnt i pid t0 t1 full frac delay
	mkdir -p "$m"
	for frac in 0 0.2 0.5 0.8 0.95; do
		must cairn mount base "$m"
		head -c $((300 << 20)) /dev/urandom >"$m/data"
		sha256sum <"$m/data" >"$W/kc.sum"
		i=${frac/./}
		if [ "$frac" = 0 ]; then
			t0=$(date +%s.%N)
			must cairn commit "$m" kc:calibrate
			t1=$(date +%s.%N)
			full=$(python3 -c "print($t1 - $t0)")
			info "an uninterrupted commit of 300 MiB takes ${full}s"
			must cairn umount "$m"
			continue
		fi
		delay=$(python3 -c "print($full * $frac)")
		pid=$(daemon_pid "$m")
		cairn commit "$m" "kc:$i" >/dev/null 2>&1 &
		local committer=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null || true
		wait "$committer" 2>/dev/null || true
		assert_fsck_clean
		run cairn inspect "kc:$i"
		if [ "$RUN_RC" -eq 0 ]; then
			info "killed at $frac of the commit time: the image is there; checking it is whole"
			unpack "kc:$i" "$W/kc.bundle"
			sha256sum <"$W/kc.bundle/rootfs/data" | diff - "$W/kc.sum" || fail "half an image"
		else
			info "killed at $frac of the commit time: no image"
		fi
		run cairn umount "$m"
	done
	must cairn prune
	assert_fsck_clean
}

t_prune_keeps_workspace_layers() {
	new_store
	mkdir -p "$W/pk/d" "$W/pk.mnt"
	head -c 100000 /dev/urandom >"$W/pk/d/data"
	tar --numeric-owner -C "$W/pk" -cf "$W/pk.tar" .
	must cairn import "$W/pk.tar" pk
	must cairn mount pk "$W/pk.mnt"
	must cairn rmi pk
	must cairn prune
	cmp "$W/pk/d/data" "$W/pk.mnt/d/data" || fail "prune removed data a workspace uses"
	must cairn umount "$W/pk.mnt"
	must cairn prune
	must cairn du --json
	assert_eq "$(jq .chunks <<<"$RUN_OUT")" 0 "prune after umount frees everything"
	assert_fsck_clean
}

t_big_directory() {
	new_store
	mkdir -p "$W/bd.mnt"
	must cairn mount scratch "$W/bd.mnt"
	python3 - "$W/bd.mnt/many" <<'PY'
import os, sys
d = sys.argv[1]
os.mkdir(d)
for i in range(100000):
    open(os.path.join(d, "f%06d" % i), "w").close()
names = os.listdir(d)
assert len(names) == 100000 and len(set(names)) == 100000, len(names)
for i in range(0, 100000, 2):
    os.unlink(os.path.join(d, "f%06d" % i))
names = os.listdir(d)
assert len(names) == 50000 and len(set(names)) == 50000, len(names)
PY
	must cairn commit "$W/bd.mnt" big
	unpack big "$W/bd.bundle"
	assert_eq "$(ls "$W/bd.bundle/rootfs/many" | wc -l)" 50000 "entries after commit and unpack"
	must cairn umount "$W/bd.mnt"
}

run_test "mount, diff, commit, umount" t_lifecycle
run_test "every kind of change: commit + save + umoci unpack = the mounted tree" t_changes_roundtrip
run_test "the workspace goes on after a commit" t_keeps_working
run_test "known contents add no chunks" t_no_new_chunks
run_test "read-only mounts and scratch" t_readonly_and_scratch
run_test "errors" t_errors
run_test "kill -9 of the daemon mid-write" t_kill_mid_write
run_test "kill -9 of the daemon mid-commit" t_kill_mid_commit
run_test "prune keeps what a workspace uses" t_prune_keeps_workspace_layers
run_test "100k entries in a directory" t_big_directory
tap_done
