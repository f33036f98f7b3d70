#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/registry.sh: cairn pull / push / login / logout and the
# build's registry integration, against real registries and a faulty one.
#
# Servers (all on 127.0.0.1, free ports, stopped on exit):
#   plain   docker-registry (CNCF distribution 2.8), no auth
#   basic   docker-registry with htpasswd (bcrypt) basic auth
#   tls     docker-registry over HTTPS, certificate from a CA made here; it is
#           addressed as cairn-tls.localhost:PORT (libcurl resolves
#           *.localhost to the loopback without DNS), a name cairn does not
#           treat as a local insecure registry, so certificates are checked
#   token   docker-registry with token auth, tokens from tokenserver.py
#           (RS256 JWTs signed with openssl, x5c header, rootcertbundle)
#   fakereg.py  a read-only registry serving an OCI layout, with faults
#           (corrupt blob, 429, dropped connections, slow transfers)
# The peers: skopeo (copy/inspect) and umoci (unpack) read and write the
# same images.  Request counts come from the registries' access logs
# ("METHOD URI HTTP/1.1" STATUS) and fakereg's --log.
#
# Checks: push -> skopeo sees the same manifest, config, layers and tree as
# `cairn save`; skopeo push (foreign umoci image, Docker v2s2) -> pull ->
# save gives the same digests, a second pull fetches no blob; multi-platform
# index (--platform, --all-platforms, push of an index); build FROM a
# registry image, --push / --output type=registry / push=true, --pull after
# the tag moved; basic auth (login/logout, auth file mode 0600, secrets never
# printed, $REGISTRY_AUTH_FILE, ~/.docker/config.json, --creds); token auth;
# TLS (verification on by default, --tls-verify=false, --cert-dir,
# --insecure-registry); cross-repository mount and HEAD-skip on push;
# errors (digest mismatch leaves no trace, 429 with its delay, unknown
# tag, unreachable registry); resumed transfers (Range after a dropped
# connection; a SIGKILLed pull does not refetch what it completed).

source "$(dirname "$0")/lib.sh"
it_init docker-registry skopeo umoci jq openssl htpasswd curl busybox gzip zstd setfattr
if ! "$CAIRN" pull --help >/dev/null 2>&1; then
	skip_all "this cairn has no 'pull' command yet"
fi

W=$IT_TMP/w
mkdir -p "$W"
SEED=$W/seed-store
export W SEED

# Isolate credentials: no auth file of the machine is seen by cairn or skopeo.
export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_RUNTIME_DIR=$W/run
unset REGISTRY_AUTH_FILE DOCKER_CONFIG
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"

case $(uname -m) in
x86_64) HOSTARCH=amd64 ;;
aarch64) HOSTARCH=arm64 ;;
*) HOSTARCH=$(uname -m) ;;
esac
export HOSTARCH

seed() { "$CAIRN" --root "$SEED" "$@"; }
sk() { skopeo --insecure-policy "$@"; }
last_line() { printf '%s\n' "$1" | tail -n1; }
assert_not_contains() { # HAYSTACK NEEDLE MSG
	if [[ $1 == *"$2"* ]]; then
		fail "$3: output contains [$2]"
	fi
}

# ---- servers ------------------------------------------------------------------

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS]: until the server gives any HTTP answer.
wait_http() {
	local url=$1 t=${2:-20} i
	for ((i = 0; i < t * 10; i++)); do
		if curl -sk -o /dev/null -m 2 "$url"; then
			return 0
		fi
		sleep 0.1
	done
	echo "no answer from $url after ${t}s" >&2
	return 1
}

# Servers started inside a test (a subshell) are killed when the test ends;
# those started at the top level by lib.sh's cleanup.
_t_pids=()
_t_cleanup() {
	local p
	for p in "${_t_pids[@]}"; do
		kill -9 "$p" 2>/dev/null || true
	done
	for p in "${_t_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
_bg_track() {
	if [ "$BASHPID" = "$$" ]; then
		track_pid "$1"
	else
		_t_pids+=("$1")
		trap _t_cleanup EXIT
	fi
}

# start_py_server LOGBASE SCRIPT ARGS...: a python server of ours that prints
# its port; sets BG_PID and BG_PORT.
start_py_server() {
	local base=$1 i
	shift
	: >"$base.port"
	python3 "$@" >"$base.port" 2>"$base.err" </dev/null &
	BG_PID=$!
	_bg_track "$BG_PID"
	for ((i = 0; i < 200; i++)); do
		BG_PORT=$(head -n1 "$base.port")
		[[ $BG_PORT =~ ^[0-9]+$ ]] && break
		kill -0 "$BG_PID" 2>/dev/null || {
			cat "$base.err" >&2
			fail "server $* died"
		}
		sleep 0.05
	done
	[[ $BG_PORT =~ ^[0-9]+$ ]] || fail "server $* printed no port"
	wait_http "http://127.0.0.1:$BG_PORT/v2/" 10
}

# start_fakereg LAYOUT LOG ARGS...: sets FR_PID, FR_PORT (and FR=127.0.0.1:PORT).
start_fakereg() {
	local layout=$1 log=$2
	shift 2
	: >"$log"
	start_py_server "$log.srv" "$IT_DIR/fakereg.py" "$layout" --log "$log" "$@"
	FR_PID=$BG_PID FR_PORT=$BG_PORT FR=127.0.0.1:$BG_PORT
}

# start_registry NAME AUTH_YAML [TLS_YAML]: a docker-registry in $W/reg-NAME
# (config.yml, data/, log); prints nothing, sets REG_PORT.  Retries on
# another port when the chosen one was taken in the meantime.
start_registry() {
	local name=$1 auth=$2 tls=${3:-} d=$W/reg-$1 port try scheme=http pid
	[ -n "$tls" ] && scheme=https
	mkdir -p "$d/data"
	for try in 1 2 3; do
		port=$(free_port)
		cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: cairn-integration-test-secret
$tls
$auth
EOF
		docker-registry serve "$d/config.yml" >"$d/log" 2>&1 </dev/null &
		pid=$!
		track_pid "$pid"
		if wait_http "$scheme://127.0.0.1:$port/v2/" 20 2>/dev/null && kill -0 "$pid" 2>/dev/null; then
			REG_PORT=$port
			return 0
		fi
		kill -9 "$pid" 2>/dev/null || true
	done
	tail -n 20 "$d/log" | diag_stream
	bail_out "docker-registry $name did not start"
}

# Access log helpers: mark (number of lines so far), requests since a mark
# as "METHOD URI STATUS".
log_mark() { wc -l <"$1"; }
requests_since() { # LOG MARK
	tail -n +"$(($2 + 1))" "$1" |
		sed -nE 's/.*"(GET|HEAD|POST|PUT|PATCH|DELETE) ([^ ]+) HTTP\/[0-9.]+" ([0-9]+) .*/\1 \2 \3/p'
}

# --- the plain registry
start_registry plain ""
REG=127.0.0.1:$REG_PORT
REG_LOG=$W/reg-plain/log

# --- basic auth
AUTH_USER=alice
AUTH_PASS='S3cr3t:pass word!'
htpasswd -Bbn "$AUTH_USER" "$AUTH_PASS" >"$W/htpasswd" 2>/dev/null
start_registry basic "auth:
  htpasswd:
    realm: cairn-test-basic
    path: $W/htpasswd"
REG_BASIC=127.0.0.1:$REG_PORT

# --- TLS: a CA and a server certificate it signs
mkdir -p "$W/pki" "$W/certs"
TLS_NAME=cairn-tls.localhost
(
	cd "$W/pki"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
		-subj "/CN=cairn test CA" >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
		-subj "/CN=$TLS_NAME" >/dev/null 2>&1
	printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$TLS_NAME" >ext.cnf
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
		-out server.crt -days 2 -extfile ext.cnf >/dev/null 2>&1
) || bail_out "openssl could not make the test certificates"
cp "$W/pki/ca.crt" "$W/certs/ca.crt"
start_registry tls "" "  tls:
    certificate: $W/pki/server.crt
    key: $W/pki/server.key"
TLS_PORT=$REG_PORT
REG_TLS=$TLS_NAME:$TLS_PORT

# --- token auth
TOKEN_USER=bob
TOKEN_PASS='t0ken-pa55'
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/pki/token.key" -out "$W/pki/token.crt" \
	-days 2 -subj "/CN=cairn test token issuer" >/dev/null 2>&1
TOKEN_LOG=$W/token.log
: >"$TOKEN_LOG"
start_py_server "$W/tokenserver" "$IT_DIR/tokenserver.py" --key "$W/pki/token.key" \
	--cert "$W/pki/token.crt" --issuer cairn-test-issuer --service cairn-test-registry \
	--user "$TOKEN_USER:$TOKEN_PASS" --log "$TOKEN_LOG" ||
	bail_out "tokenserver.py did not start"
TOKEN_PORT=$BG_PORT
start_registry token "auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: cairn-test-registry
    issuer: cairn-test-issuer
    rootcertbundle: $W/pki/token.crt"
REG_TOKEN=127.0.0.1:$REG_PORT

export REG REG_LOG REG_BASIC REG_TLS TLS_PORT REG_TOKEN TOKEN_LOG AUTH_USER AUTH_PASS TOKEN_USER TOKEN_PASS
diag "registries: plain $REG, basic $REG_BASIC, tls $REG_TLS, token $REG_TOKEN (token server :$TOKEN_PORT)"

# ---- fixtures -----------------------------------------------------------------

# The base image base:v1 (busybox, a 1 MiB random file, hardlinks, owners,
# modes, an xattr) and app:v1 on top of it (COPY, RUN, ENV), in $SEED.
BB=$(command -v busybox)
r=$W/base-tree
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/data/private" "$r/root"
cp "$BB" "$r/bin/busybox"
for t in $("$BB" --list); do
	[ "$t" = busybox ] || ln -sf busybox "$r/bin/$t"
done
chmod 1777 "$r/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$r/etc/group"
head -c $((1 << 20)) /dev/urandom >"$r/data/random.bin"
printf 'linked\n' >"$r/data/hl-a"
ln "$r/data/hl-a" "$r/data/hl-b"
chmod 0700 "$r/data/private"
printf 'owned\n' >"$r/data/private/owned" && chown 1000:1000 "$r/data/private/owned" "$r/data/private"
printf 'xattr\n' >"$r/data/xattr"
setfattr -n user.cairn -v test "$r/data/xattr" 2>/dev/null || true
tar --numeric-owner --xattrs --xattrs-include='user.*' -C "$r" -cf "$W/base.tar" .
seed import "$W/base.tar" base:v1 >/dev/null || bail_out "cairn import of the base failed"

mkdir -p "$W/ctx-app"
printf 'app file\n' >"$W/ctx-app/app.txt"
cat >"$W/ctx-app/Dockerfile" <<'EOF'
FROM base:v1
COPY app.txt /app/app.txt
RUN echo built > /app/built.txt && mkdir -p /app/sub && chown 1000:1000 /app/sub
ENV APP=1
CMD ["/bin/sh"]
EOF
seed build -q -t app:v1 "$W/ctx-app" >/dev/null 2>"$W/build-app.err" || {
	diag_stream <"$W/build-app.err"
	bail_out "cairn build of app:v1 failed"
}
APP_ID=$(seed inspect --json app:v1 | jq -r '.[0].Id')
export APP_ID BB

# A foreign image made by umoci (its own gzip, two layers, a config with
# Env and Cmd): pushed with skopeo as OCI and as Docker v2s2.
make_foreign() {
	local l=$W/foreign b=$W/foreign-bundle
	umoci init --layout "$l"
	umoci new --image "$l:v1"
	umoci unpack --image "$l:v1" "$b" >/dev/null
	mkdir -p "$b/rootfs/etc" "$b/rootfs/opt/data"
	printf 'foreign\n' >"$b/rootfs/etc/foreign.txt"
	head -c $((512 << 10)) /dev/urandom >"$b/rootfs/opt/data/r1"
	umoci repack --image "$l:v1" "$b" >/dev/null
	printf 'second layer\n' >"$b/rootfs/opt/data/second"
	ln -s second "$b/rootfs/opt/data/link"
	rm "$b/rootfs/etc/foreign.txt"
	umoci repack --image "$l:v1" "$b" >/dev/null
	umoci config --image "$l:v1" --config.env FOO=bar --config.cmd /bin/true --architecture "$HOSTARCH" --os linux
	rm -rf "$b"
}
make_foreign >"$W/umoci.log" 2>&1 || {
	diag_stream <"$W/umoci.log"
	bail_out "umoci could not make the foreign image"
}

# A Python helper: merges single-image OCI layouts into one whose index.json
# names (TAG) an image index with each image's platform.
cat >"$W/merge.py" <<'EOF'
import hashlib, json, os, shutil, sys
out, tag, ins = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
mans = []
for d in ins:
    for b in os.listdir(d + "/blobs/sha256"):
        shutil.copyfile(f"{d}/blobs/sha256/{b}", f"{out}/blobs/sha256/{b}")
    desc = json.load(open(d + "/index.json"))["manifests"][0]
    m = json.load(open(f"{d}/blobs/sha256/{desc['digest'][7:]}"))
    cfg = json.load(open(f"{d}/blobs/sha256/{m['config']['digest'][7:]}"))
    p = {"architecture": cfg["architecture"], "os": cfg["os"]}
    if cfg.get("variant"):
        p["variant"] = cfg["variant"]
    mans.append({"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"], "platform": p})
idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": mans}, separators=(",", ":")).encode()
h = hashlib.sha256(idx).hexdigest()
open(f"{out}/blobs/sha256/{h}", "wb").write(idx)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
           "digest": "sha256:" + h, "size": len(idx),
           "annotations": {"org.opencontainers.image.ref.name": tag}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print("sha256:" + h)
EOF

# manifest_of LAYOUT [TAG]: the manifest JSON a layout names.
manifest_of() {
	local d
	d=$(oci_manifest_digest "$@")
	cat "$1/blobs/sha256/${d#sha256:}"
}
# digests_of LAYOUT [TAG]: "manifest config layer..." of an image in a layout.
digests_of() {
	local m
	m=$(manifest_of "$@")
	echo "$(oci_manifest_digest "$@") $(jq -r '[.config.digest] + [.layers[].digest] | join(" ")' <<<"$m")"
}
# remote_digest REF [skopeo options]: sha256 of the raw manifest the registry serves.
remote_digest() {
	local ref=$1
	shift
	echo "sha256:$(sk inspect --raw --tls-verify=false "$@" "docker://$ref" | sha256sum | cut -d' ' -f1)"
}
# layout_ref LAYOUT: the ref.name of the only image of a layout (cairn save
# names it after the tag).
layout_ref() {
	jq -er '.manifests | if length == 1 then .[0].annotations["org.opencontainers.image.ref.name"] else error("\(length) manifests") end' "$1/index.json"
}
# image_blobs LAYOUT [TAG]: sorted digests of an image's manifest, config, layers.
image_blobs() {
	digests_of "$@" | tr ' ' '\n' | LC_ALL=C sort
}
inspect_field() { # NAME JQ_PATH
	cairn inspect --json "$1" | jq -er ".[0]$2"
}

# ---- push ---------------------------------------------------------------------

t_push_read_by_skopeo() {
	must seed push app:v1 "$REG/it/app:v1"
	local dig
	dig=$(last_line "$RUN_OUT")
	echo "push: $dig; stderr: $RUN_ERR"
	assert_match "$dig" '^sha256:[0-9a-f]{64}$' "push prints the manifest digest last"
	assert_eq "$(remote_digest "$REG/it/app:v1")" "$dig" "the registry serves the manifest push reported"

	must sk copy -q --src-tls-verify=false "docker://$REG/it/app:v1" "oci:$W/sk-app:v1"
	verify_blobs "$W/sk-app"
	assert_eq "$(oci_manifest_digest "$W/sk-app" v1)" "$dig" "skopeo's manifest digest"
	seed save --format oci-dir -o "$W/save-app" app:v1
	assert_eq "$(digests_of "$W/sk-app" v1)" "$(digests_of "$W/save-app")" "manifest, config and layer digests as cairn save writes them"
	assert_eq "$(manifest_of "$W/sk-app" v1 | jq -r .config.digest)" "$APP_ID" "config digest is the image id"

	umoci_unpack "$W/sk-app" v1 "$W/u-sk"
	umoci_unpack "$W/save-app" "$(layout_ref "$W/save-app")" "$W/u-save"
	tree_diff "$W/u-sk/rootfs" "$W/u-save/rootfs"
	[ "$(cat "$W/u-sk/rootfs/app/built.txt")" = built ] || fail "RUN output missing in the pushed image"

	# -q, --digestfile, docker:// destinations
	must seed push -q --digestfile "$W/digestfile" app:v1 "docker://$REG/it/app:v1-q"
	assert_eq "$RUN_OUT" "$dig" "-q prints just the digest"
	assert_eq "$RUN_ERR" "" "-q prints nothing on stderr"
	assert_eq "$(tr -d '\n' <"$W/digestfile")" "$dig" "--digestfile"
	assert_eq "$(remote_digest "$REG/it/app:v1-q")" "$dig" "docker:// destination"
	# DEST defaults to NAME
	seed tag app:v1 "$REG/it/app:v2"
	must seed push "$REG/it/app:v2"
	assert_eq "$(last_line "$RUN_OUT")" "$dig" "push NAME (default destination)"
	assert_eq "$(remote_digest "$REG/it/app:v2")" "$dig" "default destination pushed"
	# an unknown local image
	run seed push nosuch:v1 "$REG/it/nosuch:v1"
	assert_ne "$RUN_RC" 0 "push of an unknown image"
	[[ $RUN_ERR == *"not found"* || $RUN_ERR == *"unknown"* ]] || fail "push of an unknown image: $RUN_ERR"
}
run_test "push: skopeo reads the manifest, config, layers and tree cairn save writes" t_push_read_by_skopeo

t_push_zstd() {
	must seed push --compression-format zstd app:v1 "$REG/it/app:zstd"
	local dig raw
	dig=$(last_line "$RUN_OUT")
	raw=$(sk inspect --raw --tls-verify=false "docker://$REG/it/app:zstd")
	assert_eq "sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)" "$dig" "zstd manifest digest"
	assert_eq "$(jq -r '[.layers[].mediaType] | unique | join(",")' <<<"$raw")" "application/vnd.oci.image.layer.v1.tar+zstd" "zstd layer media types"
	assert_eq "$(jq -r .config.digest <<<"$raw")" "$APP_ID" "same config"
	must sk copy -q --src-tls-verify=false "docker://$REG/it/app:zstd" "oci:$W/sk-zstd:v1"
	verify_blobs "$W/sk-zstd"
	local b
	for b in $(jq -r '.layers[].digest' <<<"$raw"); do
		zstd -q -t "$W/sk-zstd/blobs/sha256/${b#sha256:}" || fail "layer $b is not zstd"
	done
	new_store
	must cairn pull "$REG/it/app:zstd"
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "pulling the zstd image back gives the same image id"
	assert_eq "$(inspect_field "$REG/it/app:zstd" .Digest)" "$dig" "and remembers the zstd manifest"
	assert_fsck_clean
	# chunked uploads (PATCH ... then PUT) give the same blobs
	must seed push --chunked --compression-format zstd app:v1 "$REG/it/chunked:zstd"
	assert_eq "$(last_line "$RUN_OUT")" "$dig" "--chunked push: same manifest digest"
	must sk copy -q --src-tls-verify=false "docker://$REG/it/chunked:zstd" "oci:$W/sk-chunked:v1"
	verify_blobs "$W/sk-chunked"
}
run_test "push --compression-format zstd (monolithic and --chunked): zstd layers, same config, pulls back" t_push_zstd

# ---- pull ---------------------------------------------------------------------

t_pull_foreign() {
	must sk copy -q --dest-tls-verify=false "oci:$W/foreign:v1" "docker://$REG/it/foreign:v1"
	must sk copy -q --dest-tls-verify=false "oci:$W/foreign:v1" "docker://$REG/single:latest"
	local orig rdig id
	orig=$(digests_of "$W/foreign" v1)
	rdig=$(remote_digest "$REG/it/foreign:v1")
	assert_eq "$rdig" "${orig%% *}" "skopeo pushed the layout's manifest"

	new_store
	must cairn pull "$REG/it/foreign:v1"
	echo "pull stderr: $RUN_ERR"
	id=$(last_line "$RUN_OUT")
	assert_match "$id" '^sha256:[0-9a-f]{64}$' "pull prints the image id last"
	assert_eq "$id" "$(manifest_of "$W/foreign" v1 | jq -r .config.digest)" "image id = config digest"
	assert_eq "$(inspect_field "$REG/it/foreign:v1" .Id)" "$id" "inspect by the registry reference"
	assert_eq "$(inspect_field "$REG/it/foreign:v1" .Digest)" "$rdig" "inspect .Digest = manifest digest"
	assert_eq "$(inspect_field "$REG/it/foreign:v1" .Config.config.Env | jq -r 'index("FOO=bar") != null')" true "config Env"
	cairn images | grep -E "^$REG/it/foreign +v1 " >/dev/null || fail "images has no row $REG/it/foreign v1: $(cairn images)"
	cairn save --format oci-dir -o "$W/save-foreign" "$REG/it/foreign:v1"
	assert_eq "$(digests_of "$W/save-foreign")" "$orig" "cairn save after pull: manifest, config, layers"
	verify_blobs "$W/save-foreign"
	assert_eq "$(blob_list "$W/save-foreign")" "$(image_blobs "$W/foreign" v1)" "the image's blobs, nothing else"
	assert_fsck_clean

	# a second pull fetches no blob and keeps the id
	local mark t0 t1 reqs
	mark=$(log_mark "$REG_LOG")
	t0=$EPOCHREALTIME
	must cairn pull "$REG/it/foreign:v1"
	t1=$EPOCHREALTIME
	assert_eq "$(last_line "$RUN_OUT")" "$id" "second pull: same id"
	reqs=$(requests_since "$REG_LOG" "$mark")
	echo "second pull requests:"$'\n'"$reqs"$'\n'"second pull stderr: $RUN_ERR"
	info "second pull: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')s, $(count_lines "$reqs") requests: $(tr '\n' ';' <<<"$reqs")"
	local l
	for l in $(manifest_of "$W/foreign" v1 | jq -r '.layers[].digest'); do
		if grep -E "^GET [^ ]*/blobs/$l " <<<"$reqs"; then
			fail "the second pull fetched layer $l again"
		fi
	done
	if grep -E '^GET [^ ]*/blobs/' <<<"$reqs" >/dev/null; then
		info "the second pull fetched the config again (the store has it: it is the image id)"
	fi
	assert_contains "$(last_line "$RUN_ERR")" "0 blobs fetched" "the second pull reports nothing new fetched"
	# by digest; single-component repository and the default tag
	must cairn pull "$REG/it/foreign@$rdig"
	assert_eq "$(last_line "$RUN_OUT")" "$id" "pull by digest"
	must cairn pull -q "$REG/single"
	assert_eq "$RUN_OUT" "$id" "pull -q prints only the id"
	assert_eq "$RUN_ERR" "" "pull -q: nothing on stderr"
	assert_eq "$(inspect_field "$REG/single:latest" .Id)" "$id" "repository without a slash, tag latest"
	assert_fsck_clean
}
run_test "pull: an image skopeo pushed (umoci-made) saves with the same digests; second pull fetches nothing" t_pull_foreign

t_pull_docker_v2s2() {
	must sk copy -q --format v2s2 --dest-tls-verify=false "oci:$W/foreign:v1" "docker://$REG/it/foreign-docker:v1"
	local raw rdig
	raw=$(sk inspect --raw --tls-verify=false "docker://$REG/it/foreign-docker:v1")
	rdig=$(remote_digest "$REG/it/foreign-docker:v1")
	assert_eq "$(jq -r .mediaType <<<"$raw")" application/vnd.docker.distribution.manifest.v2+json "skopeo pushed Docker schema 2"
	new_store
	# a single-platform image is checked against an explicit --platform
	local other=linux/arm64
	[ "$(uname -m)" = aarch64 ] && other=linux/amd64
	run cairn pull --platform "$other" "$REG/it/foreign-docker:v1"
	assert_ne "$RUN_RC" 0 "pull --platform $other of a single-platform image for the host"
	assert_contains "$RUN_ERR" "not the requested $other" "platform mismatch message"
	assert_eq "$(cairn images -q)" "" "nothing stored after the platform mismatch"
	must cairn pull "$REG/it/foreign-docker:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$(jq -r .config.digest <<<"$raw")" "id = config digest"
	assert_eq "$(inspect_field "$REG/it/foreign-docker:v1" .Digest)" "$rdig" "Docker manifest digest kept"
	# pushing it elsewhere keeps the manifest byte for byte
	must cairn push "$REG/it/foreign-docker:v1" "$REG/it/foreign-docker-copy:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$rdig" "push of a pulled Docker image: same digest"
	assert_eq "$(remote_digest "$REG/it/foreign-docker-copy:v1")" "$rdig" "registry has the same manifest"
	assert_fsck_clean
}
run_test "pull of a Docker v2s2 image, push elsewhere keeps its digest" t_pull_docker_v2s2

# ---- multi-platform -----------------------------------------------------------

t_multiplatform() {
	local p d
	for p in amd64 arm64; do
		d=$W/ctx-mp-$p
		mkdir -p "$d"
		printf 'content for %s\n' "$p" >"$d/f"
		printf 'FROM scratch\nCOPY f /f\n' >"$d/Dockerfile"
		seed build -q --platform "linux/$p" -t "mp-$p:v1" "$d" >/dev/null
		seed save --format oci-dir -o "$W/mp-$p" "mp-$p:v1"
	done
	local idx
	idx=$(python3 "$W/merge.py" "$W/mp" v1 "$W/mp-amd64" "$W/mp-arm64")
	must sk copy -q --all --dest-tls-verify=false "oci:$W/mp:v1" "docker://$REG/it/multi:v1"
	assert_eq "$(remote_digest "$REG/it/multi:v1")" "$idx" "the registry serves the index"
	local cfg_amd cfg_arm man_amd man_arm
	cfg_amd=$(manifest_of "$W/mp-amd64" | jq -r .config.digest)
	cfg_arm=$(manifest_of "$W/mp-arm64" | jq -r .config.digest)
	man_amd=$(oci_manifest_digest "$W/mp-amd64")
	man_arm=$(oci_manifest_digest "$W/mp-arm64")

	new_store
	must cairn pull --platform linux/arm64 "$REG/it/multi:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$cfg_arm" "--platform linux/arm64: the arm64 config"
	assert_eq "$(inspect_field "$REG/it/multi:v1" .Config.architecture)" arm64 ".architecture"
	local dg
	dg=$(inspect_field "$REG/it/multi:v1" .Digest)
	[ "$dg" = "$man_arm" ] || [ "$dg" = "$idx" ] || fail "Digest $dg is neither the arm64 manifest nor the index"
	info "single-platform pull records Digest = $([ "$dg" = "$idx" ] && echo index || echo 'platform manifest')"

	new_store
	must cairn pull --platform linux/amd64 "$REG/it/multi:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$cfg_amd" "--platform linux/amd64: the amd64 config"
	assert_eq "$(inspect_field "$REG/it/multi:v1" .Config.architecture)" amd64 ".architecture"

	if [ "$HOSTARCH" = amd64 ] || [ "$HOSTARCH" = arm64 ]; then
		new_store
		must cairn pull "$REG/it/multi:v1"
		assert_eq "$(inspect_field "$REG/it/multi:v1" .Config.architecture)" "$HOSTARCH" "default platform = the host's"
	fi

	run cairn pull --platform linux/s390x "$REG/it/multi:v1"
	assert_ne "$RUN_RC" 0 "a platform the index does not have"
	info "no matching platform: $RUN_ERR"

	new_store
	must cairn pull --all-platforms "$REG/it/multi:v1"
	echo "all-platforms: $RUN_OUT"
	assert_eq "$(inspect_field "$REG/it/multi:v1" .Digest)" "$idx" "--all-platforms keeps the index"
	assert_eq "$(inspect_field "$REG/it/multi:v1" .MediaType)" application/vnd.oci.image.index.v1+json "index media type"
	cairn save --format oci-dir -o "$W/mp-saved" "$REG/it/multi:v1"
	assert_eq "$(oci_manifest_digest "$W/mp-saved")" "$idx" "save of the pulled index"
	assert_eq "$(blob_list "$W/mp-saved")" "$(blob_list "$W/mp")" "all children's blobs"
	new_store
	must cairn pull -a "$REG/it/multi:v1"
	assert_eq "$(inspect_field "$REG/it/multi:v1" .Digest)" "$idx" "-a keeps the index"
	assert_fsck_clean

	# pushing the index pushes every child
	must cairn push "$REG/it/multi:v1" "$REG/it/multi-copy:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$idx" "push of an index prints the index digest"
	assert_eq "$(remote_digest "$REG/it/multi-copy:v1")" "$idx" "index pushed"
	for dg in "$man_amd" "$man_arm"; do
		sk inspect --raw --tls-verify=false "docker://$REG/it/multi-copy@$dg" >/dev/null || fail "child $dg not pushed"
	done
	must sk copy -q --all --src-tls-verify=false "docker://$REG/it/multi-copy:v1" "oci:$W/mp-copy:v1"
	verify_blobs "$W/mp-copy"
	assert_eq "$(blob_list "$W/mp-copy")" "$(blob_list "$W/mp")" "skopeo --all reads every blob back"
}
run_test "multi-platform: --platform picks the child, --all-platforms keeps the index, push of an index" t_multiplatform

# ---- build ----------------------------------------------------------------------

t_build_from_registry() {
	seed save --format oci-dir -o "$W/base-oci" base:v1
	must sk copy -q --dest-tls-verify=false "oci:$W/base-oci:$(layout_ref "$W/base-oci")" "docker://$REG/it/base:v1"
	local d=$W/ctx-reg
	mkdir -p "$d"
	printf 'from the context\n' >"$d/add.txt"
	cat >"$d/Dockerfile" <<EOF
FROM $REG/it/base:v1
COPY add.txt /add.txt
RUN cat /add.txt > /copied.txt && ls /data > /data-list.txt
EOF
	new_store
	must cairn build -q -t "$REG/it/built:v1" --push "$d"
	echo "build --push: $RUN_OUT / $RUN_ERR"
	local id
	id=$(inspect_field "$REG/it/built:v1" .Id)
	local raw
	raw=$(sk inspect --raw --tls-verify=false "docker://$REG/it/built:v1") || fail "skopeo does not see the pushed build"
	assert_eq "$(jq -r .config.digest <<<"$raw")" "$id" "pushed config = the built image"
	assert_eq "$(jq '.layers | length' <<<"$raw")" 3 "base layer + COPY + RUN"
	assert_eq "$(jq -r '.layers[0].digest' <<<"$raw")" "$(manifest_of "$W/base-oci" | jq -r '.layers[0].digest')" "the base layer is the registry's"
	if cairn inspect "$REG/it/base:v1" >/dev/null 2>&1; then
		info "the pulled base is tagged in the store"
	else
		info "the pulled base is not tagged in the store"
	fi
	must sk copy -q --src-tls-verify=false "docker://$REG/it/built:v1" "oci:$W/built:v1"
	umoci_unpack "$W/built" v1 "$W/u-built"
	assert_eq "$(cat "$W/u-built/rootfs/copied.txt")" "from the context" "RUN ran on the pulled base"

	must cairn build -q --output "type=registry,name=$REG/it/built:out-registry" "$d"
	assert_eq "$(sk inspect --raw --tls-verify=false "docker://$REG/it/built:out-registry" | jq -r .config.digest)" "$id" "--output type=registry"
	must cairn build -q --output "type=image,name=$REG/it/built:out-image,push=true" "$d"
	assert_eq "$(sk inspect --raw --tls-verify=false "docker://$REG/it/built:out-image" | jq -r .config.digest)" "$id" "--output type=image,push=true"
	assert_eq "$(inspect_field "$REG/it/built:out-image" .Id)" "$id" "type=image also names it locally"

	# the tag moves to another image: a build uses the base it has, --pull the new one
	mkdir -p "$W/base2-tree"
	tar -C "$W/base2-tree" -xf "$W/base.tar"
	printf 'moved\n' >"$W/base2-tree/moved.txt"
	tar --numeric-owner -C "$W/base2-tree" -cf "$W/base2.tar" .
	seed import "$W/base2.tar" base:v2 >/dev/null
	seed save --format oci-dir -o "$W/base2-oci" base:v2
	must sk copy -q --dest-tls-verify=false "oci:$W/base2-oci:$(layout_ref "$W/base2-oci")" "docker://$REG/it/base:v1"
	printf 'RUN test -e /moved.txt && echo new > /which || echo old > /which\n' >>"$d/Dockerfile"
	must cairn build -q -t which:nopull "$d"
	cairn save --format oci-dir -o "$W/which-nopull" which:nopull
	umoci_unpack "$W/which-nopull" "$(layout_ref "$W/which-nopull")" "$W/u-nopull"
	assert_eq "$(cat "$W/u-nopull/rootfs/which")" old "without --pull the base in the store is used"
	must cairn build -q --pull -t which:pull "$d"
	cairn save --format oci-dir -o "$W/which-pull" which:pull
	umoci_unpack "$W/which-pull" "$(layout_ref "$W/which-pull")" "$W/u-pull"
	assert_eq "$(cat "$W/u-pull/rootfs/which")" new "--pull re-resolves the moved tag"
	assert_fsck_clean
}
run_test "build: FROM a registry image (fresh store), --push, --output type=registry / push=true, --pull" t_build_from_registry

# ---- basic auth ---------------------------------------------------------------

t_basic_auth() {
	seed save --format oci-dir -o "$W/app-oci" app:v1
	must sk copy -q --dest-tls-verify=false --dest-creds "$AUTH_USER:$AUTH_PASS" "oci:$W/app-oci:$(layout_ref "$W/app-oci")" "docker://$REG_BASIC/it/app:v1"
	local b64 all=""
	b64=$(printf '%s' "$AUTH_USER:$AUTH_PASS" | base64 -w0)
	# every output of this test is collected and checked for the secret
	collect() { all+="$RUN_OUT"$'\n'"$RUN_ERR"$'\n'; }

	new_store
	run cairn pull "$REG_BASIC/it/app:v1"
	collect
	echo "anonymous pull: rc $RUN_RC: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "pull without credentials"
	assert_contains "$RUN_ERR" unauthorized "error names the cause"
	assert_contains "$RUN_ERR" "cairn login" "error says how to log in"
	[ -z "$(cairn images -q)" ] || fail "a failed pull left an image"

	# a wrong password: refused, nothing written
	run cairn login -u "$AUTH_USER" -p wrong-password "$REG_BASIC"
	collect
	echo "wrong login: rc $RUN_RC: $RUN_OUT $RUN_ERR"
	assert_ne "$RUN_RC" 0 "login with a wrong password"
	assert_not_contains "$RUN_OUT$RUN_ERR" wrong-password "the wrong password is not echoed"
	assert_not_exists "$XDG_CONFIG_HOME/cairn/auth.json" "no auth file after a refused login"

	# -p, into cairn's own file; other entries of the file are kept
	mkdir -p "$XDG_CONFIG_HOME/cairn"
	printf '{"auths":{"other.example:5000":{"auth":"%s"}}}\n' "$(printf 'x:y' | base64)" >"$XDG_CONFIG_HOME/cairn/auth.json"
	run cairn login -u "$AUTH_USER" -p "$AUTH_PASS" "$REG_BASIC"
	collect
	echo "login: rc $RUN_RC: $RUN_OUT $RUN_ERR"
	assert_eq "$RUN_RC" 0 "login with the right password: $RUN_ERR"
	local f=$XDG_CONFIG_HOME/cairn/auth.json
	assert_eq "$(stat -c %a "$f")" 600 "auth file mode"
	jq -e --arg r "$REG_BASIC" '.auths[$r]' "$f" >/dev/null || fail "no entry for $REG_BASIC in $(cat "$f")"
	jq -e '.auths["other.example:5000"]' "$f" >/dev/null || fail "login dropped another registry's entry"
	must cairn pull "$REG_BASIC/it/app:v1"
	collect
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "pull after login"
	must cairn push "$REG_BASIC/it/app:v1" "$REG_BASIC/it/pushed:v1"
	collect
	assert_eq "$(remote_digest "$REG_BASIC/it/pushed:v1" --creds "$AUTH_USER:$AUTH_PASS")" "$(last_line "$RUN_OUT")" "push after login"
	# logout: pull fails again (fresh store), the other entry stays
	run cairn logout "$REG_BASIC"
	collect
	assert_eq "$RUN_RC" 0 "logout: $RUN_ERR"
	jq -e --arg r "$REG_BASIC" '.auths[$r] == null' "$f" >/dev/null || fail "entry still there after logout: $(cat "$f")"
	jq -e '.auths["other.example:5000"]' "$f" >/dev/null || fail "logout dropped another registry's entry"
	new_store
	run cairn pull "$REG_BASIC/it/app:v1"
	collect
	assert_ne "$RUN_RC" 0 "pull after logout"
	assert_contains "$RUN_ERR" "cairn login" "hint after logout"
	run cairn logout "$REG_BASIC"
	collect
	info "logout when not logged in: rc $RUN_RC: $RUN_ERR"

	# --password-stdin and --authfile
	run cairn login -u "$AUTH_USER" --password-stdin --authfile "$W/auth-stdin.json" "$REG_BASIC" <<<"$AUTH_PASS"
	collect
	assert_eq "$RUN_RC" 0 "login --password-stdin: $RUN_ERR"
	assert_eq "$(stat -c %a "$W/auth-stdin.json")" 600 "--authfile mode"
	must cairn pull --authfile "$W/auth-stdin.json" "$REG_BASIC/it/app:v1"
	collect
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "pull --authfile"

	# $REGISTRY_AUTH_FILE
	new_store
	REGISTRY_AUTH_FILE=$W/auth-stdin.json run cairn pull "$REG_BASIC/it/app:v1"
	collect
	assert_eq "$RUN_RC" 0 "pull with \$REGISTRY_AUTH_FILE: $RUN_ERR"
	REGISTRY_AUTH_FILE=$W/auth-env.json run cairn login -u "$AUTH_USER" -p "$AUTH_PASS" "$REG_BASIC"
	collect
	assert_eq "$RUN_RC" 0 "login with \$REGISTRY_AUTH_FILE"
	[ -s "$W/auth-env.json" ] || fail "login did not write \$REGISTRY_AUTH_FILE"

	# ~/.docker/config.json (another HOME)
	new_store
	mkdir -p "$W/home2/.docker"
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG_BASIC" "$b64" >"$W/home2/.docker/config.json"
	HOME=$W/home2 XDG_CONFIG_HOME=$W/home2/.config run cairn pull "$REG_BASIC/it/app:v1"
	collect
	assert_eq "$RUN_RC" 0 "pull with ~/.docker/config.json: $RUN_ERR"

	# --creds, with request debugging on: still no secret
	new_store
	CAIRN_REGISTRY_DEBUG=1 run cairn pull --creds "$AUTH_USER:$AUTH_PASS" "$REG_BASIC/it/app:v1"
	collect
	assert_eq "$RUN_RC" 0 "pull --creds: $RUN_ERR"
	assert_contains "$RUN_ERR" "/v2/" "CAIRN_REGISTRY_DEBUG=1 logs requests"
	run cairn pull --creds "$AUTH_USER:nope" "$REG_BASIC/it/app:v1"
	collect
	assert_ne "$RUN_RC" 0 "pull with wrong --creds"

	assert_not_contains "$all" "$AUTH_PASS" "password in cairn's output"
	assert_not_contains "$all" "$b64" "base64 credentials in cairn's output"
	assert_not_contains "$all" "S3cr3t" "part of the password in cairn's output"
}
run_test "basic auth: login/logout, auth files (0600, \$REGISTRY_AUTH_FILE, docker config), --creds, no secret printed" t_basic_auth

# ---- token auth -----------------------------------------------------------------

t_token_auth() {
	seed save --format oci-dir -o "$W/app-oci-t" app:v1
	must sk copy -q --dest-tls-verify=false --dest-creds "$TOKEN_USER:$TOKEN_PASS" "oci:$W/app-oci-t:$(layout_ref "$W/app-oci-t")" "docker://$REG_TOKEN/it/app:v1"
	local all=""
	collect() { all+="$RUN_OUT"$'\n'"$RUN_ERR"$'\n'; }
	new_store
	run cairn pull "$REG_TOKEN/it/app:v1"
	collect
	echo "anonymous: rc $RUN_RC: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "pull with an anonymous token"
	assert_contains "$RUN_ERR" unauthorized "anonymous token: unauthorized"
	assert_contains "$RUN_ERR" "cairn login" "anonymous token: login hint"
	run cairn login -u "$TOKEN_USER" -p bad "$REG_TOKEN"
	collect
	assert_ne "$RUN_RC" 0 "token login with a wrong password"
	local mark
	mark=$(wc -l <"$TOKEN_LOG")
	run cairn login -u "$TOKEN_USER" -p "$TOKEN_PASS" "$REG_TOKEN"
	collect
	assert_eq "$RUN_RC" 0 "token login: $RUN_ERR"
	tail -n +"$((mark + 1))" "$TOKEN_LOG" | grep -E " $TOKEN_USER 200$" >/dev/null || fail "login fetched no token: $(cat "$TOKEN_LOG")"
	mark=$(wc -l <"$TOKEN_LOG")
	must cairn pull "$REG_TOKEN/it/app:v1"
	collect
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "pull with a token"
	local toks
	toks=$(tail -n +"$((mark + 1))" "$TOKEN_LOG")
	echo "token requests of the pull:"$'\n'"$toks"
	grep -F 'service=cairn-test-registry' <<<"$toks" >/dev/null || fail "no token request with the challenge's service"
	grep -E 'scope=repository(%3A|:)it(%2F|/)app(%3A|:)pull' <<<"$toks" >/dev/null || fail "no pull scope for it/app"
	info "token requests for one pull: $(count_lines "$toks")"
	[ "$(count_lines "$toks")" -le 4 ] || fail "tokens are not reused: $(count_lines "$toks") token requests for one pull"
	must cairn push "$REG_TOKEN/it/app:v1" "$REG_TOKEN/it/pushed:v1"
	collect
	assert_eq "$(remote_digest "$REG_TOKEN/it/pushed:v1" --creds "$TOKEN_USER:$TOKEN_PASS")" "$(last_line "$RUN_OUT")" "push with a token"
	new_store
	must cairn pull --creds "$TOKEN_USER:$TOKEN_PASS" "$REG_TOKEN/it/pushed:v1"
	collect
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "pull --creds through the token server"
	must cairn logout "$REG_TOKEN"
	assert_not_contains "$all" "$TOKEN_PASS" "password in cairn's output"
	assert_not_contains "$all" "eyJ" "a JWT in cairn's output"
}
run_test "token auth: anonymous token refused, login, pull and push with bearer tokens" t_token_auth

# ---- TLS --------------------------------------------------------------------------

t_tls() {
	seed save --format oci-dir -o "$W/base-oci-tls" base:v1
	# (skopeo, written in Go, does not resolve *.localhost: it uses 127.0.0.1,
	# which the certificate names too)
	must sk copy -q --dest-cert-dir "$W/certs" "oci:$W/base-oci-tls:$(layout_ref "$W/base-oci-tls")" "docker://127.0.0.1:$TLS_PORT/it/base:v1"
	local want
	want=$(seed inspect --json base:v1 | jq -r '.[0].Id')
	new_store
	run cairn pull "$REG_TLS/it/base:v1"
	echo "no flags: rc $RUN_RC: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "a self-signed registry without flags"
	[[ $RUN_ERR == *TLS* || $RUN_ERR == *certificate* ]] || fail "error does not mention TLS or the certificate: $RUN_ERR"
	[ -z "$(cairn images -q)" ] || fail "image after a refused TLS pull"
	must cairn pull --tls-verify=false "$REG_TLS/it/base:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$want" "--tls-verify=false"
	new_store
	must cairn pull --insecure-registry "$REG_TLS" "$REG_TLS/it/base:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$want" "--insecure-registry"
	if "$CAIRN" pull --help 2>&1 | grep -q -- --cert-dir; then
		new_store
		must cairn pull --cert-dir "$W/certs" "$REG_TLS/it/base:v1"
		assert_eq "$(last_line "$RUN_OUT")" "$want" "--cert-dir with the CA"
		run cairn push --cert-dir "$W/certs" "$REG_TLS/it/base:v1" "$REG_TLS/it/pushed:v1"
		assert_eq "$RUN_RC" 0 "push --cert-dir: $RUN_ERR"
	else
		info "cairn pull has no --cert-dir: sub-check skipped"
	fi
	run cairn push "$REG_TLS/it/base:v1" "$REG_TLS/it/pushed2:v1"
	assert_ne "$RUN_RC" 0 "push to a self-signed registry without flags"
	must cairn push --tls-verify=false "$REG_TLS/it/base:v1" "$REG_TLS/it/pushed2:v1"
	assert_eq "$(remote_digest "127.0.0.1:$TLS_PORT/it/pushed2:v1")" "$(last_line "$RUN_OUT")" "push --tls-verify=false"
	# The same registry as 127.0.0.1:PORT (a local registry): informational
	new_store
	run cairn pull "127.0.0.1:$TLS_PORT/it/base:v1"
	info "TLS registry addressed as 127.0.0.1 without flags: rc $RUN_RC ${RUN_ERR:+($(last_line "$RUN_ERR"))}"
	# A plain HTTP registry under a non-local name needs --insecure-registry
	local plain_named=cairn-plain.localhost:${REG#*:}
	must sk copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$REG/it/app:v1" "docker://$REG/it/named:v1"
	new_store
	run cairn pull "$plain_named/it/named:v1"
	echo "plain, non-local name: rc $RUN_RC: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "plain HTTP under a non-local name without flags"
	must cairn pull --insecure-registry "$plain_named" "$plain_named/it/named:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "--insecure-registry falls back to HTTP"
}
run_test "TLS: certificate checked by default, --tls-verify=false, --insecure-registry, --cert-dir" t_tls

# ---- cross-repository mount, HEAD-skip -------------------------------------------

t_mount_and_skip() {
	local mark reqs
	# the image has a name in it/mount-a (pushed there): pushed to it/mount-b
	# its blobs are mounted from it/mount-a
	seed tag app:v1 "$REG/it/mount-a:v1"
	must seed push "$REG/it/mount-a:v1"
	mark=$(log_mark "$REG_LOG")
	must seed push "$REG/it/mount-a:v1" "$REG/it/mount-b:v1"
	reqs=$(requests_since "$REG_LOG" "$mark")
	echo "second repository:"$'\n'"$reqs"
	if grep -E '^(PATCH|PUT) [^ ]*/blobs/uploads' <<<"$reqs"; then
		fail "layer bytes uploaded again to the second repository"
	fi
	grep -E '^POST /v2/it/mount-b/blobs/uploads/\?[^ ]*mount=sha256' <<<"$reqs" | grep -E ' 201$' >/dev/null ||
		fail "no cross-repository mount (POST ...?mount=...&from=...) answered 201"
	grep -E '^PUT /v2/it/mount-b/manifests/v1 201$' <<<"$reqs" >/dev/null || fail "manifest not put"
	assert_eq "$(remote_digest "$REG/it/mount-b:v1")" "$(remote_digest "$REG/it/mount-a:v1")" "same manifest"

	# the same again: every blob is there, nothing uploaded or mounted
	mark=$(log_mark "$REG_LOG")
	must seed push "$REG/it/mount-a:v1" "$REG/it/mount-b:v1"
	reqs=$(requests_since "$REG_LOG" "$mark")
	echo "again:"$'\n'"$reqs"
	if grep -E '^(POST|PATCH|PUT) [^ ]*/blobs/' <<<"$reqs"; then
		fail "a push of blobs the repository has sent something"
	fi

	# a pulled image pushed to another repository mounts from where it came from
	new_store
	must sk copy -q --dest-tls-verify=false "oci:$W/foreign:v1" "docker://$REG/it/mount-src:v1"
	must cairn pull "$REG/it/mount-src:v1"
	mark=$(log_mark "$REG_LOG")
	must cairn push "$REG/it/mount-src:v1" "$REG/it/mount-dst:v1"
	reqs=$(requests_since "$REG_LOG" "$mark")
	echo "pulled, pushed elsewhere:"$'\n'"$reqs"
	if grep -E '^(PATCH|PUT) [^ ]*/blobs/uploads' <<<"$reqs"; then
		fail "layers of a pulled image uploaded instead of mounted from its repository"
	fi
}
run_test "push: cross-repository mount to a second repository, HEAD-skip of existing blobs" t_mount_and_skip

# ---- errors (fakereg and the real registry) --------------------------------------

# The layout fakereg serves: app:v1 named "v1", and its biggest layer.
seed save --format oci-dir -o "$W/fr-app" app:v1
python3 - "$W/fr-app" <<'EOF'
import json, sys
p = sys.argv[1] + "/index.json"
i = json.load(open(p))
i["manifests"][0].setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "v1"
json.dump(i, open(p, "w"))
EOF
FR_BIG=$(manifest_of "$W/fr-app" v1 | jq -r '.layers | max_by(.size) | .digest')
export FR_BIG

# A store that holds no image: nothing else either (du's records all 0).
assert_no_trace() {
	[ -z "$(cairn images -q 2>/dev/null)" ] || fail "images after a failed pull: $(cairn images)"
	assert_fsck_clean
	local du
	du=$(cairn du --json)
	echo "du after the failed pull: $du"
	assert_eq "$(jq -c '[.images, .layers, .blobs]' <<<"$du")" "[0,0,0]" "du: no image, layer or blob records"
	if [ "$(jq -c '[.contents, .chunks, .stored_bytes]' <<<"$du")" != "[0,0,0]" ]; then
		info "after a failed pull du has contents/chunks: $(jq -c '{contents, chunks, stored_bytes, reclaimable_contents}' <<<"$du")"
	fi
}

t_corrupt_blob() {
	start_fakereg "$W/fr-app" "$W/fr-corrupt.log" --corrupt-blob "$FR_BIG"
	new_store
	run cairn pull "$FR/it/app:v1"
	echo "rc $RUN_RC: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "pull of a corrupted blob"
	assert_contains "$RUN_ERR" "digest mismatch" "error"
	assert_no_trace
	# a corrupted manifest (by digest) too
	local man
	man=$(oci_manifest_digest "$W/fr-app" v1)
	start_fakereg "$W/fr-app" "$W/fr-corrupt2.log" --corrupt-blob "$man"
	new_store
	run cairn pull "$FR/it/app@$man"
	assert_ne "$RUN_RC" 0 "pull of a corrupted manifest"
	assert_contains "$RUN_ERR" "digest mismatch" "manifest error"
	assert_no_trace
}
run_test "corrupted blob or manifest: 'digest mismatch', the store keeps no trace" t_corrupt_blob

t_ratelimit() {
	start_fakereg "$W/fr-app" "$W/fr-429.log" --ratelimit 97
	new_store
	local t0 t1
	t0=$SECONDS
	run timeout 80 "$CAIRN" --root "$STORE" pull "$FR/it/app:v1"
	t1=$SECONDS
	echo "rc $RUN_RC after $((t1 - t0))s: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "pull while rate limited"
	assert_ne "$RUN_RC" 124 "cairn waited for the rate limit instead of failing"
	assert_contains "$RUN_ERR" "rate limit" "error (rate limit / rate limited)"
	assert_match "$RUN_ERR" '(^|[^0-9])97([^0-9]|$)' "the retry delay (97 s) in the error"
	assert_no_trace
}
run_test "429: 'rate limit' with the Retry-After delay" t_ratelimit

t_not_found() {
	new_store
	run cairn pull "$REG/it/app:no-such-tag"
	echo "rc $RUN_RC: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "unknown tag"
	[[ $RUN_ERR == *"not found"* || $RUN_ERR == *"manifest unknown"* ]] || fail "unknown tag: $RUN_ERR"
	run cairn pull "$REG/no/such-repo:v1"
	assert_ne "$RUN_RC" 0 "unknown repository"
	[[ $RUN_ERR == *"not found"* || $RUN_ERR == *"unknown"* ]] || fail "unknown repository: $RUN_ERR"
	start_fakereg "$W/fr-app" "$W/fr-404.log"
	run cairn pull "$FR/it/app:nope"
	assert_ne "$RUN_RC" 0 "unknown tag (fakereg)"
	[[ $RUN_ERR == *"not found"* || $RUN_ERR == *"manifest unknown"* ]] || fail "unknown tag (fakereg): $RUN_ERR"
	assert_no_trace
}
run_test "unknown tag or repository: 'not found' / 'manifest unknown'" t_not_found

t_unreachable() {
	local p t0
	p=$(free_port)
	new_store
	t0=$SECONDS
	run timeout 120 "$CAIRN" --root "$STORE" pull "127.0.0.1:$p/it/app:v1"
	echo "rc $RUN_RC after $((SECONDS - t0))s: $RUN_ERR"
	assert_ne "$RUN_RC" 0 "nobody listens"
	assert_ne "$RUN_RC" 124 "cairn hung on a refused connection"
	assert_contains "$RUN_ERR" unreachable "error"
	assert_le "$((SECONDS - t0))" 30 "seconds to give up on a refused connection"
	run cairn push app:v1 "127.0.0.1:$p/it/app:v1"
	assert_ne "$RUN_RC" 0 "push to nobody"
}
run_test "a port nobody listens on: 'unreachable', quickly" t_unreachable

t_dropped_connection() {
	start_fakereg "$W/fr-app" "$W/fr-drop.log" --drop-after 65536
	new_store
	must cairn pull "$FR/it/app:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$APP_ID" "pull despite dropped connections"
	echo "fakereg log:"
	cat "$W/fr-drop.log"
	grep -E "^GET /v2/it/app/blobs/$FR_BIG - 200 65536 cut$" "$W/fr-drop.log" >/dev/null || fail "the big layer was not cut (fakereg)"
	grep -E "^GET /v2/it/app/blobs/$FR_BIG bytes=65536- 206 [0-9]+ complete$" "$W/fr-drop.log" >/dev/null ||
		fail "no Range request resuming the big layer at 65536"
	cairn save --format oci-dir -o "$W/drop-saved" "$FR/it/app:v1"
	assert_eq "$(digests_of "$W/drop-saved")" "$(digests_of "$W/fr-app" v1)" "same image after resumed transfers"
	assert_fsck_clean
}
run_test "dropped connection mid-blob: the pull resumes with a Range request" t_dropped_connection

t_killed_pull() {
	# big:v1 = base + a small COPY + a 12 MiB random COPY (last layer)
	local d=$W/ctx-big
	mkdir -p "$d"
	printf 'small\n' >"$d/small.txt"
	head -c $((12 << 20)) /dev/urandom >"$d/big.bin"
	printf 'FROM base:v1\nCOPY small.txt /small.txt\nCOPY big.bin /big.bin\n' >"$d/Dockerfile"
	seed build -q -t big:v1 "$d" >/dev/null
	local L=$W/fr-big
	seed save --format oci-dir -o "$L" big:v1
	python3 - "$L" <<'EOF'
import json, sys
p = sys.argv[1] + "/index.json"
i = json.load(open(p))
i["manifests"][0].setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "v1"
json.dump(i, open(p, "w"))
EOF
	local big others want cfg
	big=$(manifest_of "$L" v1 | jq -r '.layers[-1].digest')
	others=$(manifest_of "$L" v1 | jq -r '[.config.digest] + [.layers[:-1][].digest] | .[]')
	cfg=$(manifest_of "$L" v1 | jq -r '.config.digest')
	want=$(seed inspect --json big:v1 | jq -r '.[0].Id')
	local log=$W/fr-kill.log
	start_fakereg "$L" "$log" --slow $((1 << 20))
	new_store
	"$CAIRN" --root "$STORE" pull "$FR/it/big:v1" >"$W/kill.out" 2>"$W/kill.err" &
	local cpid=$! i n=0 o
	# until every blob but the big one was served completely (15 s at most)
	for ((i = 0; i < 150; i++)); do
		n=0
		for o in $others; do
			grep -qE "^GET /v2/it/big/blobs/$o [^ ]+ 20[06] [0-9]+ complete$" "$log" && n=$((n + 1))
		done
		[ "$n" -eq "$(count_lines "$others")" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1 # part of the big layer arrives
	kill -0 "$cpid" 2>/dev/null || {
		cat "$W/kill.err"
		fail "the pull ended before it was killed"
	}
	kill -9 "$cpid"
	wait "$cpid" 2>/dev/null || true
	echo "first pull (killed), fakereg log:"
	cat "$log"
	# the layers completed before the kill (the config, a few hundred bytes
	# kept with the manifest in the pull's own layout, may be fetched again)
	local done1
	done1=$(sed -nE 's/^GET [^ ]*\/blobs\/(sha256:[0-9a-f]+) [^ ]+ 20[06] [0-9]+ complete$/\1/p' "$log" | grep -vx "$cfg" | sort -u || true)
	info "layers completed before SIGKILL: $(count_lines "$done1") of $(count_lines "$others") small ones (the big one was still coming)"
	[ "$(count_lines "$done1")" -ge 1 ] || fail "no layer completed before the kill (the check would be vacuous)"
	grep -qx "$big" <<<"$done1" && fail "the big layer completed before the kill"

	kill -USR1 "$FR_PID" # full speed from now on
	local mark
	mark=$(wc -l <"$log")
	must cairn pull "$FR/it/big:v1"
	assert_eq "$(last_line "$RUN_OUT")" "$want" "the second pull completes"
	echo "second pull, fakereg log:"
	tail -n +"$((mark + 1))" "$log"
	local b
	for b in $done1; do
		if tail -n +"$((mark + 1))" "$log" | grep -E "^GET [^ ]*/blobs/$b " >/dev/null; then
			fail "blob $b completed by the killed pull was fetched again"
		fi
	done
	if tail -n +"$((mark + 1))" "$log" | grep -E "^GET [^ ]*/blobs/$cfg " >/dev/null; then
		info "the config was fetched again"
	fi
	if tail -n +"$((mark + 1))" "$log" | grep -E "^GET [^ ]*/blobs/$big bytes=[1-9]" >/dev/null; then
		info "the big layer resumed with a Range request"
	else
		info "the big layer was fetched again from the start"
	fi
	assert_fsck_clean
	cairn save --format oci-dir -o "$W/kill-saved" "$FR/it/big:v1"
	assert_eq "$(digests_of "$W/kill-saved")" "$(digests_of "$L" v1)" "same image after the interrupted pull"
}
run_test "SIGKILLed pull: the next pull does not fetch again the blobs it completed" t_killed_pull

tap_done
