#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/build-diff.sh: differential tests of `cairn build`
# against buildah, case by case over the corpus in tests/data/build/.
#
# Per case (a directory tests/data/build/NAME/):
#   Dockerfile      the build (the rest of the directory is its context,
#                   minus the harness files below)
#   args            optional: extra build flags given to both tools, one
#                   line, shell words (e.g. --target x --build-arg A=1)
#   setup.sh        optional: run with bash in the copied context before the
#                   builds, for what git cannot hold (hardlinks, modes,
#                   owners, empty directories, xattrs, archives)
#   expect-diff     optional: accepted differences, KEY = VALUE lines where
#                   VALUE is the BuildKit behaviour cairn must show whatever
#                   buildah does (see imgdiff.py)
#   cairn-only      optional: a golden case for what buildah 1.28 cannot
#                   build (heredocs): the file says why; cairn's image is
#                   checked against expect-tree (paths, see imgdiff.py) and
#                   expect (KEY = VALUE facts) only
#   expect-tree, expect   the golden expectations (cairn-only cases)
#
# Both tools build the same context and Dockerfile text (FROM busybox resolves
# to the same base in both: a busybox-static root filesystem made here, put in
# an OCI layout by umoci, loaded into buildah's private storage and into the
# cairn store); both images are written as OCI layouts, unpacked by umoci
# and compared by imgdiff.py: tree (types, 12 mode bits, owners, contents,
# symlinks, hardlink groups, xattrs, devices), config, history and per-layer
# effects.  BuildKit is the reference; buildah is the oracle where it agrees
# with BuildKit, and each case's expect-diff states where it does not.
#
# buildah runs with a private storage root (vfs driver), runroot,
# registries.conf (no search registries, short names disabled), temp dir,
# and inside a mount namespace with a scratch directory bound over
# /var/lib/containers (its blob-info cache), so nothing it writes leaks out
# of $IT_TMP.  `--isolation chroot --layers --format oci --pull=never
# --identity-label=false`.
#
# When `cairn build` does not exist yet, the buildah side still runs (the
# corpus and the oracle stay checked) and each comparison is skipped.
#
# Environment (besides lib.sh's): BUILD_DIFF_CASES=REGEX (only the cases
# whose name matches), BUILD_DIFF_KEEP=1 (= CAIRN_KEEP_TMP=1).

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${BUILD_DIFF_KEEP:-0}" = 1 ] && export CAIRN_KEEP_TMP=1
it_init buildah umoci skopeo jq unshare flock gzip
CORPUS=${BUILD_DIFF_CORPUS:-$CAIRN_SRC/tests/data/build}
[ -d "$CORPUS" ] || skip_all "no corpus at $CORPUS"
[ -x /bin/busybox ] || skip_all "busybox-static missing (apt-get install busybox-static)"
IMGDIFF=$IT_DIR/imgdiff.py
W=$IT_TMP
HARNESS_FILES=(args setup.sh expect-diff cairn-only expect-tree expect)

# ---- buildah in a box ---------------------------------------------------------

BH=$W/buildah
mkdir -p "$BH/root" "$BH/run" "$BH/tmp" "$BH/varlib"
cat >"$BH/registries.conf" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
EOF
cat >"$BH/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$BH/root"
runroot = "$BH/run"
EOF
export CONTAINERS_REGISTRIES_CONF=$BH/registries.conf
export CONTAINERS_STORAGE_CONF=$BH/storage.conf
export BUILDAH_ISOLATION=chroot

# boxed CMD...: CMD in a private mount namespace where /var/lib/containers
# is a scratch directory (containers/image keeps a blob-info cache there
# whatever the storage root), TMPDIR in the scratch space.
boxed() {
	if [ -d /var/lib/containers ]; then
		# shellcheck disable=SC2016 # expanded by the inner sh
		TMPDIR=$BH/tmp unshare -m --propagation private -- \
			sh -c 'mount --bind "$0" /var/lib/containers && exec "$@"' \
			"$BH/varlib" "$@"
	else
		TMPDIR=$BH/tmp "$@"
	fi
}
bh() { boxed buildah "$@"; }

# ---- the busybox base ---------------------------------------------------------

# fixture_busybox: a root filesystem tarball of Debian's busybox-static with
# its applet symlinks in /bin, /etc/passwd and /etc/group (root, app 1000 with
# the supplementary group staff 50, nobody), /tmp 1777, and a small tree under
# /srv/base for the whiteout cases.  Cached in $CAIRN_FIXTURES, keyed by the
# busybox binary's hash; built under a lock, renamed into place.
fixture_busybox() {
	local h out
	h=$(sha256sum /bin/busybox | cut -c1-16)
	out=$CAIRN_FIXTURES/busybox-rootfs-$h.tar
	if [ -s "$out" ]; then
		echo "$out"
		return 0
	fi
	mkdir -p "$CAIRN_FIXTURES"
	(
		flock 9
		[ -s "$out" ] && exit 0
		local tmp r
		tmp=$(mktemp -d "$CAIRN_FIXTURES/.busybox.XXXXXX")
		r=$tmp/root
		mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/home/app" \
			"$r/srv/base/dir/sub" "$r/srv/base/keep" "$r/var/empty"
		cp /bin/busybox "$r/bin/busybox"
		chroot "$r" /bin/busybox --install -s /bin
		cat >"$r/etc/passwd" <<-'EOF'
			root:x:0:0:root:/root:/bin/sh
			app:x:1000:1000:app:/home/app:/bin/sh
			nobody:x:65534:65534:nobody:/nonexistent:/bin/false
		EOF
		cat >"$r/etc/group" <<-'EOF'
			root:x:0:
			staff:x:50:app
			app:x:1000:
			nogroup:x:65534:
		EOF
		echo "busybox base" >"$r/etc/motd"
		echo a >"$r/srv/base/a"
		echo b >"$r/srv/base/b"
		echo c >"$r/srv/base/dir/c"
		echo d >"$r/srv/base/dir/sub/d"
		echo k >"$r/srv/base/keep/k"
		echo mode >"$r/srv/base/mode"
		ln "$r/srv/base/a" "$r/srv/base/a-link"
		ln -s a "$r/srv/base/a-sym"
		chmod 0700 "$r/root"
		chmod 1777 "$r/tmp"
		chown 1000:1000 "$r/home/app"
		tar --sort=name --mtime=@0 --numeric-owner -C "$r" -cf "$tmp/rootfs.tar" .
		mv -f "$tmp/rootfs.tar" "$out"
		rm -rf "$tmp"
	) 9>"$CAIRN_FIXTURES/.busybox.lock"
	[ -s "$out" ] || return 1
	echo "$out"
}

# make_base_layout TAR DIR: an OCI layout (made by umoci, independent of both
# builders) holding TAR as busybox:latest with PATH and Cmd ["sh"].
make_base_layout() {
	local tar=$1 L=$2
	umoci init --layout "$L"
	umoci new --image "$L:latest"
	umoci unpack --image "$L:latest" "$W/base-bundle" >/dev/null
	tar -xpf "$tar" -C "$W/base-bundle/rootfs"
	# (one history entry for the one layer: buildah insists on them agreeing)
	umoci repack --image "$L:latest" --history.created_by "busybox-static rootfs" \
		--history.created 1970-01-01T00:00:00Z "$W/base-bundle"
	umoci config --no-history --image "$L:latest" --os linux \
		--architecture "$(go_arch)" \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.cmd sh
	umoci gc --layout "$L"
	rm -rf "$W/base-bundle"
	# the full name for `cairn load` (io.containerd.image.name, as BuildKit
	# and docker save write it)
	jq '.manifests[0].annotations["io.containerd.image.name"] = "docker.io/library/busybox:latest"' \
		"$L/index.json" >"$L/index.new"
	mv "$L/index.new" "$L/index.json"
}

go_arch() {
	case $(uname -m) in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	armv7l) echo arm ;;
	i?86) echo 386 ;;
	ppc64le) echo ppc64le ;;
	s390x) echo s390x ;;
	riscv64) echo riscv64 ;;
	*) uname -m ;;
	esac
}

# ---- per case ---------------------------------------------------------------------

case_ctx() { # CASE_DIR CTX: the context = the case directory minus the harness files
	local src=$1 ctx=$2 f
	mkdir -p "$ctx"
	cp -a "$src/." "$ctx/"
	for f in "${HARNESS_FILES[@]}"; do
		rm -f "$ctx/$f"
	done
	if [ -f "$src/setup.sh" ]; then
		(cd "$ctx" && bash -e "$src/setup.sh")
	fi
}

case_args() { # CASE_DIR: the extra build flags (shell words) in $ARGS
	ARGS=()
	if [ -f "$1/args" ]; then
		# shellcheck disable=SC2207
		eval "ARGS=($(grep -v '^#' "$1/args"))"
	fi
}

# unpack_layout LAYOUT BUNDLE: the one image of the layout, by its ref.name
# (one is added when the layout names none).
unpack_layout() {
	local L=$1 B=$2 tag
	tag=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"] // empty' "$L/index.json")
	if [ -z "$tag" ]; then
		[ "$(jq '.manifests | length' "$L/index.json")" = 1 ] ||
			fail "$L: index.json has several unnamed manifests"
		tag=imgdiff
		jq '.manifests[0].annotations["org.opencontainers.image.ref.name"] = "imgdiff"' \
			"$L/index.json" >"$L/index.new" && mv "$L/index.new" "$L/index.json"
	fi
	umoci_unpack "$L" "$tag" "$B"
	echo "$tag"
}

build_buildah() { # NAME CASE_DIR CTX OUT_LAYOUT
	local name=$1 dir=$2 ctx=$3 out=$4 rc
	set +e
	bh bud --layers --isolation chroot --format oci --pull=never \
		--identity-label=false -t "localhost/bd-$name:latest" \
		"${ARGS[@]}" -f "$ctx/Dockerfile" "$ctx" >"$out.log" 2>&1
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		tail -n 30 "$out.log"
		fail "buildah bud failed (exit $rc)"
	fi
	bh push "localhost/bd-$name:latest" "oci:$out:latest" >>"$out.log" 2>&1 || {
		tail -n 20 "$out.log"
		fail "buildah push failed"
	}
}

build_cairn() { # NAME CTX OUT_LAYOUT
	local name=$1 ctx=$2 out=$3 rc t0 t1
	t0=$(date +%s%N)
	set +e
	"$CAIRN" --root "$CSTORE" build --progress plain -t "bd-$name:latest" \
		--output "type=oci,dest=$out,tar=false" "${ARGS[@]}" \
		-f "$ctx/Dockerfile" "$ctx" >"$out.log" 2>&1
	rc=$?
	set -e
	t1=$(date +%s%N)
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$out.log"
		fail "cairn build failed (exit $rc)"
	fi
	[ -f "$out/index.json" ] || {
		tail -n 20 "$out.log"
		fail "cairn build wrote no OCI layout at $out"
	}
	echo "cairn build took $(((t1 - t0) / 1000000)) ms"
}

t_case() { # NAME
	local name=$1 dir=$CORPUS/$1 cw=$W/case-$1
	mkdir -p "$cw"
	case_ctx "$dir" "$cw/ctx"
	case_args "$dir"
	echo "args: ${ARGS[*]}"
	if [ -f "$dir/cairn-only" ]; then
		echo "golden case (cairn only): $(head -n1 "$dir/cairn-only")"
		[ "$HAVE_BUILD" = 1 ] || return 0
		build_cairn "$name" "$cw/ctx" "$cw/cairn-oci"
		local tb
		tb=$(unpack_layout "$cw/cairn-oci" "$cw/cairn-bundle")
		local g=()
		[ -f "$dir/expect-tree" ] && g+=(--expect-tree "$dir/expect-tree")
		[ -f "$dir/expect" ] && g+=(--expect "$dir/expect")
		python3 "$IMGDIFF" "$cw/cairn-bundle" --layout-b "$cw/cairn-oci:$tb" "${g[@]}"
		return
	fi
	build_buildah "$name" "$dir" "$cw/ctx" "$cw/buildah-oci"
	local ta
	ta=$(unpack_layout "$cw/buildah-oci" "$cw/buildah-bundle")
	if [ "$HAVE_BUILD" != 1 ]; then
		echo "buildah side built; cairn build not available"
		return 0
	fi
	build_cairn "$name" "$cw/ctx" "$cw/cairn-oci"
	local tb acc=()
	tb=$(unpack_layout "$cw/cairn-oci" "$cw/cairn-bundle")
	[ -f "$dir/expect-diff" ] && acc=(--accept "$dir/expect-diff")
	python3 "$IMGDIFF" "$cw/buildah-bundle" "$cw/cairn-bundle" \
		--layout-a "$cw/buildah-oci:$ta" --layout-b "$cw/cairn-oci:$tb" \
		--name-a buildah --name-b cairn --stubs-a "${acc[@]}"
}

# ---- setup ----------------------------------------------------------------------

t_setup() {
	local tar
	tar=$(fixture_busybox)
	echo "busybox rootfs: $tar"
	make_base_layout "$tar" "$W/busybox-oci"
	# (skopeo names the image; `buildah pull oci:DIR` would name it after
	# DIR, which must then be lower case)
	boxed skopeo --insecure-policy copy "oci:$W/busybox-oci:latest" \
		containers-storage:localhost/busybox:latest >"$W/bh-pull.log" 2>&1 || {
		cat "$W/bh-pull.log"
		fail "copying the base into buildah's storage failed"
	}
	bh images
	must "$CAIRN" --root "$CSTORE" load -i "$W/busybox-oci"
	echo "$RUN_OUT"
	must "$CAIRN" --root "$CSTORE" images
	echo "$RUN_OUT"
	touch "$W/setup.ok"
}

CSTORE=$W/cairn-store
export CSTORE
HAVE_BUILD=0
if "$CAIRN" build --help >/dev/null 2>&1; then
	HAVE_BUILD=1
fi

run_test "setup: busybox base in buildah's storage and the cairn store" t_setup
[ -f "$W/setup.ok" ] || bail_out "setup failed"

for d in "$CORPUS"/*/; do
	name=$(basename "$d")
	[ -f "$d/Dockerfile" ] || continue
	if [ -n "${BUILD_DIFF_CASES:-}" ] && ! [[ $name =~ $BUILD_DIFF_CASES ]]; then
		continue
	fi
	if [ -f "$d/cairn-only" ]; then
		desc="case $name: cairn == golden"
	else
		desc="case $name: cairn == buildah"
	fi
	if [ "$HAVE_BUILD" != 1 ]; then
		# the oracle side is still built and checked; the comparison is skipped
		if [ ! -f "$d/cairn-only" ]; then
			run_test "case $name: buildah builds it" t_case "$name"
		fi
		tap_skip "$desc" "cairn build not available"
		continue
	fi
	run_test "$desc" t_case "$name"
done
tap_done
