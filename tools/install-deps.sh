#!/usr/bin/env bash
# Installs what cairn needs to build and to run its tests, from Debian
# bookworm's archive.  Run as root (or with sudo).  Idempotent.
set -euo pipefail

build_pkgs=(
	gcc meson ninja-build pkg-config
	libfuse3-dev fuse3 libarchive-dev libxxhash-dev libzstd-dev liblmdb-dev
	libjansson-dev libssl-dev zlib1g-dev libcurl4-openssl-dev
)
test_pkgs=(
	python3 umoci skopeo buildah debootstrap busybox-static
	attr acl libcap2-bin libarchive-tools jq zstd xz-utils bzip2 gzip tar time file lmdb-utils
	ca-certificates docker-registry apache2-utils openssl curl
)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--tests" ]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# docker-registry's package would start a registry on :5000 (all
# interfaces); the tests start their own on 127.0.0.1, so services the
# packages bring are not started (policy-rc.d, only if none is there).
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	policy=1
fi
rc=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
[ -z "$policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
exit $rc
