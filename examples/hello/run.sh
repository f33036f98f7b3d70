#!/usr/bin/env bash
# cairn's quick start: installs the dependencies, builds cairn, makes a tiny
# root filesystem (busybox + the files beside this script), imports it as an
# image, saves it as an OCI layout, unpacks it with umoci (an independent OCI
# tool) and runs the image's /usr/local/bin/hello in a chroot of the result.
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

echo "== making a root filesystem tarball (busybox + examples/hello/rootfs)"
cp -a "$here/rootfs" "$work/rootfs"
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
for tool in sh cat echo uname id ls; do ln -s busybox "$work/rootfs/bin/$tool"; done
tar --numeric-owner --owner=0 --group=0 -C "$work/rootfs" -czf "$work/hello.tar.gz" .

echo "== cairn import hello.tar.gz hello:latest"
cairn import -m "cairn quick start" "$work/hello.tar.gz" hello:latest
cairn images

echo "== cairn mount hello:latest (a writable workspace), change it, commit hello:v2"
mkdir -p "$work/mnt"
cairn mount hello:latest "$work/mnt"
trap 'cairn umount --force "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "made in a cairn workspace" >"$work/mnt/etc/made-here"
cairn diff "$work/mnt"
cairn commit "$work/mnt" hello:v2
cairn umount "$work/mnt"
cairn images

echo "== cairn save hello:v2 --format oci-dir"
cairn save --format oci-dir -o "$work/oci" hello:v2
cat "$work/oci/index.json"; echo

echo "== umoci unpack and run"
umoci unpack --image "$work/oci:v2" "$work/bundle" >/dev/null
chroot "$work/bundle/rootfs" /usr/local/bin/hello
chroot "$work/bundle/rootfs" /bin/cat /etc/made-here

echo "== cairn du / fsck"
cairn du
cairn fsck
