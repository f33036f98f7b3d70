#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/fs/posix.sh: POSIX conformance of cairn workspaces.
#
# Runs tests/fs/posix-conform (a pjdfstest-like suite in C: every syscall's
# result and errno, modes, owners, link counts, sizes and timestamps, checks
# as other users, sticky directories, name and path limits, renames, xattrs
# and ACLs...; meson passes its path in CAIRN_POSIX_CONFORM):
#
# * on a plain directory, fresh and on the fixture tree extracted from its
#   tarball: these must pass everywhere, they validate the suite itself;
# * on a writable `cairn mount scratch`;
# * on a mount of the fixture imported as an image, where the checks work on
#   lower-layer objects that the operations copy up (data or metadata);
# * the same image mounted without the kernel's writeback cache.
#
# Every failing check is listed (its line in posix-conform.c and what it got).

source "$(dirname "$0")/../integration/lib.sh"
it_init
[ -e /dev/fuse ] || skip_all "no /dev/fuse"
PC=${CAIRN_POSIX_CONFORM:-}
if [ -z "$PC" ]; then
	for c in "$CAIRN_SRC/build/tests/fs/posix-conform" "$CAIRN_SRC/build-it/tests/fs/posix-conform"; do
		if [ -x "$c" ]; then
			PC=$c
			break
		fi
	done
fi
[ -n "$PC" ] && [ -x "$PC" ] || skip_all "posix-conform not built (set CAIRN_POSIX_CONFORM)"
# show every failing check, not only the last 80 lines
CAIRN_DIAG_LINES=${CAIRN_DIAG_LINES:-2000}
W=$IT_TMP/p
mkdir -p "$W"
# the suite switches to other users; they need to reach the directories
chmod 0755 "$IT_TMP" "$W"
export W

# conform NAME DIR [OPTION...]: runs the suite in DIR; lists its failures.
conform() {
	local name=$1 dir=$2 out=$W/$1.tap rc=0
	shift 2
	"$PC" "$@" "$dir" >"$out" 2>&1 || rc=$?
	info "$name: $(grep -E '^# [0-9]+ checks' "$out" | sed 's/^# //' || echo 'no summary')"
	if [ "$rc" -ne 0 ]; then
		grep -E '^(not ok|#   line|Bail out)' "$out" || tail -n 20 "$out"
		fail "$name: $(grep -c '^not ok' "$out") checks failed (exit status $rc)"
	fi
}

# The fixture tree and its tarball (made once).
fixture_tar() {
	if [ ! -s "$W/fixture.tar" ]; then
		rm -rf "$W/fixture"
		mkdir -p "$W/fixture"
		"$PC" --make-fixture "$W/fixture"
		tar_tree "$W/fixture" "$W/fixture.tar.tmp"
		mv "$W/fixture.tar.tmp" "$W/fixture.tar"
	fi
	echo "$W/fixture.tar"
}

t_plain() {
	local d
	d=$(scratch plain)
	chmod 0755 "$d"
	info "plain directory on $(stat -f -c %T "$d")"
	conform plain "$d"
}

t_plain_fixture() {
	local d tarball
	tarball=$(fixture_tar)
	d=$(scratch plain-fixture)
	chmod 0755 "$d"
	extract_ref "$tarball" "$d"
	conform plain-fixture "$d" --lower
}

t_scratch() {
	new_store
	local m=$W/scratch.mnt
	mkdir -p "$m"
	must cairn mount scratch "$m"
	local rc=0
	conform scratch "$m" || rc=$?
	must cairn umount "$m"
	return $rc
}

# image_run NAME [ENV...]: the fixture image mounted (with ENV), --lower.
image_run() {
	local name=$1 tarball
	shift
	tarball=$(fixture_tar)
	new_store
	must cairn import "$tarball" fixture
	local m=$W/$name.mnt
	mkdir -p "$m"
	if [ $# -gt 0 ]; then
		must env "$@" "$CAIRN" --root "$STORE" mount fixture "$m"
	else
		must cairn mount fixture "$m"
	fi
	local rc=0
	conform "$name" "$m" --lower || rc=$?
	must cairn umount "$m"
	assert_fsck_clean
	return $rc
}

t_image() { image_run image; }
t_image_nowb() { image_run image-no-writeback CAIRN_FS_WRITEBACK=0; }

run_test "plain directory (validates the suite)" t_plain
run_test "plain directory with the fixture tree (validates the suite)" t_plain_fixture
run_test "cairn mount scratch" t_scratch
run_test "cairn mount of the fixture image (lower-layer objects, copy-up)" t_image
run_test "cairn mount of the fixture image without the writeback cache" t_image_nowb
tap_done
