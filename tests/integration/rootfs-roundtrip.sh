#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/rootfs-roundtrip.sh: a root filesystem goes through cairn
# and comes out identical.
#
# * The Debian bookworm minbase tarball (debootstrap) is imported, saved as
#   an OCI layout directory, an OCI archive and a Docker archive; umoci
#   unpacks the OCI forms, skopeo converts the Docker archive to an OCI
#   layout that umoci unpacks.  Each unpacked rootfs must equal GNU tar's
#   extraction of the original tarball: paths, types, modes (suid/sgid/
#   sticky), owners, sizes, contents, symlink targets, device numbers,
#   hardlink groups, xattrs, and mtimes (to the second).
# * A synthetic tree with every special case (see make_special_tree in
#   lib.sh) goes the same ways; in addition its sparse file must not be
#   stored as data, the exported layer must carry it as a sparse entry, and
#   nanosecond mtimes must survive into the layer tar.
# * A foreign image (umoci insert of the special tree) loaded and re-saved
#   with forced recompression (so the layer is re-exported by cairn) unpacks
#   identical as well.

source "$(dirname "$0")/lib.sh"
it_init umoci skopeo jq getfattr setfattr setfacl mknod gzip
ROOTFS=$(fixture_rootfs) || bail_out "could not build the rootfs fixture (debootstrap)"

W=$IT_TMP/w
mkdir -p "$W"
new_store
# the special tree gets a store of its own (its stored size is checked)
SPECIAL_STORE=$IT_TMP/store-special
export W ROOTFS SPECIAL_STORE

# GNU tar's view of the layer: the uncompressed layer blob of an OCI layout
# (first layer) into FILE.
layer_tar() { # LAYOUT REFNAME OUT
	local m l mt
	m=$(oci_manifest_digest "$1" "$2")
	l=$(jq -er '.layers[0].digest' "$1/blobs/sha256/${m#sha256:}")
	mt=$(jq -er '.layers[0].mediaType' "$1/blobs/sha256/${m#sha256:}")
	case $mt in
	*+gzip) gzip -dc "$1/blobs/sha256/${l#sha256:}" >"$3" ;;
	*+zstd) zstd -qdc "$1/blobs/sha256/${l#sha256:}" >"$3" ;;
	*.tar | *.tar.v1) cp "$1/blobs/sha256/${l#sha256:}" "$3" ;;
	*) fail "unexpected layer media type $mt" ;;
	esac
}

# The OCI layout's manifest/config are consistent: config diff_ids are the
# sha256 of the uncompressed layers, blobs hash to their names.
check_layout() { # LAYOUT REFNAME
	local m cfg n i d
	verify_blobs "$1"
	jq -e '.schemaVersion == 2' "$1/index.json" >/dev/null || fail "index.json schemaVersion"
	[ -f "$1/oci-layout" ] || fail "no oci-layout file"
	jq -e '.imageLayoutVersion == "1.0.0"' "$1/oci-layout" >/dev/null
	m=$(oci_manifest_digest "$1" "$2")
	cfg=$(jq -er '.config.digest' "$1/blobs/sha256/${m#sha256:}")
	n=$(jq -er '.layers | length' "$1/blobs/sha256/${m#sha256:}")
	for ((i = 0; i < n; i++)); do
		d=$(jq -er ".rootfs.diff_ids[$i]" "$1/blobs/sha256/${cfg#sha256:}")
		local l mt u
		l=$(jq -er ".layers[$i].digest" "$1/blobs/sha256/${m#sha256:}")
		mt=$(jq -er ".layers[$i].mediaType" "$1/blobs/sha256/${m#sha256:}")
		case $mt in
		*+gzip) u=$(gzip -dc "$1/blobs/sha256/${l#sha256:}" | sha256sum | cut -d' ' -f1) ;;
		*+zstd) u=$(zstd -qdc "$1/blobs/sha256/${l#sha256:}" | sha256sum | cut -d' ' -f1) ;;
		*) u=${l#sha256:} ;;
		esac
		assert_eq "sha256:$u" "$d" "diff_id of layer $i"
		# the descriptor size is the blob size
		assert_eq "$(stat -c %s "$1/blobs/sha256/${l#sha256:}")" \
			"$(jq -er ".layers[$i].size" "$1/blobs/sha256/${m#sha256:}")" "layer $i size"
	done
}

# ---- the Debian root filesystem ----------------------------------------------

t_import_rootfs() {
	extract_ref "$ROOTFS" "$W/rootfs-ref"
	must cairn import "$ROOTFS" debian:bookworm
	assert_match "$RUN_OUT" '^sha256:[0-9a-f]{64}$' "import prints the image id"
	assert_fsck_clean
}

t_rootfs_oci_dir() {
	must cairn save debian:bookworm --format oci-dir -o "$W/rootfs-oci"
	check_layout "$W/rootfs-oci" bookworm
	jq -e '.manifests[0].annotations["io.containerd.image.name"] == "docker.io/library/debian:bookworm"' \
		"$W/rootfs-oci/index.json" >/dev/null || fail "io.containerd.image.name annotation: $(cat "$W/rootfs-oci/index.json")"
	umoci_unpack "$W/rootfs-oci" bookworm "$W/u-rootfs-oci"
	tree_diff "$W/rootfs-ref" "$W/u-rootfs-oci/rootfs" --mtime
	rm -rf "$W/u-rootfs-oci"
}

t_rootfs_oci_archive() {
	must cairn save debian:bookworm --format oci -o "$W/rootfs-oci.tar"
	mkdir "$W/rootfs-ocitar"
	tar -xf "$W/rootfs-oci.tar" -C "$W/rootfs-ocitar"
	check_layout "$W/rootfs-ocitar" bookworm
	umoci_unpack "$W/rootfs-ocitar" bookworm "$W/u-rootfs-ocitar"
	tree_diff "$W/rootfs-ref" "$W/u-rootfs-ocitar/rootfs" --mtime
	rm -rf "$W/u-rootfs-ocitar" "$W/rootfs-ocitar"
}

t_rootfs_docker() {
	must cairn save debian:bookworm --format docker -o "$W/rootfs-docker.tar"
	tar -xOf "$W/rootfs-docker.tar" manifest.json | jq -e '.[0].RepoTags == ["debian:bookworm"]' >/dev/null ||
		fail "manifest.json RepoTags: $(tar -xOf "$W/rootfs-docker.tar" manifest.json)"
	must skopeo --insecure-policy copy -q "docker-archive:$W/rootfs-docker.tar" "oci:$W/rootfs-skopeo:t"
	umoci_unpack "$W/rootfs-skopeo" t "$W/u-rootfs-docker"
	tree_diff "$W/rootfs-ref" "$W/u-rootfs-docker/rootfs" --mtime
	rm -rf "$W/u-rootfs-docker" "$W/rootfs-skopeo"
}

# ---- the synthetic tree ---------------------------------------------------------

t_special_fixture() {
	make_special_tree "$W/special-src"
	tar_tree "$W/special-src" "$W/special.tar"
	# the same tree without --acls: ACLs only as SCHILY.xattr.system.posix_acl_*
	tar --format=posix --numeric-owner --xattrs --xattrs-include='*' --sparse \
		-C "$W/special-src" -cpf "$W/special-xattrs.tar" . 2>/dev/null
	extract_ref "$W/special.tar" "$W/special-ref"
	# The fixture itself must carry everything (else the test proves nothing).
	tree_diff "$W/special-src" "$W/special-ref" --mtime-ns --exclude dev/socket
	local l
	l=$(tree_list "$W/special-ref")
	for want in security.capability= system.posix_acl_access= system.posix_acl_default= \
		trusted.overlay.test= user.comment= ' 4755 ' ' 2711 ' ' 1777 ' 'rdev=300:70000' ' fifo ' \
		'link=hl/a' 'uid=3000000'; do
		assert_contains "$l" "$want" "special tree reference"
	done
}

t_special_import() {
	STORE=$SPECIAL_STORE
	local acl_err=""
	run cairn import "$W/special.tar" special:v1
	if [ "$RUN_RC" -ne 0 ]; then
		# keep checking the rest with the --xattrs-only tar, fail at the end
		acl_err="the tar written with --acls (GNU tar's default ACL records) was refused: $RUN_ERR"
		info "$acl_err"
		must cairn import "$W/special-xattrs.tar" special:v1
	fi
	must cairn du --json
	echo "$RUN_OUT"
	local stored
	stored=$(jq -er '.stored_bytes' <<<"$RUN_OUT")
	info "special tree (1 GiB sparse file, 128 KiB data): stored_bytes=$stored, store dir $(du -sb "$STORE" | cut -f1) bytes"
	assert_le "$stored" $((8 << 20)) "stored bytes for a tree whose only big file is 1 GiB sparse"
	assert_le "$(du -sk "$STORE" | cut -f1)" $((64 << 10)) "store directory KiB on disk"
	assert_fsck_clean
	[ -z "$acl_err" ] || fail "$acl_err"
}

# The downstream special-tree tests need special:v1 (made by
# t_special_import, from the --xattrs-only tar if the --acls one is refused).
ensure_special() {
	run cairn inspect special:v1
	if [ "$RUN_RC" -ne 0 ]; then
		info "special:v1 missing (the --acls tar was refused): using the --xattrs-only tar for this test"
		must cairn import "$W/special-xattrs.tar" special:v1
	fi
}

t_special_oci_dir() {
	STORE=$SPECIAL_STORE
	ensure_special
	must cairn save special:v1 --format oci-dir -o "$W/special-oci"
	check_layout "$W/special-oci" v1
	umoci_unpack "$W/special-oci" v1 "$W/u-special-oci"
	tree_diff "$W/special-ref" "$W/u-special-oci/rootfs" --mtime
	info "umoci-unpacked sparse file: $(du -k "$W/u-special-oci/rootfs/sparse" | cut -f1) KiB allocated of 1048576 KiB"
	rm -rf "$W/u-special-oci"
}

t_special_oci_archive() {
	STORE=$SPECIAL_STORE
	ensure_special
	must cairn save special:v1 -o "$W/special-oci.tar"
	mkdir "$W/special-ocitar"
	tar -xf "$W/special-oci.tar" -C "$W/special-ocitar"
	check_layout "$W/special-ocitar" v1
	umoci_unpack "$W/special-ocitar" v1 "$W/u-special-ocitar"
	tree_diff "$W/special-ref" "$W/u-special-ocitar/rootfs" --mtime
	rm -rf "$W/u-special-ocitar"
}

t_special_docker() {
	STORE=$SPECIAL_STORE
	ensure_special
	must cairn save special:v1 --format docker -o "$W/special-docker.tar"
	must skopeo --insecure-policy copy -q "docker-archive:$W/special-docker.tar" "oci:$W/special-skopeo:t"
	umoci_unpack "$W/special-skopeo" t "$W/u-special-docker"
	tree_diff "$W/special-ref" "$W/u-special-docker/rootfs" --mtime
	rm -rf "$W/u-special-docker"
}

# The layer tar itself, read by GNU tar: nanosecond mtimes, sparse entry.
t_special_layer_tar() {
	STORE=$SPECIAL_STORE
	ensure_special
	must cairn save special:v1 --format oci-dir --compression none -o "$W/special-raw"
	check_layout "$W/special-raw" v1
	layer_tar "$W/special-raw" v1 "$W/special-layer.tar"
	local sz
	sz=$(stat -c %s "$W/special-layer.tar")
	info "uncompressed layer tar of the special tree: $sz bytes"
	# nanosecond mtimes, every entry but the root, as GNU tar lists them
	# (fields: mode owner size date time name...; names normalised to no
	# leading ./ and no trailing /, the root entry dropped)
	local norm='{n=$6; sub(/^\.\//,"",n); sub(/\/$/,"",n); if (n != "" && n != ".") print $4, $5, n}'
	TZ=UTC tar --full-time -tvf "$W/special.tar" | awk "$norm" | LC_ALL=C sort >"$W/ts-orig"
	TZ=UTC tar --full-time -tvf "$W/special-layer.tar" | awk "$norm" | LC_ALL=C sort >"$W/ts-layer"
	if ! diff -u "$W/ts-orig" "$W/ts-layer" >&2; then
		fail "mtimes (ns) or names differ between the imported tar and the exported layer"
	fi
	grep -q '\.[0-9]\{9\}' "$W/ts-layer" || fail "no nanosecond timestamps in the layer listing"
	# GNU tar's extraction of the layer is the same tree, to the nanosecond
	mkdir "$W/special-gnu"
	tar --xattrs --xattrs-include='*' --acls --numeric-owner -xpf "$W/special-layer.tar" -C "$W/special-gnu"
	# (GNU tar does not restore ACLs from SCHILY.xattr.system.posix_acl_*,
	# the form OCI layers use; umoci checks them in the tests above)
	tree_diff "$W/special-ref" "$W/special-gnu" --mtime-ns --no-root --skip-xattr system.posix_acl_
	# holes come back as holes: the layer carries the sparse file as a
	# sparse entry, so it is far smaller than 1 GiB and GNU tar recreates holes
	assert_le "$sz" $((64 << 20)) "uncompressed layer tar size (1 GiB sparse file must be a sparse entry)"
	assert_le "$(du -k "$W/special-gnu/sparse" | cut -f1)" $((16 << 10)) "KiB allocated for the extracted sparse file"
}

# A foreign image (umoci's own layer, with ACLs as SCHILY.xattr.system.*)
# re-exported through cairn's layer model.  umoci insert SRC / writes a "/"
# entry for the root directory, as images made that way have.
foreign_image() { # LAYOUT TARGET
	umoci init --layout "$1" >/dev/null
	umoci new --image "$1:t" >/dev/null
	if [ ! -d "$W/special-small" ]; then
		cp -a "$W/special-ref" "$W/special-small"
		rm -f "$W/special-small/sparse"
	fi
	umoci insert --image "$1:t" "$W/special-small" "$2" >/dev/null
}

t_foreign_root_entry() {
	foreign_image "$W/foreign-root" /
	gzip -dc "$W/foreign-root/blobs/sha256/$(jq -r '.layers[0].digest' "$W/foreign-root/blobs/sha256/$(oci_manifest_digest "$W/foreign-root" t | cut -d: -f2)" | cut -d: -f2)" |
		tar -t 2>/dev/null | head -n1 >"$W/first-entry" || true
	echo "first entry of umoci's layer: $(cat "$W/first-entry")"
	must cairn load -i "$W/foreign-root"
	echo "$RUN_OUT"
}

t_foreign_reexport() {
	foreign_image "$W/foreign" /srv
	umoci_unpack "$W/foreign" t "$W/u-foreign-direct"
	must cairn load -i "$W/foreign"
	local ref
	ref=$(loaded_ref "$RUN_OUT")
	must cairn save "$ref" --format oci-dir --compression gzip -o "$W/foreign-resaved"
	local tag
	tag=$(jq -er '.manifests[0].annotations["org.opencontainers.image.ref.name"] // empty' "$W/foreign-resaved/index.json" || true)
	if [ -z "$tag" ]; then
		# saved by id: name it for umoci
		tag=t
		jq '.manifests[0].annotations["org.opencontainers.image.ref.name"] = "t"' "$W/foreign-resaved/index.json" >"$W/idx" &&
			mv "$W/idx" "$W/foreign-resaved/index.json"
	fi
	check_layout "$W/foreign-resaved" "$tag"
	umoci_unpack "$W/foreign-resaved" "$tag" "$W/u-foreign-resaved"
	tree_diff "$W/u-foreign-direct/rootfs" "$W/u-foreign-resaved/rootfs" --mtime
	# and the ACLs really are there
	tree_list "$W/u-foreign-resaved/rootfs" >"$W/foreign.list"
	grep -q 'system.posix_acl_default=' "$W/foreign.list" || fail "ACLs lost"
}

run_test "import the debootstrap rootfs tarball" t_import_rootfs
run_test "rootfs: save oci-dir, umoci unpack equals the original" t_rootfs_oci_dir
run_test "rootfs: save oci archive, umoci unpack equals the original" t_rootfs_oci_archive
run_test "rootfs: save docker archive, skopeo+umoci unpack equals the original" t_rootfs_docker
run_test "special tree fixture (tar keeps every case)" t_special_fixture
run_test "special tree: import, 1 GiB sparse file not stored as data" t_special_import
run_test "special tree: oci-dir via umoci equals the original" t_special_oci_dir
run_test "special tree: oci archive via umoci equals the original" t_special_oci_archive
run_test "special tree: docker archive via skopeo+umoci equals the original" t_special_docker
run_test "special tree: layer tar keeps ns mtimes and holes (GNU tar view)" t_special_layer_tar
run_test "foreign umoci image with a \"/\" root entry (umoci insert SRC /) loads" t_foreign_root_entry
run_test "foreign umoci image re-exported by cairn (forced gzip) unpacks identical" t_foreign_reexport
t_final_fsck() {
	assert_fsck_clean
	STORE=$SPECIAL_STORE
	assert_fsck_clean
}
run_test "stores are consistent at the end (fsck)" t_final_fsck
tap_done
