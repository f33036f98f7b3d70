# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/lib.sh: shared helpers for cairn's integration tests.
#
# Sourced by every tests/integration/*.sh script.  Gives:
#   * TAP output: run_test DESC FUNC [ARGS...] runs FUNC in a subshell with
#     `set -e` in force and prints "ok N - DESC" / "not ok N - DESC" (with the
#     test's output as "# " diagnostics on failure); tap_skip, tap_done.
#   * a private scratch directory ($IT_TMP) removed on exit, and per-test
#     stores: new_store sets $STORE to a fresh (not yet existing) directory
#     and `cairn ...` runs the CLI with --root "$STORE".
#   * run CMD...: captures exit status / stdout / stderr in RUN_RC, RUN_OUT,
#     RUN_ERR without aborting; assertion helpers (assert_eq, ...).
#   * fixtures: fixture_rootfs (debootstrap minbase tarball, cached outside
#     the repository), tree_diff (canonical listing of two trees, diffed).
#
# Environment: CAIRN (path of the cairn binary, meson passes it),
# CAIRN_SRC (source root), CAIRN_FIXTURES (fixture cache, default
# /var/cache/cairn-fixtures), CAIRN_TEST_TMPDIR (where scratch space goes,
# default $TMPDIR or /var/tmp), CAIRN_KEEP_TMP=1 (keep scratch for debugging),
# CAIRN_ONLY=REGEX (run only the tests whose description matches; the others
# are reported as skipped), CAIRN_VERBOSE=1 (show every test's output),
# CAIRN_SKIP_EXIT (exit status for "skip everything", default 77; meson's TAP
# protocol treats any non-zero status as an error, so meson.build passes 0:
# the "1..0 # SKIP" plan line alone marks the test skipped there).

set -euo pipefail
export LC_ALL=C.UTF-8
umask 022

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAIRN_SRC=${CAIRN_SRC:-$(cd "$IT_DIR/../.." && pwd)}
if [ -z "${CAIRN:-}" ]; then
	for c in "$CAIRN_SRC/build/tools/cairn" "$CAIRN_SRC/build-it/tools/cairn"; do
		if [ -x "$c" ]; then
			CAIRN=$c
			break
		fi
	done
fi
CAIRN=${CAIRN:-}
CAIRN_FIXTURES=${CAIRN_FIXTURES:-/var/cache/cairn-fixtures}

_tap_n=0
_tap_failed=0
IT_TMP=
_it_pids=()

# ---- TAP ------------------------------------------------------------------

diag() {
	local l
	for l in "$@"; do
		printf '%s\n' "$l" | sed 's/^/# /'
	done
}

# Reads stdin and prints it as TAP diagnostics.
diag_stream() { sed 's/^/# /'; }

skip_all() {
	echo "1..0 # SKIP $*"
	exit "${CAIRN_SKIP_EXIT:-77}"
}

bail_out() {
	echo "Bail out! $*"
	exit 1
}

tap_skip() { # DESC REASON
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

_tap_result() { # RC DESC LOG
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $2"
		diag "exit status $1; last lines of the test's output:"
		tail -n "${CAIRN_DIAG_LINES:-80}" "$3" | diag_stream
	fi
}

# tap_ok RC DESC: a result computed by the caller (no output to show).
tap_ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $2"
	fi
}

# run_test DESC FUNC [ARGS...]: runs FUNC in a subshell under `set -e`
# (the subshell is deliberately not in a conditional context, otherwise bash
# would ignore -e inside it).  Output goes to a log shown on failure; with
# CAIRN_VERBOSE=1 it is always shown.  State for later tests must live on
# disk (the store, files under $IT_TMP): variables set in FUNC are lost.
run_test() {
	local desc=$1 log rc
	shift
	if [ -n "${CAIRN_ONLY:-}" ] && ! [[ $desc =~ $CAIRN_ONLY ]]; then
		tap_skip "$desc" "not selected by CAIRN_ONLY"
		return 0
	fi
	log=$(mktemp "$IT_TMP/log.XXXXXX")
	set +e
	(
		set -e
		"$@"
	) >"$log" 2>&1 </dev/null
	rc=$?
	set -e
	_tap_result "$rc" "$desc" "$log"
	if [ "${CAIRN_VERBOSE:-0}" = 1 ] && [ "$rc" -eq 0 ]; then
		diag_stream <"$log"
	fi
	# Informational lines a test wants in the TAP stream even on success
	# (on failure they are in the output shown above).
	if [ "$rc" -eq 0 ] && [ "${CAIRN_VERBOSE:-0}" != 1 ]; then
		grep '^INFO: ' "$log" | diag_stream || true
	fi
	return 0
}

# Prints a line into the TAP stream (as a diagnostic) even when the test passes.
info() { echo "INFO: $*"; }

tap_done() {
	echo "1..$_tap_n"
	if [ "$_tap_failed" -ne 0 ]; then
		diag "$_tap_failed of $_tap_n failed"
		exit 1
	fi
	exit 0
}

# ---- setup ------------------------------------------------------------------

_it_cleanup() {
	local p
	for p in "${_it_pids[@]}"; do
		kill -9 "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ -n "$IT_TMP" ] && [ -d "$IT_TMP" ]; then
		# cairn workspace daemons of this test's stores, and their mounts
		pkill -9 -f -- "--root $IT_TMP/" 2>/dev/null || true
		local m
		for m in $(findmnt -rn -o TARGET | grep -F "$IT_TMP/" | sort -r); do
			umount -l "$m" 2>/dev/null || true
		done
		if [ "${CAIRN_KEEP_TMP:-0}" = 1 ]; then
			echo "# kept scratch directory $IT_TMP" >&2
		else
			# Unpacked trees may hold immutable-looking modes; fix and remove.
			chmod -R u+rwX "$IT_TMP" 2>/dev/null || true
			rm -rf --one-file-system "$IT_TMP"
		fi
	fi
}

# Remember a background process so cleanup kills it (by pid) if a test dies.
track_pid() { _it_pids+=("$1"); }

# it_init [TOOL...]: checks root and the tools, creates $IT_TMP.
it_init() {
	local t
	if [ "$(id -u)" -ne 0 ]; then
		skip_all "needs root (devices, ownership, trusted.* xattrs)"
	fi
	if [ -z "$CAIRN" ] || [ ! -x "$CAIRN" ]; then
		skip_all "cairn binary not found (set CAIRN=path/to/cairn)"
	fi
	for t in python3 tar sha256sum "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip_all "missing tool: $t"
	done
	local base=${CAIRN_TEST_TMPDIR:-${TMPDIR:-/var/tmp}}
	IT_TMP=$(mktemp -d "$base/cairn-it.XXXXXX")
	trap _it_cleanup EXIT
	trap 'exit 130' INT TERM
}

_store_n=0
# new_store: $STORE becomes a fresh store root (created by cairn on first use).
new_store() {
	_store_n=$((_store_n + 1))
	STORE=$IT_TMP/store.$BASHPID.$_store_n
	export STORE
}

# The CLI on the current test store.
cairn() { "$CAIRN" --root "$STORE" "$@"; }

# scratch NAME: a fresh directory under $IT_TMP, printed.
scratch() {
	mktemp -d "$IT_TMP/${1:-d}.XXXXXX"
}

# ---- running and asserting ----------------------------------------------------

# run CMD...: RUN_RC, RUN_OUT, RUN_ERR (stdout/stderr as strings); never aborts.
run() {
	local o e
	o=$(mktemp "$IT_TMP/out.XXXXXX")
	e=$(mktemp "$IT_TMP/err.XXXXXX")
	set +e
	"$@" >"$o" 2>"$e"
	RUN_RC=$?
	set -e
	RUN_OUT=$(cat "$o")
	RUN_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return 0
}

fail() {
	echo "FAIL: $*" >&2
	return 1
}

assert_eq() { # ACTUAL EXPECTED MSG
	if [ "$1" != "$2" ]; then
		fail "$3: expected [$2], got [$1]"
	fi
}

assert_ne() {
	if [ "$1" = "$2" ]; then
		fail "$3: both are [$1]"
	fi
}

assert_match() { # STRING ERE MSG
	if ! [[ $1 =~ $2 ]]; then
		fail "$3: [$1] does not match /$2/"
	fi
}

assert_contains() { # HAYSTACK NEEDLE MSG (fixed string)
	if [[ $1 != *"$2"* ]]; then
		fail "$3: [$1] does not contain [$2]"
	fi
}

assert_not_exists() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		fail "$2: $1 exists"
	fi
}

assert_le() { # A B MSG (integers)
	if [ "$1" -gt "$2" ]; then
		fail "$3: $1 > $2"
	fi
}

# Runs CMD and requires success, showing its stderr if it fails.
must() {
	run "$@"
	if [ "$RUN_RC" -ne 0 ]; then
		fail "command failed (exit $RUN_RC): $*"$'\n'"stdout: $RUN_OUT"$'\n'"stderr: $RUN_ERR"
	fi
}

# cairn fsck must exit 0 (its output is shown when it does not).
assert_fsck_clean() {
	run cairn fsck
	if [ "$RUN_RC" -ne 0 ]; then
		fail "cairn fsck exited $RUN_RC: $RUN_OUT $RUN_ERR"
	fi
}

# Number of lines of a string (0 for the empty string).
count_lines() {
	if [ -z "$1" ]; then
		echo 0
	else
		printf '%s\n' "$1" | wc -l
	fi
}

# json FILE_OR_- JQ_FILTER: jq -r with a helpful error.
jqr() { jq -er "$@"; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---- fixtures ---------------------------------------------------------------

# fixture_rootfs: prints the path of a Debian bookworm minbase root
# filesystem tarball, building it once (debootstrap, ~1 min) into
# $CAIRN_FIXTURES.  Built in a temporary directory beside the cache file and
# renamed into place, under a lock, so concurrent or killed runs never leave
# a half-written fixture.
fixture_rootfs() {
	local dir=$CAIRN_FIXTURES out
	out=$dir/bookworm-minbase.tar
	if [ -s "$out" ]; then
		echo "$out"
		return 0
	fi
	command -v debootstrap >/dev/null || {
		echo "debootstrap missing" >&2
		return 1
	}
	mkdir -p "$dir"
	(
		flock 9
		if [ -s "$out" ]; then
			exit 0
		fi
		local old m tmp
		# Leftovers of a killed build: unmount what debootstrap mounted, remove.
		for old in "$dir"/.build.*; do
			[ -d "$old" ] || continue
			for m in $(findmnt -rn -o TARGET | grep -F "$old/" | sort -r); do
				umount -l "$m" 2>/dev/null || true
			done
			rm -rf --one-file-system "$old"
		done
		tmp=$(mktemp -d "$dir/.build.XXXXXX")
		if ! debootstrap --variant=minbase bookworm "$tmp/root" \
			"${CAIRN_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$tmp/debootstrap.log" 2>&1; then
			tail -n 30 "$tmp/debootstrap.log" >&2
			for m in $(findmnt -rn -o TARGET | grep -F "$tmp/" | sort -r); do
				umount -l "$m" 2>/dev/null || true
			done
			rm -rf --one-file-system "$tmp"
			exit 1
		fi
		tar --numeric-owner --xattrs --xattrs-include='*' --acls \
			-C "$tmp/root" -cpf "$tmp/rootfs.tar" .
		sync -f "$tmp/rootfs.tar" 2>/dev/null || true
		mv -f "$tmp/rootfs.tar" "$out"
		rm -rf --one-file-system "$tmp"
	) 9>"$dir/.lock"
	[ -s "$out" ] || return 1
	echo "$out"
}

# extract_ref TAR DIR: the reference extraction of a root filesystem tarball.
extract_ref() {
	mkdir -p "$2"
	tar --xattrs --xattrs-include='*' --acls --numeric-owner -xpf "$1" -C "$2"
}

# tree_list DIR [treelist.py options]: canonical listing (see treelist.py).
tree_list() {
	python3 "$IT_DIR/treelist.py" "$@"
}

# tree_diff A B [treelist.py options]: fails (printing a diff) when the two
# trees differ in anything treelist.py records.
tree_diff() {
	local a=$1 b=$2 la lb
	shift 2
	la=$(mktemp "$IT_TMP/list.XXXXXX")
	lb=$(mktemp "$IT_TMP/list.XXXXXX")
	python3 "$IT_DIR/treelist.py" "$@" "$a" >"$la"
	python3 "$IT_DIR/treelist.py" "$@" "$b" >"$lb"
	if ! diff -u --label "$a" --label "$b" "$la" "$lb" >"$la.diff"; then
		echo "trees differ ($(grep -c '^[-+][^-+]' "$la.diff") lines):" >&2
		head -n "${CAIRN_DIFF_LINES:-60}" "$la.diff" >&2
		return 1
	fi
	echo "trees equal: $(wc -l <"$la") entries"
}

# ---- image helpers ------------------------------------------------------------

# umoci_unpack LAYOUT TAG BUNDLE: unpack with umoci (as root, keeping owners).
umoci_unpack() {
	umoci unpack --image "$1:$2" "$3" >"$3.log" 2>&1 || {
		cat "$3.log" >&2
		return 1
	}
}

# oci_manifest_digest LAYOUT [REFNAME]: the manifest descriptor digest in
# index.json (the one named REFNAME by org.opencontainers.image.ref.name, or
# the only one).
oci_manifest_digest() {
	if [ $# -ge 2 ]; then
		jq -er --arg r "$2" '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r)] | if length == 1 then .[0].digest else error("\(length) manifests named \($r)") end' "$1/index.json"
	else
		jq -er '.manifests | if length == 1 then .[0].digest else error("\(length) manifests in index.json") end' "$1/index.json"
	fi
}

# blob_list LAYOUT: sorted "sha256:<hex>" of the blob files in a layout.
blob_list() {
	(cd "$1/blobs" && find . -type f | sed 's|^\./||; s|/|:|' | LC_ALL=C sort)
}

# verify_blobs LAYOUT: every blob's bytes hash to its name.
verify_blobs() {
	local f h bad=0
	for f in "$1"/blobs/sha256/*; do
		h=$(sha256_of "$f")
		if [ "$h" != "$(basename "$f")" ]; then
			echo "blob $f hashes to $h" >&2
			bad=1
		fi
	done
	return $bad
}

# The stdout of `cairn load` names what it loaded; prints the first
# loadable reference (name or id).
loaded_ref() { # LOAD_OUTPUT
	local l
	l=$(printf '%s\n' "$1" | grep -E '^Loaded image( ID)?: ' | head -n1)
	[ -n "$l" ] || {
		echo "no 'Loaded image' line in: $1" >&2
		return 1
	}
	printf '%s\n' "${l#*: }"
}

# ---- the synthetic tree with every special case ------------------------------

SPECIAL_LONGDIR=$(printf 'a%.0s' {1..100})/$(printf 'b%.0s' {1..100})/$(printf 'c%.0s' {1..100})

# make_special_tree DIR: a tree with every file type and attribute a layer
# must carry.  Writes the sparse file (1 GiB, data at 0 and at 512 MiB) too.
# A unix socket is created as well: tar archives skip sockets.
make_special_tree() {
	local d=$1
	mkdir -p "$d"
	cd "$d"
	chmod 0755 .
	mkdir -p bin modes dev hl/sub links names xa "long/$SPECIAL_LONGDIR" sticky sgid-dir
	# modes and owners
	printf '#!/bin/sh\necho suid\n' >bin/suid && chmod 4755 bin/suid
	printf 'sgid\n' >bin/sgid && chmod 2711 bin/sgid
	printf 'both\n' >bin/both && chmod 6750 bin/both && chown 0:42 bin/both
	chmod 1777 sticky
	chmod 2775 sgid-dir && chown 1000:1000 sgid-dir
	printf 'none\n' >modes/0000 && chmod 0000 modes/0000
	printf 'all\n' >modes/0777 && chmod 0777 modes/0777
	printf 'owned\n' >modes/owned && chown 1234:5678 modes/owned
	printf 'big ids\n' >modes/bigids && chown 3000000:4000000 modes/bigids
	: >modes/empty
	# devices, fifo, socket
	mknod dev/null c 1 3
	mknod dev/sda1 b 8 1
	mknod dev/bigdev c 300 70000
	mknod dev/fifo p
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' dev/socket
	# hardlinks: three names for one inode (one in a subdirectory, one long)
	printf 'linked content\n' >hl/a
	ln hl/a hl/b
	ln hl/a hl/sub/c
	ln hl/a "long/$SPECIAL_LONGDIR/hardlink-in-long-dir"
	# symlinks: absolute, relative, dangling, long target
	ln -s /etc/passwd links/absolute
	ln -s ../hl/a links/relative
	ln -s does/not/exist links/dangling
	ln -s "../long/$SPECIAL_LONGDIR/hardlink-in-long-dir" links/long-target
	ln -s links links/loop-ish
	# names
	printf 'space\n' >"names/with space"
	printf 'utf8\n' >"names/ünïcødé-日本語"
	printf 'newline\n' >"names/new"$'\n'"line"
	printf 'tab\n' >"names/tab"$'\t'"name"
	printf 'backslash\n' >"names/back\\slash"
	printf 'latin1\n' >"names/$(printf 'latin1-\xe9\xff')"
	printf 'long path\n' >"long/$SPECIAL_LONGDIR/file-with-a-path-over-300-bytes"
	# xattrs and ACLs
	printf 'xattrs\n' >xa/file
	setfattr -n user.comment -v "hello world" xa/file
	setfattr -n user.binary -v 0x00ff10 xa/file
	setfattr -n trusted.overlay.test -v trusted-value xa/file
	printf '#!/bin/sh\n' >xa/cap && chmod 0755 xa/cap
	if command -v setcap >/dev/null; then
		setcap cap_net_raw,cap_net_bind_service+ep xa/cap
	else
		# VFS_CAP_REVISION_2, effective, permitted = CAP_NET_RAW (13)
		setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 xa/cap
	fi
	printf 'acl\n' >xa/acl
	setfacl -m u:1000:rw-,g:100:r--,m::rw- xa/acl
	mkdir xa/acl-dir
	setfacl -m u:1001:rwx xa/acl-dir
	setfacl -d -m u:1001:r-x,g::r-x xa/acl-dir
	setfattr -n user.dir -v on-a-dir xa/acl-dir
	ln -s file xa/symlink
	# sparse: 1 GiB, data at offset 0 and at 512 MiB
	truncate -s 1G sparse
	head -c 65536 /dev/urandom | dd of=sparse conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of=sparse bs=1M seek=512 conv=notrunc status=none
	# nanosecond mtimes on everything (deterministic, deepest first)
	python3 - <<'PY'
import os, hashlib
paths = []
for root, dirs, files in os.walk(b".", topdown=False):
    for n in files + dirs:
        paths.append(os.path.join(root, n))
paths.append(b".")
for p in paths:
    h = int.from_bytes(hashlib.sha256(p).digest()[:8], "big")
    ns = 1500000000 * 10**9 + (h % (10**17))  # 2017..2020, any nanoseconds
    os.utime(p, ns=(ns, ns), follow_symlinks=False)
PY
	cd - >/dev/null
}

# tar_tree DIR TAR: the rootfs tarball of a tree (POSIX format so that
# nanosecond mtimes are recorded; sparse files as sparse entries).
tar_tree() {
	tar --format=posix --numeric-owner --xattrs --xattrs-include='*' --acls --sparse \
		-C "$1" -cpf "$2" . 2>"$2.log" || {
		cat "$2.log" >&2
		return 1
	}
}
