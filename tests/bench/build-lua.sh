#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/build-lua.sh: `cairn build` against `buildah build` on the
# same Dockerfile, machine and run.
#
# Workload: a two-stage Dockerfile on a Debian bookworm + gcc base (the
# gcc fixture of lib-fs.sh without /src, imported into both tools) that
# copies Lua 5.4's sources from the context, compiles them (make -j2 linux)
# and copies the binary into a second stage that runs it:
#   cold     first build (base imported, no build cache)
#   noop     the same build again (everything cached)
#   edit     after changing src/lua.c (the COPY before the compile misses;
#            the compile and the final stage run again)
# buildah: 1.28 (Debian), `buildah build --layers --isolation chroot`,
# overlay storage driver under a private --root; cairn with a private
# --root.  CAIRN_BENCH_RUNS (default 3) rounds of noop and edit (each edit
# writes a different comment, so it always misses), the tools' order
# alternating; medians compared.
# TAP checks (the issue's bars): noop <= 0.05 s and >= 10x faster than
# buildah; edit and cold no slower than buildah (ratio <= 1.0; reported with
# two decimals).
#
#   bash tests/bench/build-lua.sh     (CAIRN=path/to/cairn, default build/)
#   meson test -C build --suite bench bench-build-lua -v

source "$(dirname "$0")/lib-fs.sh"
fs_bench_init buildah skopeo
ROOTFS=$(fixture_gcc_rootfs) || bail_out "could not build the gcc rootfs fixture (debootstrap)"
command -v buildah >/dev/null || bail_out "buildah is not installed"

CTX=$W/ctx
BSTORE=$W/buildah
export STORE=$W/cairn-store

mkdir -p "$CTX" "$BSTORE/root" "$BSTORE/run"
# The base: the fixture without /src; the context: /src/lua.
mkdir -p "$W/base"
tar -C "$W/base" -xf "$ROOTFS"
mv "$W/base/src/lua" "$CTX/lua"
rm -rf "$W/base/src"
tar --numeric-owner -C "$W/base" -cf "$W/base.tar" .
rm -rf "$W/base"
cat >"$CTX/Dockerfile" <<'EOF'
FROM localhost/gccbase AS build
WORKDIR /src
COPY lua/ /src/lua/
RUN cd /src/lua && make -j2 linux
FROM localhost/gccbase
COPY --from=build /src/lua/src/lua /usr/local/bin/lua
RUN lua -v
EOF

cat >"$BSTORE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$BSTORE/root"
runroot = "$BSTORE/run"
EOF
cat >"$BSTORE/registries.conf" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
EOF
export CONTAINERS_STORAGE_CONF=$BSTORE/storage.conf CONTAINERS_REGISTRIES_CONF=$BSTORE/registries.conf
export TMPDIR=$W
bh() { buildah "$@"; }
cairn import "$W/base.tar" localhost/gccbase:latest >/dev/null
cairn save --format oci-dir -o "$W/base-oci" localhost/gccbase:latest
skopeo --insecure-policy copy -q "oci:$W/base-oci:latest" containers-storage:localhost/gccbase:latest ||
	bail_out "copying the base into buildah's storage failed"

cairn_build() { cairn build --progress=plain -t lua:latest "$CTX"; }
buildah_build() { bh build --layers --isolation chroot --pull=never -q -t lua:latest "$CTX"; }

edit_n=0
edit() {
	edit_n=$((edit_n + 1))
	echo "/* edit $edit_n at $EPOCHREALTIME */" >>"$CTX/lua/src/lua.c"
}

diag "workload: $ROOTFS base, Lua 5.4 sources ($(du -sh "$CTX/lua" | cut -f1)); $(nproc) CPUs; $RUNS runs; $(buildah --version)"
edit

tm c_cold cairn_build
tm b_cold buildah_build
declare -A T=()
for ((i = 1; i <= RUNS; i++)); do
	for tool in $( ((i % 2)) && echo cairn buildah || echo buildah cairn); do
		tm t "${tool}_build"
		T[${tool}_noop]+="$t "
	done
	edit
	for tool in $( ((i % 2)) && echo cairn buildah || echo buildah cairn); do
		# each tool sees the same edit: the second one re-applies it
		tm t "${tool}_build"
		T[${tool}_edit]+="$t "
	done
	diag "run $i: noop cairn $(echo ${T[cairn_noop]} | awk '{print $NF}')s buildah $(echo ${T[buildah_noop]} | awk '{print $NF}')s; edit cairn $(echo ${T[cairn_edit]} | awk '{print $NF}')s buildah $(echo ${T[buildah_edit]} | awk '{print $NF}')s"
done

# shellcheck disable=SC2086
{
	c_noop=$(median ${T[cairn_noop]})
	b_noop=$(median ${T[buildah_noop]})
	c_edit=$(median ${T[cairn_edit]})
	b_edit=$(median ${T[buildah_edit]})
}
rows=("build|cairn s|buildah s|cairn/buildah")
rows+=("cold|$c_cold|$b_cold|$(ratio "$c_cold" "$b_cold")")
rows+=("no-op (median)|$c_noop|$b_noop|$(ratio "$c_noop" "$b_noop")")
rows+=("edit lua.c (median)|$c_edit|$b_edit|$(ratio "$c_edit" "$b_edit")")
fs_table "two-stage Lua build (cairn vs buildah --layers, same run):" "${rows[@]}"
info_line="noop cairn ${c_noop}s vs buildah ${b_noop}s ($(ratio "$b_noop" "$c_noop")x faster); edit $(ratio "$c_edit" "$b_edit"); cold $(ratio "$c_cold" "$b_cold")"
diag "$info_line"

check() { # DESC CONDITION...
	local d=$1
	shift
	if "$@"; then tap_ok 0 "$d"; else tap_ok 1 "$d"; fi
}
check "no-op rebuild <= 0.05 s (cairn ${c_noop}s)" le "$c_noop" 0.05
check "no-op rebuild >= 10x faster than buildah ($(ratio "$b_noop" "$c_noop")x)" le "$(awk -v a="$c_noop" 'BEGIN{print a*10}')" "$b_noop"
check "edit rebuild no slower than buildah ($(ratio "$c_edit" "$b_edit"))" le "$c_edit" "$b_edit"
check "cold build no slower than buildah ($(ratio "$c_cold" "$b_cold"))" le "$c_cold" "$b_cold"
tap_done
