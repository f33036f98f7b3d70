#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/identity.sh: images written by other tools keep their
# identity through cairn.
#
# An image is loaded with `cairn load` into a fresh store and saved again
# unchanged; the result must carry the same manifest digest (the descriptor
# in index.json) and exactly the same set of blobs, byte for byte.  Sources:
#   * OCI layouts written by skopeo (Go gzip, zstd, uncompressed layers),
#   * an OCI archive written by skopeo (oci-archive:) and a plain tar of a
#     layout,
#   * a multi-layer umoci image (umoci repack) with whiteouts and an opaque
#     directory,
#   * a hand-made multi-platform index (amd64 + arm64): every platform kept,
#   * Docker archives (skopeo's and cairn's own, and the Docker 25+ form that
#     is an OCI layout plus manifest.json): saved as Docker archive again
#     they keep the config digest, the diff_ids and RepoTags.
# The umoci image with whiteouts is also re-exported through cairn's layer
# model (forced recompression) and must unpack the same.
# Also: forced recompression keeps the config digest and diff_ids, and
# cairn's own export is deterministic (same bytes across saves and stores).

source "$(dirname "$0")/lib.sh"
it_init umoci skopeo jq gzip zstd
ROOTFS=$(fixture_rootfs) || bail_out "could not build the rootfs fixture (debootstrap)"

W=$IT_TMP/w
mkdir -p "$W"
export W ROOTFS

# sha256 of a layer's uncompressed bytes (gzip/zstd/plain by magic).
uncompressed_sha256() {
	local magic
	magic=$(head -c4 "$1" | od -An -tx1 | tr -d ' \n')
	case $magic in
	1f8b*) gzip -dc "$1" | sha256sum | cut -d' ' -f1 ;;
	28b52ffd) zstd -qdc "$1" | sha256sum | cut -d' ' -f1 ;;
	*) sha256_of "$1" ;;
	esac
}

# Blobs reachable from a layout's index.json (manifests, indexes, configs,
# layers), sorted.
reachable_blobs() {
	python3 - "$1" <<'PY'
import json, os, sys
root = sys.argv[1]
seen = set()
def blob(d):
    return os.path.join(root, "blobs", *d.split(":", 1))
def walk(desc):
    d = desc["digest"]
    if d in seen:
        return
    seen.add(d)
    mt = desc.get("mediaType", "")
    if mt.endswith("manifest.v1+json") or mt.endswith("image.index.v1+json") or mt.endswith("manifest.list.v2+json"):
        with open(blob(d), "rb") as f:
            j = json.load(f)
        for m in j.get("manifests", []):
            walk(m)
        if "config" in j:
            walk(j["config"])
        for l in j.get("layers", []):
            walk(l)
with open(os.path.join(root, "index.json"), "rb") as f:
    for m in json.load(f)["manifests"]:
        walk(m)
for d in sorted(seen):
    print(d)
PY
}

# Compares two OCI layouts: same manifest digest(s) in index.json, same
# reachable blobs, every blob byte-identical (names are digests, verified).
same_oci_identity() { # ORIG RESAVED
	local a b me=$BASHPID
	a=$(jq -er '[.manifests[].digest] | sort | join(" ")' "$1/index.json")
	b=$(jq -er '[.manifests[].digest] | sort | join(" ")' "$2/index.json")
	assert_eq "$b" "$a" "manifest digest(s) in index.json"
	verify_blobs "$2"
	reachable_blobs "$1" >"$W/reach-a.$me"
	reachable_blobs "$2" >"$W/reach-b.$me"
	if ! diff -u "$W/reach-a.$me" "$W/reach-b.$me" >&2; then
		fail "reachable blob sets differ"
	fi
	# nothing else in the output layout
	blob_list "$2" >"$W/all-b.$me"
	if ! diff -u "$W/reach-b.$me" "$W/all-b.$me" >&2; then
		fail "the saved layout holds blobs nothing references"
	fi
	echo "identical: manifest $a, $(wc -l <"$W/reach-a.$me") blobs"
}

# load SOURCE into a fresh store, save the loaded image as oci-dir to OUT,
# compare with LAYOUT.
load_save_compare() { # SOURCE LAYOUT OUT
	new_store
	must cairn load -i "$1"
	echo "$RUN_OUT"
	local ref
	ref=$(loaded_ref "$RUN_OUT")
	must cairn save "$ref" --format oci-dir -o "$3"
	same_oci_identity "$2" "$3"
	assert_fsck_clean
}

t_sources() {
	new_store
	must cairn import "$ROOTFS" debian:src
	must cairn save debian:src --format docker -o "$W/cairn-docker.tar"
	skopeo --insecure-policy copy -q "docker-archive:$W/cairn-docker.tar" "oci:$W/sk-gzip:v1"
	skopeo --insecure-policy copy -q --dest-compress-format zstd "docker-archive:$W/cairn-docker.tar" "oci:$W/sk-zstd:v1"
	# skopeo 1.9 always compresses OCI layers: the uncompressed variant is
	# skopeo's layout with its layers decompressed and the manifest rewritten
	python3 - "$W/sk-gzip" "$W/sk-plain" <<'PY'
import gzip, hashlib, json, os, shutil, sys
src, dst = sys.argv[1:3]
shutil.copytree(src, dst)
b = lambda d: os.path.join(dst, "blobs", "sha256", d.split(":", 1)[1])
idx = json.load(open(os.path.join(dst, "index.json")))
desc = idx["manifests"][0]
man = json.load(open(b(desc["digest"])))
for l in man["layers"]:
    raw = gzip.decompress(open(b(l["digest"]), "rb").read())
    os.unlink(b(l["digest"]))
    h = "sha256:" + hashlib.sha256(raw).hexdigest()
    open(b(h), "wb").write(raw)
    l.update(digest=h, size=len(raw), mediaType="application/vnd.oci.image.layer.v1.tar")
os.unlink(b(desc["digest"]))
mb = json.dumps(man, separators=(",", ":")).encode()
h = "sha256:" + hashlib.sha256(mb).hexdigest()
open(b(h), "wb").write(mb)
desc.update(digest=h, size=len(mb))
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PY
	skopeo --insecure-policy copy -q "oci:$W/sk-gzip:v1" "oci-archive:$W/sk-archive.tar:v1"
	skopeo --insecure-policy copy -q "oci:$W/sk-gzip:v1" "docker-archive:$W/sk-docker.tar:example.com/team/app:v1"
	local mt
	for l in sk-gzip sk-zstd sk-plain; do
		mt=$(jq -r '.layers[0].mediaType' "$W/$l/blobs/sha256/$(oci_manifest_digest "$W/$l" v1 | cut -d: -f2)")
		echo "$l: layer media type $mt"
	done
}

t_skopeo_gzip() { load_save_compare "$W/sk-gzip" "$W/sk-gzip" "$W/out-gzip"; }
t_skopeo_zstd() { load_save_compare "$W/sk-zstd" "$W/sk-zstd" "$W/out-zstd"; }
t_skopeo_plain() { load_save_compare "$W/sk-plain" "$W/sk-plain" "$W/out-plain"; }

t_skopeo_oci_archive() {
	mkdir "$W/sk-archive"
	tar -xf "$W/sk-archive.tar" -C "$W/sk-archive"
	new_store
	must cairn load -i "$W/sk-archive.tar"
	local ref
	ref=$(loaded_ref "$RUN_OUT")
	must cairn save "$ref" --format oci -o "$W/out-archive.tar"
	mkdir "$W/out-archive"
	tar -xf "$W/out-archive.tar" -C "$W/out-archive"
	same_oci_identity "$W/sk-archive" "$W/out-archive"
	assert_fsck_clean
}

t_plain_tar_of_layout() {
	tar -C "$W/sk-gzip" -cf "$W/layout-dot.tar" .
	load_save_compare "$W/layout-dot.tar" "$W/sk-gzip" "$W/out-dot"
}

t_umoci_multilayer() {
	local src=$W/umoci-src L=$W/umoci B=$W/umoci-bundle
	# (umoci 0.4.7's `insert` of a file leaves the tar's last block unpadded,
	# an invalid tar; `repack` writes proper ones.  The opaque layer below
	# comes from `insert --opaque` with a 512-byte file, which only lacks
	# the end-of-archive blocks.)
	mkdir -p "$src/opq"
	head -c 512 /dev/urandom >"$src/opq/n"
	umoci init --layout "$L"
	umoci new --image "$L:multi"
	umoci unpack --image "$L:multi" "$B" >/dev/null
	mkdir -p "$B/rootfs/data/etc" "$B/rootfs/data/keep"
	echo a >"$B/rootfs/data/etc/a"
	echo b >"$B/rootfs/data/keep/b"
	echo gone >"$B/rootfs/data/etc/gone"
	umoci repack --image "$L:multi" "$B"
	rm -rf "$B"
	umoci unpack --image "$L:multi" "$B" >/dev/null
	rm "$B/rootfs/data/etc/gone"
	mkdir "$B/rootfs/data/two"
	echo two >"$B/rootfs/data/two/t"
	umoci repack --image "$L:multi" "$B"
	rm -rf "$B"
	umoci insert --image "$L:multi" --opaque "$src/opq" /data/keep
	umoci config --image "$L:multi" --author "cairn tests" --config.env FOO=bar \
		--config.cmd /bin/sh --config.workingdir /data
	umoci gc --layout "$L"
	local m
	m=$(oci_manifest_digest "$L" multi)
	echo "umoci image: $(jq -r '.layers | length' "$L/blobs/sha256/${m#sha256:}") layers"
	# the whiteout and opaque markers are really in the layers
	local l found=""
	for l in $(jq -r '.layers[].digest' "$L/blobs/sha256/${m#sha256:}"); do
		found+=$(python3 -c 'import tarfile,sys; print("\n".join(tarfile.open(sys.argv[1]).getnames()))' \
			"$L/blobs/sha256/${l#sha256:}")$'\n'
	done
	assert_contains "$found" ".wh.gone" "umoci wrote a whiteout"
	assert_contains "$found" ".wh..wh..opq" "umoci wrote an opaque marker"
	load_save_compare "$L" "$L" "$W/out-umoci"
	# the loaded image unpacks the same as the original
	umoci_unpack "$L" multi "$W/u-umoci-orig"
	local tag
	tag=$(jq -er '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$W/out-umoci/index.json")
	umoci_unpack "$W/out-umoci" "$tag" "$W/u-umoci-resaved"
	tree_diff "$W/u-umoci-orig/rootfs" "$W/u-umoci-resaved/rootfs" --mtime
	# re-exported by cairn's layer model (forced recompression): the
	# whiteout and the opaque marker are written in their OCI forms and the
	# image unpacks the same
	local ref
	ref=$(jq -er '.manifests[0].annotations["io.containerd.image.name"] // .manifests[0].annotations["org.opencontainers.image.ref.name"]' "$W/out-umoci/index.json")
	must cairn save "$ref" --format oci-dir --compression gzip -o "$W/out-umoci-re"
	local rm_ found2=""
	rm_=$(oci_manifest_digest "$W/out-umoci-re")
	for l in $(jq -r '.layers[].digest' "$W/out-umoci-re/blobs/sha256/${rm_#sha256:}"); do
		found2+=$(tar -tzf "$W/out-umoci-re/blobs/sha256/${l#sha256:}")$'\n'
	done
	assert_contains "$found2" "data/etc/.wh.gone" "re-exported whiteout"
	assert_contains "$found2" "data/keep/.wh..wh..opq" "re-exported opaque marker"
	tag=$(jq -er '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$W/out-umoci-re/index.json")
	umoci_unpack "$W/out-umoci-re" "$tag" "$W/u-umoci-re"
	tree_diff "$W/u-umoci-orig/rootfs" "$W/u-umoci-re/rootfs" --mtime
}

t_multiplatform() {
	local L=$W/mp a
	umoci init --layout "$L"
	for a in amd64 arm64; do
		umoci new --image "$L:$a"
		umoci unpack --image "$L:$a" "$W/mp-$a" >/dev/null
		echo "$a" >"$W/mp-$a/rootfs/arch"
		umoci repack --image "$L:$a" "$W/mp-$a"
		umoci config --image "$L:$a" --architecture "$a" --os linux
		rm -rf "$W/mp-$a"
	done
	local amd arm amds arms idx idxd
	amd=$(oci_manifest_digest "$L" amd64)
	arm=$(oci_manifest_digest "$L" arm64)
	amds=$(stat -c %s "$L/blobs/sha256/${amd#sha256:}")
	arms=$(stat -c %s "$L/blobs/sha256/${arm#sha256:}")
	idx=$W/mp-index.json
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}}]}' \
		"$amd" "$amds" "$arm" "$arms" >"$idx"
	idxd=$(sha256_of "$idx")
	cp "$idx" "$L/blobs/sha256/$idxd"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"example.com/multi:v1","org.opencontainers.image.ref.name":"v1"}}]}' \
		"$idxd" "$(stat -c %s "$idx")" >"$L/index.json"
	umoci gc --layout "$L"
	new_store
	must cairn load -i "$L"
	echo "$RUN_OUT"
	assert_contains "$RUN_OUT" "example.com/multi:v1" "load names the image from io.containerd.image.name"
	must cairn images --json
	echo "$RUN_OUT"
	local plat
	plat=$(jq -er '.[] | select(.Names | index("example.com/multi:v1")) | .Platform' <<<"$RUN_OUT")
	assert_contains "$plat" "linux/amd64" "Platform of the index"
	assert_contains "$plat" "linux/arm64" "Platform of the index"
	must cairn save example.com/multi:v1 --format oci-dir -o "$W/out-mp"
	same_oci_identity "$L" "$W/out-mp"
	assert_fsck_clean
}

# Docker archive in, Docker archive out: config digest, diff_ids, RepoTags.
docker_identity() { # ARCHIVE NAME
	local me=$BASHPID
	local a=$W/dock-a.$me b=$W/dock-b.$me
	new_store
	must cairn load -i "$1"
	echo "$RUN_OUT"
	assert_contains "$RUN_OUT" "Loaded image: $2" "load output"
	must cairn save "$2" --format docker -o "$W/dock-out.$me.tar"
	mkdir "$a" "$b"
	tar -xf "$1" -C "$a"
	tar -xf "$W/dock-out.$me.tar" -C "$b"
	jq . "$b/manifest.json"
	local ca cb
	ca=$(jq -er '.[0].Config' "$a/manifest.json")
	cb=$(jq -er '.[0].Config' "$b/manifest.json")
	assert_eq "$(sha256_of "$b/$cb")" "$(sha256_of "$a/$ca")" "config digest"
	cmp "$a/$ca" "$b/$cb"
	assert_eq "$(jq -c '.[0].RepoTags' "$b/manifest.json")" "[\"$2\"]" "RepoTags"
	local diffids n i got
	diffids=$(jq -c '.rootfs.diff_ids' "$b/$cb")
	n=$(jq -er '.[0].Layers | length' "$b/manifest.json")
	assert_eq "$n" "$(jq -er '.[0].Layers | length' "$a/manifest.json")" "layer count"
	for ((i = 0; i < n; i++)); do
		got=$(uncompressed_sha256 "$b/$(jq -er ".[0].Layers[$i]" "$b/manifest.json")")
		assert_eq "sha256:$got" "$(jq -er ".[$i]" <<<"$diffids")" "layer $i content vs diff_id"
	done
	# and the docker archive is accepted by skopeo
	skopeo --insecure-policy inspect "docker-archive:$W/dock-out.$me.tar" >/dev/null
	# the same image saved as OCI keeps the config digest (= the image id)
	must cairn save "$2" --format oci-dir -o "$W/dock-oci.$me"
	local m
	m=$(oci_manifest_digest "$W/dock-oci.$me")
	assert_eq "$(jq -er .config.digest "$W/dock-oci.$me/blobs/sha256/${m#sha256:}")" \
		"sha256:$(sha256_of "$a/$ca")" "config digest after saving as OCI"
	assert_fsck_clean
}

t_docker_skopeo() { docker_identity "$W/sk-docker.tar" example.com/team/app:v1; }
t_docker_cairn() { docker_identity "$W/cairn-docker.tar" debian:src; }

# `docker save` of Docker 25+ writes an OCI layout plus manifest.json in one
# tar (uncompressed layers under blobs/sha256, index.json annotated with
# io.containerd.image.name).  It loads under its name and keeps its manifest
# digest; saved as Docker archive it keeps config and diff_ids.
t_docker25_archive() {
	local d=$W/docker25
	cp -a "$W/sk-plain" "$d"
	local m cfg
	m=$(oci_manifest_digest "$d" v1)
	cfg=$(jq -er .config.digest "$d/blobs/sha256/${m#sha256:}")
	jq --arg c "blobs/sha256/${cfg#sha256:}" \
		'[{Config: $c, RepoTags: ["modern:v1"], Layers: [.layers[].digest | "blobs/sha256/" + ltrimstr("sha256:")]}]' \
		"$d/blobs/sha256/${m#sha256:}" >"$d/manifest.json"
	jq '.manifests[0].annotations = {"io.containerd.image.name": "docker.io/library/modern:v1", "org.opencontainers.image.ref.name": "v1"}' \
		"$d/index.json" >"$d/index.new" && mv "$d/index.new" "$d/index.json"
	printf '{"docker.io/library/modern":{"v1":"%s"}}' "$m" >"$d/repositories"
	tar -C "$d" -cf "$W/docker25.tar" oci-layout index.json manifest.json repositories blobs
	new_store
	must cairn load -i "$W/docker25.tar"
	echo "$RUN_OUT"
	grep -qx 'Loaded image: modern:v1' <<<"$RUN_OUT" || fail "load output: $RUN_OUT"
	must cairn save modern:v1 --format oci-dir -o "$W/out-docker25"
	assert_eq "$(oci_manifest_digest "$W/out-docker25")" "$m" "manifest digest"
	verify_blobs "$W/out-docker25"
	must cairn save modern:v1 --format docker -o "$W/out-docker25.tar"
	mkdir "$W/out-docker25-x"
	tar -xf "$W/out-docker25.tar" -C "$W/out-docker25-x"
	local c2
	c2=$(jq -er '.[0].Config' "$W/out-docker25-x/manifest.json")
	assert_eq "sha256:$(sha256_of "$W/out-docker25-x/$c2")" "$cfg" "config digest in the Docker archive"
	assert_fsck_clean
}

t_recompress_keeps_ids() {
	new_store
	must cairn load -i "$W/sk-gzip"
	local ref m cfg n i
	ref=$(loaded_ref "$RUN_OUT")
	must cairn save "$ref" --format oci-dir --compression zstd -o "$W/out-rezstd"
	verify_blobs "$W/out-rezstd"
	m=$(oci_manifest_digest "$W/sk-gzip" v1)
	cfg=$(jq -er .config.digest "$W/sk-gzip/blobs/sha256/${m#sha256:}")
	m=$(oci_manifest_digest "$W/out-rezstd")
	assert_eq "$(jq -er .config.digest "$W/out-rezstd/blobs/sha256/${m#sha256:}")" "$cfg" \
		"config digest (image id) after recompression"
	n=$(jq -er '.layers | length' "$W/out-rezstd/blobs/sha256/${m#sha256:}")
	for ((i = 0; i < n; i++)); do
		assert_match "$(jq -er ".layers[$i].mediaType" "$W/out-rezstd/blobs/sha256/${m#sha256:}")" '\+zstd$' "media type"
		local l
		l=$(jq -er ".layers[$i].digest" "$W/out-rezstd/blobs/sha256/${m#sha256:}")
		assert_eq "sha256:$(uncompressed_sha256 "$W/out-rezstd/blobs/sha256/${l#sha256:}")" \
			"$(jq -er ".rootfs.diff_ids[$i]" "$W/out-rezstd/blobs/sha256/${cfg#sha256:}")" "layer $i diff_id"
	done
	umoci_unpack "$W/out-rezstd" "$(jq -er '.manifests[0].annotations["org.opencontainers.image.ref.name"] // "v1"' "$W/out-rezstd/index.json")" "$W/u-rezstd" ||
		echo "(umoci could not unpack zstd layers; content checked by diff_id above)"
}

# The original blobs kept for identity are referenced: prune between load
# and save, with other images coming and going, does not lose them.
t_prune_keeps_identity() {
	new_store
	must cairn load -i "$W/sk-zstd"
	local ref
	ref=$(loaded_ref "$RUN_OUT")
	must cairn import "$ROOTFS" other:one
	must cairn rmi other:one
	must cairn prune
	echo "prune: $RUN_OUT"
	assert_fsck_clean
	must cairn save "$ref" --format oci-dir -o "$W/out-pruned"
	same_oci_identity "$W/sk-zstd" "$W/out-pruned"
	# and another tool reads what cairn wrote
	skopeo --insecure-policy inspect --raw "oci:$W/out-pruned" >/dev/null ||
		skopeo --insecure-policy inspect --raw "oci:$W/out-pruned:$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$W/out-pruned/index.json")" >/dev/null
}

t_deterministic() {
	new_store
	must cairn import "$ROOTFS" det:a
	must cairn save det:a --format oci -o "$W/det1.tar"
	must cairn save det:a --format oci -o "$W/det2.tar"
	cmp "$W/det1.tar" "$W/det2.tar" || fail "two saves of one image differ"
	must cairn save det:a --format oci-dir -o "$W/det-a"
	local s1=$STORE
	new_store
	must cairn import "$ROOTFS" det:b
	must cairn save det:b --format oci-dir -o "$W/det-b"
	local ma mb
	ma=$(oci_manifest_digest "$W/det-a")
	mb=$(oci_manifest_digest "$W/det-b")
	assert_eq "$(jq -c '[.layers[].digest]' "$W/det-b/blobs/sha256/${mb#sha256:}")" \
		"$(jq -c '[.layers[].digest]' "$W/det-a/blobs/sha256/${ma#sha256:}")" \
		"gzip layer digest of the same tar imported into two stores"
	local ca cb
	ca=$(jq -er .config.digest "$W/det-a/blobs/sha256/${ma#sha256:}")
	cb=$(jq -er .config.digest "$W/det-b/blobs/sha256/${mb#sha256:}")
	assert_eq "$(jq -c .rootfs.diff_ids "$W/det-b/blobs/sha256/${cb#sha256:}")" \
		"$(jq -c .rootfs.diff_ids "$W/det-a/blobs/sha256/${ca#sha256:}")" "diff_ids across stores"
	echo "store 1 $s1, store 2 $STORE"
}

run_test "make source images with skopeo (gzip, zstd, plain, oci-archive, docker-archive)" t_sources
run_test "skopeo OCI layout (gzip) loaded+saved keeps manifest digest and blobs" t_skopeo_gzip
run_test "skopeo OCI layout (zstd) loaded+saved keeps manifest digest and blobs" t_skopeo_zstd
run_test "OCI layout with uncompressed layers loaded+saved keeps manifest digest and blobs" t_skopeo_plain
run_test "skopeo OCI archive loaded+saved as OCI archive keeps identity" t_skopeo_oci_archive
run_test "tar of an OCI layout (./ prefixed) loaded+saved keeps identity" t_plain_tar_of_layout
run_test "umoci multi-layer image with whiteouts/opaque keeps identity and tree" t_umoci_multilayer
run_test "multi-platform index keeps every platform and its digest" t_multiplatform
run_test "skopeo Docker archive: saved as Docker archive keeps config, diff_ids, RepoTags" t_docker_skopeo
run_test "cairn Docker archive: loaded into a new store and saved keeps config, diff_ids" t_docker_cairn
run_test "Docker 25+ archive (OCI layout + manifest.json) loads by name, keeps identity" t_docker25_archive
run_test "forced recompression (zstd) keeps config digest and diff_ids" t_recompress_keeps_ids
run_test "prune between load and save keeps the identity blobs" t_prune_keeps_identity
run_test "export is deterministic (two saves, two stores)" t_deterministic
tap_done
