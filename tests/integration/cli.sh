#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/cli.sh: the cairn command line contract.
#
# images (table, -q, --json), inspect (fields, Config.rootfs.diff_ids ==
# Layers, Id == config digest), tag, rmi (by name, last name, unknown name),
# du --json fields, prune (everything freed after rmi of everything), fsck,
# --root vs CAIRN_ROOT, the "latest" default, references (familiar names,
# localhost:5000/a/b:v1, image id prefixes, invalid references), import
# options (--platform, -m), import from stdin and of .tar.gz/.tar.zst/.tar.xz
# (same image as the plain tar), multi-image archives (OCI and Docker), save
# to stdout, error messages (one line, "cairn" prefix, non-zero exit).

source "$(dirname "$0")/lib.sh"
it_init jq gzip zstd xz

W=$IT_TMP/w
mkdir -p "$W/tree/etc" "$W/tree/bin" "$W/tree2"
printf 'cli\n' >"$W/tree/etc/hostname"
head -c $((2 << 20)) /dev/urandom >"$W/tree/bin/blob"
ln -s blob "$W/tree/bin/link"
touch -h -d @1700000000 "$W/tree/etc/hostname" "$W/tree/bin/blob" "$W/tree/bin/link" "$W/tree/etc" "$W/tree/bin" "$W/tree"
tar --numeric-owner -C "$W/tree" -cf "$W/t.tar" .
printf 'second\n' >"$W/tree2/second"
tar --numeric-owner -C "$W/tree2" -cf "$W/t2.tar" .
gzip -c "$W/t.tar" >"$W/t.tar.gz"
zstd -q -c "$W/t.tar" >"$W/t.tar.zst"
xz -c "$W/t.tar" >"$W/t.tar.xz"
new_store
export W STORE

case $(uname -m) in
x86_64) HOSTARCH=amd64 ;;
aarch64) HOSTARCH=arm64 ;;
*) HOSTARCH=$(uname -m) ;;
esac
export HOSTARCH

# A usage or lookup error: non-zero, nothing on stdout, one line on stderr
# starting with "cairn", containing WORD.
expect_error() { # WORD CMD...
	local word=$1
	shift
	run "$@"
	echo "exit $RUN_RC; stderr: $RUN_ERR"
	[ "$RUN_RC" -ne 0 ] || fail "succeeded: $*"
	[ "$RUN_RC" -lt 128 ] || fail "died of a signal: $*"
	assert_eq "$(count_lines "$RUN_ERR")" 1 "stderr lines of: $*"
	assert_match "$RUN_ERR" '^cairn[ :]' "error prefix"
	assert_contains "$RUN_ERR" "$word" "error message of: $*"
}

# cairn inspect NAME --json, normalised to one object in RUN_OUT (the
# contract says an object; Docker prints an array of one: both accepted).
inspect_obj() { # NAME
	must cairn inspect "$1" --json
	RUN_OUT=$(jq -e 'if type == "array" then (if length == 1 then .[0] else error("inspect printed \(length) objects") end) else . end' <<<"$RUN_OUT") ||
		fail "inspect $1: not one JSON object"
}

t_import() {
	must cairn import "$W/t.tar" cli-test
	assert_match "$RUN_OUT" '^sha256:[0-9a-f]{64}$' "import output"
	echo "$RUN_OUT" >"$W/id"
	assert_fsck_clean
}

t_images_table() {
	local id
	id=$(cat "$W/id")
	must cairn images
	echo "$RUN_OUT"
	assert_match "$(head -n1 <<<"$RUN_OUT")" '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$' "table header"
	local row
	row=$(grep -E '^cli-test +latest +' <<<"$RUN_OUT") || fail "no row 'cli-test latest' in: $RUN_OUT"
	assert_contains "$row" "${id:7:12}" "short image id in the row"
	must cairn images -q
	assert_eq "$(count_lines "$RUN_OUT")" 1 "images -q lines"
	[[ ${id#sha256:} == "${RUN_OUT#sha256:}"* ]] || fail "images -q [$RUN_OUT] is not a prefix of $id"
	[ ${#RUN_OUT} -ge 12 ] || fail "images -q id too short: $RUN_OUT"
}

t_images_json() {
	local id
	id=$(cat "$W/id")
	must cairn images --json
	echo "$RUN_OUT"
	jq -e 'type == "array" and length == 1' <<<"$RUN_OUT" >/dev/null || fail "not an array of one"
	jq -e --arg id "$id" '.[0].Id == $id' <<<"$RUN_OUT" >/dev/null || fail "Id"
	jq -e '.[0].Names == ["cli-test:latest"]' <<<"$RUN_OUT" >/dev/null || fail "Names"
	jq -e '.[0].Created | type == "number" or type == "string"' <<<"$RUN_OUT" >/dev/null || fail "Created"
	jq -e '.[0].Size >= 2097152' <<<"$RUN_OUT" >/dev/null || fail "Size (a 2 MiB file is in the image)"
	jq -e --arg p "linux/$HOSTARCH" '.[0].Platform == $p' <<<"$RUN_OUT" >/dev/null || fail "Platform"
	jq -e '.[0].Layers == 1' <<<"$RUN_OUT" >/dev/null || fail "Layers"
}

t_inspect() {
	local id k
	id=$(cat "$W/id")
	inspect_obj cli-test
	echo "$RUN_OUT" >"$W/inspect.json"
	jq . "$W/inspect.json"
	for k in Id RepoTags Digest Architecture Os Created Size Layers Manifest Config; do
		jq -e --arg k "$k" 'has($k)' "$W/inspect.json" >/dev/null || fail "inspect has no $k"
	done
	jq -e --arg id "$id" '.Id == $id' "$W/inspect.json" >/dev/null || fail "Id"
	jq -e '.RepoTags == ["cli-test:latest"]' "$W/inspect.json" >/dev/null || fail "RepoTags"
	jq -e --arg a "$HOSTARCH" '.Architecture == $a and .Os == "linux"' "$W/inspect.json" >/dev/null || fail "Architecture/Os"
	jq -e '.Config.rootfs.diff_ids == .Layers' "$W/inspect.json" >/dev/null || fail "Config.rootfs.diff_ids != Layers"
	jq -e '.Layers | length == 1' "$W/inspect.json" >/dev/null || fail "one layer"
	jq -e '.Manifest.config.digest == .Id' "$W/inspect.json" >/dev/null || fail "Manifest.config.digest != Id"
	jq -e '.Manifest.layers | length == 1' "$W/inspect.json" >/dev/null || fail "Manifest.layers"
	# Id is the config digest; Digest is the manifest digest (of the image as
	# saved by default, gzip); Layers are the sha256 of the uncompressed layer
	must cairn save cli-test --format oci-dir -o "$W/insp-oci"
	local m cfg l
	m=$(oci_manifest_digest "$W/insp-oci")
	cfg=$(jq -er .config.digest "$W/insp-oci/blobs/sha256/${m#sha256:}")
	assert_eq "$cfg" "$id" "config digest of the saved image vs Id"
	jq -e --arg m "$m" '.Digest == $m' "$W/inspect.json" >/dev/null ||
		fail "Digest $(jq -r .Digest "$W/inspect.json") is not the manifest digest $m"
	jq -e --arg m "$m" '.Manifest == input' "$W/inspect.json" "$W/insp-oci/blobs/sha256/${m#sha256:}" >/dev/null ||
		fail "inspect's Manifest is not the saved manifest"
	l=$(jq -er '.layers[0].digest' "$W/insp-oci/blobs/sha256/${m#sha256:}")
	l=sha256:$(gzip -dc "$W/insp-oci/blobs/sha256/${l#sha256:}" | sha256sum | cut -d' ' -f1)
	jq -e --arg l "$l" '.Layers[0] == $l' "$W/inspect.json" >/dev/null || fail "Layers[0] is not the uncompressed layer digest $l"
	# without --json: still JSON
	must cairn inspect cli-test
	jq -e . <<<"$RUN_OUT" >/dev/null || fail "inspect without --json is not JSON"
}

t_import_options() {
	new_store
	must cairn import --platform linux/arm64 -m "imported by the cli test" "$W/t2.tar" plat:arm
	inspect_obj plat:arm
	jq -e '.Architecture == "arm64" and .Os == "linux"' <<<"$RUN_OUT" >/dev/null || fail "--platform linux/arm64: $RUN_OUT"
	jq -e '.Config.architecture == "arm64"' <<<"$RUN_OUT" >/dev/null || fail "config architecture"
	jq -e '[.Config.history[]?.comment] | index("imported by the cli test")' <<<"$RUN_OUT" >/dev/null ||
		fail "-m message not in the history: $(jq -c .Config.history <<<"$RUN_OUT")"
	must cairn images --json
	jq -e '.[] | select(.Names | index("plat:arm")) | .Platform == "linux/arm64"' <<<"$RUN_OUT" >/dev/null || fail "images --json Platform"
	must cairn rmi plat:arm
}

t_tag() {
	local id
	id=$(cat "$W/id")
	must cairn tag cli-test other/name:v2
	must cairn images
	echo "$RUN_OUT"
	grep -Eq '^other/name +v2 +' <<<"$RUN_OUT" || fail "tag not listed"
	inspect_obj other/name:v2
	jq -e --arg id "$id" '.Id == $id' <<<"$RUN_OUT" >/dev/null || fail "tag points elsewhere"
	jq -e '.RepoTags | sort == ["cli-test:latest", "other/name:v2"]' <<<"$RUN_OUT" >/dev/null || fail "RepoTags after tag: $(jq -c .RepoTags <<<"$RUN_OUT")"
	must cairn images -q
	assert_eq "$(count_lines "$RUN_OUT")" 1 "one image with two names"
	expect_error "no-such" cairn tag no-such:image x:y
}

t_references() {
	local id
	id=$(cat "$W/id")
	must cairn tag cli-test localhost:5000/a/b:v1
	must cairn tag cli-test docker.io/library/busybox:1.36
	must cairn tag cli-test docker.io/someone/tool
	must cairn images
	echo "$RUN_OUT"
	grep -Eq '^localhost:5000/a/b +v1 ' <<<"$RUN_OUT" || fail "localhost:5000/a/b v1 row"
	grep -Eq '^busybox +1\.36 ' <<<"$RUN_OUT" || fail "docker.io/library/busybox shown as busybox"
	grep -Eq '^someone/tool +latest ' <<<"$RUN_OUT" || fail "docker.io/someone/tool shown as someone/tool latest"
	local r
	for r in localhost:5000/a/b:v1 busybox:1.36 library/busybox:1.36 docker.io/library/busybox:1.36 \
		someone/tool index.docker.io/someone/tool:latest "${id:7:12}" "${id#sha256:}" "$id"; do
		inspect_obj "$r"
		jq -e --arg id "$id" '.Id == $id' <<<"$RUN_OUT" >/dev/null || fail "inspect $r"
	done
	must cairn save localhost:5000/a/b:v1 --format oci-dir -o "$W/ref-oci"
	jq -e '.manifests[0].annotations["io.containerd.image.name"] == "localhost:5000/a/b:v1" and .manifests[0].annotations["org.opencontainers.image.ref.name"] == "v1"' \
		"$W/ref-oci/index.json" >/dev/null || fail "annotations: $(cat "$W/ref-oci/index.json")"
	must cairn save busybox:1.36 --format oci-dir -o "$W/ref-oci2"
	jq -e '.manifests[0].annotations["io.containerd.image.name"] == "docker.io/library/busybox:1.36"' \
		"$W/ref-oci2/index.json" >/dev/null || fail "full name annotation: $(cat "$W/ref-oci2/index.json")"
	must cairn save "${id:7:12}" --format oci-dir -o "$W/ref-oci3"
	verify_blobs "$W/ref-oci3"
	# invalid references are refused with one line
	# (UPPER/case would be valid: an uppercase first component is a domain)
	for r in "upper/CASE:v1" "a::b" "name:tag with space" "name@sha256:abc" ":nope" "a/b:$(printf 't%.0s' {1..130})"; do
		expect_error "" cairn tag cli-test "$r"
	done
	for r in localhost:5000/a/b:v1 busybox:1.36 someone/tool; do
		must cairn rmi "$r"
	done
}

# NAME@sha256:<manifest digest> (Docker's digest reference) resolves.
t_digest_reference() {
	new_store
	must cairn import "$W/t2.tar" dig/est:v1
	local id=$RUN_OUT m
	inspect_obj dig/est:v1
	m=$(jq -er .Digest <<<"$RUN_OUT")
	local r
	for r in "dig/est@$m" "dig/est:v1@$m"; do
		run cairn inspect "$r" --json
		echo "inspect $r: exit $RUN_RC $RUN_ERR"
		[ "$RUN_RC" -eq 0 ] || fail "digest reference $r does not resolve: $RUN_ERR"
		inspect_obj "$r"
		assert_eq "$(jq -r .Id <<<"$RUN_OUT")" "$id" "image of $r"
	done
	must cairn save "dig/est@$m" --format oci-dir -o "$W/dig-oci"
	assert_eq "$(oci_manifest_digest "$W/dig-oci")" "$m" "saved manifest digest"
	expect_error "" cairn inspect "dig/est@sha256:$(printf '0%.0s' {1..64})"
}

t_rmi() {
	local id
	id=$(cat "$W/id")
	must cairn rmi other/name:v2
	run cairn inspect other/name:v2
	[ "$RUN_RC" -ne 0 ] || fail "removed name still resolves"
	must cairn inspect cli-test
	must cairn images -q
	assert_eq "$(count_lines "$RUN_OUT")" 1 "image kept while it has a name"
	expect_error "does-not-exist" cairn rmi does-not-exist:v9
	must cairn rmi cli-test
	must cairn images -q
	assert_eq "$RUN_OUT" "" "image gone with its last name"
	run cairn inspect "$id"
	[ "$RUN_RC" -ne 0 ] || fail "image id still resolves"
	assert_fsck_clean
}

t_rmi_by_id() {
	new_store
	must cairn import "$W/t.tar" byid:one
	local id=$RUN_OUT
	must cairn tag byid:one byid:two
	run cairn rmi "${id:7:12}"
	echo "rmi by id with two names: exit $RUN_RC $RUN_OUT $RUN_ERR"
	if [ "$RUN_RC" -ne 0 ]; then
		# docker refuses without -f when the id has several names
		assert_eq "$(count_lines "$RUN_ERR")" 1 "error lines"
		must cairn rmi -f "${id:7:12}"
	fi
	must cairn images -q
	assert_eq "$RUN_OUT" "" "rmi by id removes the image and all its names"
	assert_fsck_clean
}

t_du_prune() {
	new_store
	must cairn import "$W/t.tar" du:one
	must cairn import "$W/t2.tar" du:two
	must cairn du --json
	echo "$RUN_OUT"
	local k
	for k in images layers blobs contents chunks logical_bytes unique_bytes chunk_bytes stored_bytes \
		file_bytes dedup_ratio compression_ratio; do
		jq -e --arg k "$k" 'has($k) and (.[$k] | type == "number")' <<<"$RUN_OUT" >/dev/null || fail "du --json: $k"
	done
	jq -e '.images == 2 and .layers == 2 and .chunks > 0 and .stored_bytes > 0 and .logical_bytes >= 2097152' \
		<<<"$RUN_OUT" >/dev/null || fail "du --json values"
	must cairn du
	echo "$RUN_OUT"
	[ -n "$RUN_OUT" ] || fail "du prints nothing"
	must cairn rmi du:one du:two
	must cairn du --json
	echo "after rmi: $RUN_OUT"
	must cairn prune
	echo "prune: $RUN_OUT"
	[ -n "$RUN_OUT" ] || fail "prune prints nothing about what it freed"
	must cairn du --json
	echo "after prune: $RUN_OUT"
	jq -e '.images == 0 and .layers == 0 and .blobs == 0 and .contents == 0 and .chunks == 0 and .stored_bytes == 0 and .logical_bytes == 0' \
		<<<"$RUN_OUT" >/dev/null || fail "prune left something: $RUN_OUT"
	assert_fsck_clean
	must cairn prune
	echo "second prune: $RUN_OUT"
}

t_prune_keeps_referenced() {
	new_store
	must cairn import "$W/t.tar" keep:one
	must cairn import "$W/t2.tar" drop:two
	must cairn rmi drop:two
	must cairn prune
	assert_fsck_clean
	must cairn save keep:one --format oci-dir --compression none -o "$W/keep-oci"
	local m l
	m=$(oci_manifest_digest "$W/keep-oci")
	l=$(jq -er '.layers[0].digest' "$W/keep-oci/blobs/sha256/${m#sha256:}")
	mkdir "$W/keep-x"
	tar -xf "$W/keep-oci/blobs/sha256/${l#sha256:}" -C "$W/keep-x"
	cmp "$W/tree/bin/blob" "$W/keep-x/bin/blob"
	must cairn rmi keep:one
	must cairn prune
}

t_root_selection() {
	local a=$IT_TMP/root-a b=$IT_TMP/root-b/nested/store
	run env CAIRN_ROOT="$a" "$CAIRN" import "$W/t2.tar" env:root
	[ "$RUN_RC" -eq 0 ] || fail "import with CAIRN_ROOT: $RUN_ERR"
	[ -d "$a" ] || fail "CAIRN_ROOT store not created"
	must env CAIRN_ROOT="$a" "$CAIRN" images -q
	assert_eq "$(count_lines "$RUN_OUT")" 1 "image in CAIRN_ROOT"
	must env CAIRN_ROOT="$a" "$CAIRN" --root "$b" images -q
	assert_eq "$RUN_OUT" "" "--root wins over CAIRN_ROOT"
	[ -d "$b" ] || fail "--root store (nested, new) not created"
	must env CAIRN_ROOT="$a" "$CAIRN" --root "$b" import "$W/t2.tar" opt:root
	must "$CAIRN" --root "$b" inspect opt:root
	run env CAIRN_ROOT="$a" "$CAIRN" inspect opt:root
	[ "$RUN_RC" -ne 0 ] || fail "image imported with --root visible in CAIRN_ROOT"
}

t_latest_default() {
	new_store
	must cairn import "$W/t2.tar" deflt
	inspect_obj deflt:latest
	jq -e '.RepoTags == ["deflt:latest"]' <<<"$RUN_OUT" >/dev/null || fail "RepoTags: $RUN_OUT"
	must cairn inspect docker.io/library/deflt:latest
	must cairn save deflt --format oci-dir -o "$W/deflt-oci"
	jq -e '.manifests[0].annotations["org.opencontainers.image.ref.name"] == "latest"' "$W/deflt-oci/index.json" >/dev/null ||
		fail "ref.name: $(cat "$W/deflt-oci/index.json")"
	must cairn rmi deflt
}

# The same root filesystem, compressed or from stdin, is the same layer
# (diff_id) in every case.
t_compressed_same_layer() {
	new_store
	must cairn import "$W/t.tar" comp:plain
	inspect_obj comp:plain
	local layers f
	layers=$(jq -c .Layers <<<"$RUN_OUT")
	for f in t.tar.gz t.tar.zst t.tar.xz; do
		must cairn import "$W/$f" "comp:${f##*.}"
		inspect_obj "comp:${f##*.}"
		assert_eq "$(jq -c .Layers <<<"$RUN_OUT")" "$layers" "diff_ids of $f vs the plain tar"
	done
	must cairn import - comp:stdin <"$W/t.tar"
	inspect_obj comp:stdin
	assert_eq "$(jq -c .Layers <<<"$RUN_OUT")" "$layers" "diff_ids of the plain tar from stdin"
	must cairn import - comp:stdin-zst <"$W/t.tar.zst"
	inspect_obj comp:stdin-zst
	assert_eq "$(jq -c .Layers <<<"$RUN_OUT")" "$layers" "diff_ids of the zstd tar from stdin"
	must cairn du --json
	jq -e '.layers == 1' <<<"$RUN_OUT" >/dev/null || fail "one layer in the store: $RUN_OUT"
	assert_fsck_clean
}

# ... and, with SOURCE_DATE_EPOCH fixing the creation time, the same image
# id: the config records nothing about where the tar came from (as Docker's
# import: history has only "created" and the -m comment).
t_compressed_same_id() {
	new_store
	local SOURCE_DATE_EPOCH=1700000000
	export SOURCE_DATE_EPOCH
	must cairn import "$W/t.tar" comp:plain
	local id=$RUN_OUT f bad=""
	for f in t.tar.gz t.tar.zst t.tar.xz; do
		must cairn import "$W/$f" "comp:${f##*.}"
		echo "$f -> $RUN_OUT"
		[ "$RUN_OUT" = "$id" ] || bad+=" $f"
	done
	must cairn import - comp:stdin <"$W/t.tar"
	echo "stdin -> $RUN_OUT"
	[ "$RUN_OUT" = "$id" ] || bad+=" stdin"
	if [ -n "$bad" ]; then
		inspect_obj comp:plain
		jq -c '.Config | {created, history}' <<<"$RUN_OUT"
		inspect_obj comp:gz
		jq -c '.Config | {created, history}' <<<"$RUN_OUT"
		fail "image id differs from the plain tar's ($id) for:$bad"
	fi
}

t_multi_image_archives() {
	new_store
	must cairn import "$W/t.tar" multi/a:v1
	local ida=$RUN_OUT
	must cairn import "$W/t2.tar" multi/b:v2
	local idb=$RUN_OUT
	local fmt
	for fmt in oci docker; do
		must cairn save multi/a:v1 multi/b:v2 --format "$fmt" -o "$W/multi-$fmt.tar"
		local s1=$STORE
		new_store
		must cairn load -i "$W/multi-$fmt.tar"
		echo "$fmt: $RUN_OUT"
		assert_eq "$(grep -c '^Loaded image: ' <<<"$RUN_OUT")" 2 "Loaded image lines ($fmt)"
		grep -qx 'Loaded image: multi/a:v1' <<<"$RUN_OUT" || fail "multi/a:v1 not loaded ($fmt)"
		grep -qx 'Loaded image: multi/b:v2' <<<"$RUN_OUT" || fail "multi/b:v2 not loaded ($fmt)"
		inspect_obj multi/a:v1
		assert_eq "$(jq -r .Id <<<"$RUN_OUT")" "$ida" "id of a after $fmt round trip"
		inspect_obj multi/b:v2
		assert_eq "$(jq -r .Id <<<"$RUN_OUT")" "$idb" "id of b after $fmt round trip"
		assert_fsck_clean
		STORE=$s1
	done
	# skopeo reads the multi-image docker archive too
	if command -v skopeo >/dev/null; then
		skopeo --insecure-policy inspect "docker-archive:$W/multi-docker.tar:multi/b:v2" >/dev/null
	fi
}

t_save_stdout_and_quiet_load() {
	new_store
	must cairn import "$W/t2.tar" out:v1
	cairn save out:v1 -o - >"$W/stdout.tar"
	tar -tf "$W/stdout.tar" >"$W/stdout.list"
	grep -Eqx '(\./)?index.json' "$W/stdout.list" || fail "save -o - did not write an OCI archive: $(head -5 "$W/stdout.list")"
	new_store
	must cairn load -q -i "$W/stdout.tar"
	echo "load -q: [$RUN_OUT]"
	must cairn inspect out:v1
}

t_usage_errors() {
	expect_error "" cairn no-such-verb
	expect_error "" cairn import
	expect_error "" cairn import "$W/t.tar" "Bad:Name:x"
	expect_error "missing.tar" cairn import "$W/missing.tar" x:y
	expect_error "" cairn load -i "$W/missing-dir"
	expect_error "" cairn save
	expect_error "nothing:here" cairn save nothing:here -o "$W/never.tar"
	assert_not_exists "$W/never.tar" "save of an unknown image left an output"
	expect_error "" cairn save out:v1 --format bogus -o "$W/never2.tar"
	expect_error "" cairn inspect nothing:here
	expect_error "" cairn --root
	expect_error "" cairn tag --bogus-option a b
	expect_error "" cairn images --bogus-option
	run cairn --help
	echo "help: exit $RUN_RC"
	[ "$RUN_RC" -eq 0 ] || fail "--help exit $RUN_RC"
	[ -n "$RUN_OUT$RUN_ERR" ] || fail "--help prints nothing"
}

t_fsck_clean_store() {
	new_store
	must cairn fsck
	must cairn import "$W/t.tar" f:1
	must cairn fsck
	echo "$RUN_OUT"
}

# fsck finds damage: one byte of a stored (incompressible, so raw) chunk is
# flipped in the LMDB file behind cairn's back.  fsck must exit non-zero
# with a report; save must not write a blob whose bytes do not match its
# digest.
t_fsck_detects_corruption() {
	new_store
	mkdir -p "$W/corrupt"
	head -c $((1 << 20)) /dev/urandom >"$W/corrupt/random.bin"
	tar --numeric-owner -C "$W/corrupt" -cf "$W/corrupt.tar" .
	must cairn import "$W/corrupt.tar" corrupt:v1
	assert_fsck_clean
	local f
	f=$(find "$STORE" -type f -printf '%s %p\n' | sort -n | tail -n1 | cut -d' ' -f2-)
	python3 - "$f" "$W/corrupt/random.bin" <<'PY'
import mmap, sys
data, src = sys.argv[1], sys.argv[2]
needle = open(src, "rb").read()[300000:300064]
with open(data, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    off = m.find(needle)
    if off < 0:
        sys.exit("the chunk bytes are not stored raw in %s" % data)
    m[off + 10] ^= 0x01
    m.flush()
    print("flipped a bit at offset %d of %s" % (off + 10, data))
PY
	run cairn fsck
	echo "fsck: exit $RUN_RC"
	echo "$RUN_OUT"
	echo "$RUN_ERR"
	[ "$RUN_RC" -ne 0 ] || fail "fsck exit 0 on a corrupted chunk"
	[ -n "$RUN_OUT$RUN_ERR" ] || fail "fsck reported nothing"
	run cairn save corrupt:v1 --format oci-dir --compression none -o "$W/corrupt-out"
	echo "save of the damaged image: exit $RUN_RC $RUN_ERR"
	if [ "$RUN_RC" -eq 0 ]; then
		verify_blobs "$W/corrupt-out" || fail "save wrote a blob that does not match its digest"
		local m l
		m=$(oci_manifest_digest "$W/corrupt-out")
		l=$(jq -er '.layers[0].digest' "$W/corrupt-out/blobs/sha256/${m#sha256:}")
		mkdir "$W/corrupt-x"
		tar -xf "$W/corrupt-out/blobs/sha256/${l#sha256:}" -C "$W/corrupt-x"
		cmp -s "$W/corrupt/random.bin" "$W/corrupt-x/random.bin" &&
			fail "the corruption went unnoticed (save produced the original bytes?)"
		fail "save exported damaged content without an error"
	fi
	assert_eq "$(count_lines "$RUN_ERR")" 1 "save error lines"
}

run_test "import prints the id" t_import
run_test "images table and -q" t_images_table
run_test "images --json" t_images_json
run_test "inspect fields; diff_ids == Layers; Id/Digest are config/manifest digests" t_inspect
run_test "import --platform and -m" t_import_options
run_test "tag adds a name to the same image" t_tag
run_test "references: familiar names, registry with port, id prefixes, invalid refs" t_references
run_test "digest references (NAME@sha256:manifest-digest)" t_digest_reference
run_test "rmi: name gone, image gone with last name, unknown name fails" t_rmi
run_test "rmi by id" t_rmi_by_id
run_test "du --json fields; prune after rmi frees everything" t_du_prune
run_test "prune keeps what images reference" t_prune_keeps_referenced
run_test "--root wins over CAIRN_ROOT; stores created on first use" t_root_selection
run_test "latest is the default tag" t_latest_default
run_test "import of .tar.gz/.tar.zst/.tar.xz and stdin: same layer as the plain tar" t_compressed_same_layer
run_test "import of .tar.gz/.tar.zst/.tar.xz and stdin: same image id as the plain tar" t_compressed_same_id
run_test "multi-image archives (oci, docker) save and load" t_multi_image_archives
run_test "save -o - writes an archive to stdout; load -q" t_save_stdout_and_quiet_load
run_test "usage and lookup errors: one line, non-zero" t_usage_errors
run_test "fsck on an empty and a small store" t_fsck_clean_store
run_test "fsck detects a corrupted chunk; save refuses damaged content" t_fsck_detects_corruption
tap_done
