#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/pull.sh: `cairn pull` against `skopeo copy` from the same
# loopback registry, same image, same run.
#
# Workload: the Debian bookworm minbase root filesystem (the integration
# tests' fixture, 200 MiB, one layer, ~89 MB gzip) imported with cairn,
# written with `cairn save --format oci-dir` (gzip) and pushed with skopeo
# to a docker-registry (CNCF distribution 2.8, Debian's) on 127.0.0.1.
# Page cache warm (the registry's files are read once first), nothing
# dropped between runs.
#   pull      `cairn --root FRESH_STORE pull 127.0.0.1:P/bench/min:latest`
#             vs `skopeo copy --src-tls-verify=false docker://... oci:FRESH_DIR:latest`
#             (the project's bar: pull/skopeo <= 1.2)
#   first use (informational) the image ready to be read as a root
#             filesystem: cairn pull + `cairn mount` + reading /etc/os-release
#             vs skopeo copy + `umoci unpack` + the same read
# One untimed warm-up of each, then CAIRN_BENCH_RUNS (default 3) rounds, the
# tools' order alternating; medians compared.  Peak RSS of cairn pull from
# /usr/bin/time %M (one extra run).
#
#   bash tests/bench/pull.sh          (CAIRN=path/to/cairn, default build/)
#   meson test -C build --suite bench bench-pull -v

source "$(dirname "$0")/lib-fs.sh"
fs_bench_init docker-registry skopeo umoci curl
ROOTFS=$(fixture_rootfs) || bail_out "could not build the rootfs fixture (debootstrap)"
"$CAIRN" pull --help >/dev/null 2>&1 || skip_all "this cairn has no 'pull' command"

export STORE=$W/seed-store
sk() { skopeo --insecure-policy "$@"; }

# ---- the registry ---------------------------------------------------------------

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_registry() {
	local try port pid i
	mkdir -p "$W/reg/data"
	for try in 1 2 3; do
		port=$(free_port)
		cat >"$W/reg/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/reg/data
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: cairn-bench-secret
EOF
		docker-registry serve "$W/reg/config.yml" >"$W/reg/log" 2>&1 </dev/null &
		pid=$!
		track_pid "$pid"
		for ((i = 0; i < 200; i++)); do
			if curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/v2/"; then
				REG=127.0.0.1:$port
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	tail -n 20 "$W/reg/log" | diag_stream
	bail_out "docker-registry did not start"
}
start_registry
REF=$REG/bench/min:latest

# ---- the image --------------------------------------------------------------------

cat "$ROOTFS" >/dev/null
cairn import "$ROOTFS" bench/min:latest >/dev/null 2>"$W/import.err" || {
	diag_stream <"$W/import.err"
	bail_out "cairn import failed"
}
cairn save --format oci-dir -o "$W/min-oci" bench/min:latest 2>"$W/save.err" || {
	diag_stream <"$W/save.err"
	bail_out "cairn save failed"
}
sk copy -q --dest-tls-verify=false "oci:$W/min-oci:latest" "docker://$REF" >"$W/push.log" 2>&1 || {
	diag_stream <"$W/push.log"
	bail_out "skopeo copy to the registry failed"
}
MAN=$(jq -r '.manifests[0].digest' "$W/min-oci/index.json")
LAYER_BYTES=$(jq -r '[.layers[].size] | add' "$W/min-oci/blobs/sha256/${MAN#sha256:}")
find "$W/reg/data" -type f -exec cat {} + >/dev/null # the registry's files in the page cache

F=$W/fresh
skopeo_pull() {
	sk copy -q --src-tls-verify=false "docker://$REF" "oci:$F-skopeo:latest"
}
cairn_pull() {
	"$CAIRN" --root "$F-store" pull -q "$REF"
}
# the same, made ready to use as a root filesystem, then one file read
skopeo_use() {
	skopeo_pull
	umoci unpack --image "$F-skopeo:latest" "$F-bundle" >/dev/null
	cat "$F-bundle/rootfs/etc/os-release" >/dev/null
}
cairn_use() {
	cairn_pull
	"$CAIRN" --root "$F-store" mount "$REF" "$F-mnt" >/dev/null
	_fs_push_mount cairn "$F-store" "$F-mnt"
	cat "$F-mnt/etc/os-release" >/dev/null
}
reset() {
	fs_umount "$F-mnt"
	rm -rf "$F-skopeo" "$F-store" "$F-bundle" "$F-mnt"
	mkdir -p "$F-mnt"
	sync
}

diag "workload: $ROOTFS ($(($(stat -c %s "$ROOTFS") >> 20)) MiB tar), one layer of $((LAYER_BYTES / 1000000)) MB gzip, from $REF; $(nproc) CPUs; $RUNS runs; $(skopeo --version)"

# warm-up (untimed), and the peak RSS of a pull
reset
skopeo_pull >/dev/null 2>&1 || bail_out "skopeo copy from the registry failed"
reset
/usr/bin/time -f '%M' -o "$W/rss" "$CAIRN" --root "$F-store" pull -q "$REF" >/dev/null 2>"$W/pull.err" || {
	diag_stream <"$W/pull.err"
	bail_out "cairn pull failed"
}
RSS_KIB=$(tail -n1 "$W/rss")
ID=$("$CAIRN" --root "$F-store" inspect --json "$REF" | jq -r '.[0].Digest')
[ "$ID" = "$MAN" ] || bail_out "cairn pulled manifest $ID, the registry has $MAN"
STORE_KIB=$(du -sk "$F-store" | cut -f1)

declare -A T=()
for ((i = 1; i <= RUNS; i++)); do
	for tool in $( ((i % 2)) && echo cairn skopeo || echo skopeo cairn); do
		reset
		tm t "${tool}_pull"
		T[${tool}_pull]+="$t "
	done
	for tool in $( ((i % 2)) && echo cairn skopeo || echo skopeo cairn); do
		reset
		tm t "${tool}_use"
		T[${tool}_use]+="$t "
	done
	diag "run $i: pull cairn $(echo ${T[cairn_pull]} | awk '{print $NF}')s skopeo $(echo ${T[skopeo_pull]} | awk '{print $NF}')s; first use cairn $(echo ${T[cairn_use]} | awk '{print $NF}')s skopeo+umoci $(echo ${T[skopeo_use]} | awk '{print $NF}')s"
done
reset

# shellcheck disable=SC2086
{
	c_pull=$(median ${T[cairn_pull]})
	s_pull=$(median ${T[skopeo_pull]})
	c_use=$(median ${T[cairn_use]})
	s_use=$(median ${T[skopeo_use]})
}
R=$(ratio "$c_pull" "$s_pull")
rows=("step|cairn s|peer s|cairn/peer")
rows+=("pull (median)|$c_pull|$s_pull|$R")
rows+=("pull + first use (median)|$c_use|$s_use|$(ratio "$c_use" "$s_use")")
fs_table "pull of a $((LAYER_BYTES / 1000000)) MB image from a loopback registry (cairn vs skopeo, same run):" "${rows[@]}"
diag "first use: cairn pull + mount + read vs skopeo copy + umoci unpack + read"
diag "cairn pull peak RSS: $(mib "$RSS_KIB") MiB; store after pull: $((STORE_KIB / 1024)) MiB on disk"
echo "pull/skopeo ratio: $R" | diag_stream

tap_ok "$(le "$R" 1.2 && echo 0 || echo 1)" "pull/skopeo time ratio $R <= 1.2"
tap_done
