#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/dedup.sh: content-defined chunking deduplicates.
#
# A 256 MiB pseudo-random file (reproducible: AES-256-CTR keystream with a
# fixed key) is tarred and imported; then the same file with 1 MiB
# overwritten in the middle is tarred and imported as a second image.  The
# second import may add at most 3 MiB to the store directory, measured with
# `du -sb` (apparent bytes) and `du -sk` (allocated) alike.  The first import
# must store about 256 MiB (random data does not compress, but must not be
# stored twice either).  Both images export back to their exact tars' file.

source "$(dirname "$0")/lib.sh"
it_init openssl jq dd du

W=$IT_TMP/w
mkdir -p "$W"
new_store
export W
MIB=$((1 << 20))

# N MiB of reproducible pseudo-random bytes for KEY to stdout.
prng() { # MIB KEYBYTE
	openssl enc -aes-256-ctr -nosalt -K "$(printf '%064d' "$2")" -iv 00000000000000000000000000000000 \
		-in <(head -c $(($1 * MIB)) /dev/zero)
}

store_bytes() { du -sb "$STORE" | cut -f1; }
store_kib() { du -sk "$STORE" | cut -f1; }

t_make() {
	mkdir -p "$W/a/data" "$W/b/data"
	prng 256 1 >"$W/a/data/big.bin"
	assert_eq "$(stat -c %s "$W/a/data/big.bin")" $((256 * MIB)) "generated size"
	cp "$W/a/data/big.bin" "$W/b/data/big.bin"
	# 1 MiB of different bytes in the middle (at 128 MiB)
	prng 1 2 | dd of="$W/b/data/big.bin" bs=1M seek=128 conv=notrunc status=none
	assert_eq "$(stat -c %s "$W/b/data/big.bin")" $((256 * MIB)) "modified size"
	cmp -s "$W/a/data/big.bin" "$W/b/data/big.bin" && fail "files are identical"
	# identical metadata so only the content differs
	touch -d @1600000000 "$W/a/data/big.bin" "$W/b/data/big.bin" "$W/a/data" "$W/b/data"
	tar --numeric-owner -C "$W/a" -cf "$W/a.tar" .
	tar --numeric-owner -C "$W/b" -cf "$W/b.tar" .
}

t_first() {
	must /usr/bin/time -f %M -o "$W/rss.import" "$CAIRN" --root "$STORE" import "$W/a.tar" big:a
	info "peak RSS of the 256 MiB import: $(($(tail -n1 "$W/rss.import") / 1024)) MiB"
	assert_le "$(tail -n1 "$W/rss.import")" $((200 << 10)) "peak RSS (KiB) importing a 256 MiB file"
	local b k
	b=$(store_bytes)
	k=$(store_kib)
	echo "$b $k" >"$W/after-a"
	info "store after the first 256 MiB import: $b bytes apparent, $k KiB allocated"
	must cairn du --json
	echo "$RUN_OUT"
	local stored logical
	stored=$(jq -er .stored_bytes <<<"$RUN_OUT")
	logical=$(jq -er .logical_bytes <<<"$RUN_OUT")
	info "du --json: logical_bytes=$logical stored_bytes=$stored chunks=$(jq -r .chunks <<<"$RUN_OUT")"
	# random data: stored about once (not less: it is incompressible; not twice)
	assert_le $((250 * MIB)) "$stored" "stored bytes of 256 MiB random data (lower bound)"
	assert_le "$stored" $((264 * MIB)) "stored bytes of 256 MiB random data"
	assert_le "$b" $((300 * MIB)) "store directory after one 256 MiB import"
}

t_second() {
	local b0 k0 b1 k1
	read -r b0 k0 <"$W/after-a"
	must cairn import "$W/b.tar" big:b
	b1=$(store_bytes)
	k1=$(store_kib)
	info "second import (1 MiB changed) grew the store by $(((b1 - b0) / 1024)) KiB apparent (du -sb), $((k1 - k0)) KiB allocated (du -sk); limit 3072 KiB"
	must cairn du --json
	echo "$RUN_OUT"
	info "du --json after both: chunks=$(jq -r .chunks <<<"$RUN_OUT") stored_bytes=$(jq -r .stored_bytes <<<"$RUN_OUT") dedup_ratio=$(jq -r .dedup_ratio <<<"$RUN_OUT")"
	assert_le $((b1 - b0)) $((3 * MIB)) "store growth in bytes (du -sb)"
	assert_le $((k1 - k0)) 3072 "store growth in KiB (du -sk)"
	local ratio
	ratio=$(jq -er .dedup_ratio <<<"$RUN_OUT")
	python3 -c "import sys; r=float(sys.argv[1]); sys.exit(0 if r > 1.9 else 1)" "$ratio" ||
		fail "dedup_ratio $ratio, expected about 2 for two nearly identical 256 MiB files"
	assert_fsck_clean
}

# Both images still hold their exact bytes.
t_contents() {
	local img
	for img in a b; do
		must /usr/bin/time -f %M -o "$W/rss.save" "$CAIRN" --root "$STORE" save "big:$img" --format oci-dir --compression none -o "$W/out-$img"
		assert_le "$(tail -n1 "$W/rss.save")" $((200 << 10)) "peak RSS (KiB) saving a 256 MiB file"
		local m l
		m=$(oci_manifest_digest "$W/out-$img")
		l=$(jq -er '.layers[0].digest' "$W/out-$img/blobs/sha256/${m#sha256:}")
		mkdir "$W/x-$img"
		tar -xf "$W/out-$img/blobs/sha256/${l#sha256:}" -C "$W/x-$img"
		cmp "$W/$img/data/big.bin" "$W/x-$img/data/big.bin"
	done
}

# The LMDB map grows as needed: a store opened with a 1 MiB initial map
# takes a 64 MiB import (and a concurrent second one).
t_map_growth() {
	new_store
	mkdir -p "$W/m1" "$W/m2"
	prng 64 3 >"$W/m1/f"
	prng 64 4 >"$W/m2/f"
	tar -C "$W/m1" -cf "$W/m1.tar" .
	tar -C "$W/m2" -cf "$W/m2.tar" .
	local p1 p2 r1 r2
	CAIRN_MAP_SIZE=$MIB "$CAIRN" --root "$STORE" import "$W/m1.tar" map:one >"$W/map1.out" 2>&1 &
	p1=$!
	CAIRN_MAP_SIZE=$MIB "$CAIRN" --root "$STORE" import "$W/m2.tar" map:two >"$W/map2.out" 2>&1 &
	p2=$!
	track_pid "$p1"
	track_pid "$p2"
	set +e
	wait "$p1"
	r1=$?
	wait "$p2"
	r2=$?
	set -e
	cat "$W/map1.out" "$W/map2.out"
	assert_eq "$r1" 0 "first import with a 1 MiB initial map"
	assert_eq "$r2" 0 "second concurrent import with a 1 MiB initial map"
	CAIRN_MAP_SIZE=$MIB must cairn images -q
	assert_eq "$(count_lines "$RUN_OUT")" 2 "images"
	assert_fsck_clean
	info "store after 2 x 64 MiB with a 1 MiB initial map: $(du -sk "$STORE" | cut -f1) KiB"
}

run_test "make 256 MiB random file and a copy with 1 MiB changed" t_make
run_test "first import stores ~256 MiB" t_first
run_test "second import adds at most 3 MiB to the store" t_second
run_test "both images export their exact contents" t_contents
run_test "the LMDB map grows from 1 MiB under two concurrent 64 MiB imports" t_map_growth
tap_done
