#!/usr/bin/env bash
# cairn's quick start: installs the dependencies, builds cairn, makes a tiny
# busybox base image, then builds examples/hello/Dockerfile with `cairn
# build` (twice: the second build is all cache hits), saves the image as an
# OCI layout, unpacks it with umoci (an independent OCI tool) and runs the
# image's command in a chroot of the result.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"

bash tools/install-deps.sh --tests
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

store=${CAIRN_ROOT:-$top/build/example-store}
cairn() { "$top/build/tools/cairn" --root "$store" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== a busybox base image (Debian's busybox-static): cairn import busybox.tar busybox:latest"
mkdir -p "$work/base/bin" "$work/base/etc" "$work/base/tmp"
cp /bin/busybox "$work/base/bin/busybox"
for tool in $(/bin/busybox --list); do
	[ "$tool" = busybox ] || ln -sf busybox "$work/base/bin/$tool"
done
chmod 1777 "$work/base/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/base/etc/passwd"
echo 'root:x:0:' >"$work/base/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$work/base" -cf "$work/busybox.tar" .
cairn import "$work/busybox.tar" busybox:latest

echo "== cairn build -t hello:latest examples/hello"
cairn build --progress=plain -t hello:latest "$here"
echo "== again: every step comes from the cache"
cairn build --progress=plain -t hello:latest "$here"
cairn images

echo "== cairn save hello:latest --format oci-dir"
cairn save --format oci-dir -o "$work/oci" hello:latest
cat "$work/oci/index.json"; echo

echo "== umoci unpack and run the image's command"
umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null
cmd=$(jq -r '.process.args | join(" ")' "$work/bundle/config.json")
env GREETING="$(jq -r '.process.env[] | select(startswith("GREETING=")) | sub("GREETING=";"")' "$work/bundle/config.json")" \
	chroot "$work/bundle/rootfs" $cmd

echo "== cairn du / fsck"
cairn du
cairn fsck
