#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/integration/build.sh: `cairn build` on its own (the comparison with
# buildah is build-diff.sh).  Golden checks of what buildah cannot tell us
# (BuildKit's config and history, heredocs, HEALTHCHECK), the cache (hits,
# touch is not a change, config instructions do not invalidate RUN, a fully
# cached rebuild is the same image), error messages, secrets, outputs,
# SOURCE_DATE_EPOCH reproducibility, --target pruning, the sandbox.

source "$(dirname "$0")/lib.sh"
it_init umoci jq busybox
BB=$(command -v busybox)

W=$IT_TMP/w
mkdir -p "$W"
export W BB

# A busybox base image "busybox:latest" in the current store.
busybox_base() {
	local r=$W/bbroot
	if [ ! -f "$W/busybox.tar" ]; then
		rm -rf "$r"
		mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root"
		cp "$BB" "$r/bin/busybox"
		for t in $("$BB" --list); do
			[ "$t" = busybox ] || ln -sf busybox "$r/bin/$t"
		done
		chmod 1777 "$r/tmp"
		printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
		printf 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n' >"$r/etc/group"
		tar --numeric-owner -C "$r" -cf "$W/busybox.tar" .
	fi
	cairn import "$W/busybox.tar" busybox:latest >/dev/null
}

# ctx NAME: a fresh context directory; the Dockerfile comes on stdin.
ctx() {
	local d=$W/ctx-$1
	rm -rf "$d"
	mkdir -p "$d"
	cat >"$d/Dockerfile"
	echo "$d"
}

config_of() { # IMAGE -> the config JSON
	cairn inspect --json "$1" | jq -c '.[0].Config'
}

t_config_golden() {
	new_store
	local d
	d=$(ctx config <<'EOF'
FROM scratch
ENV A=1 B="two words"
ENV C $A
LABEL org.example.x=1 "with space"=yes
EXPOSE 80 53/udp 8000-8001/tcp
VOLUME /data
VOLUME ["/logs"]
WORKDIR /app
WORKDIR sub
USER app:staff
STOPSIGNAL SIGINT
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
CMD echo hi
ENTRYPOINT ["/bin/run"]
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -f http://localhost/
ONBUILD RUN echo triggered
EOF
	)
	cairn build -q -t cfg "$d" >/dev/null
	local c
	c=$(config_of cfg)
	assert_eq "$(jq -c '.config.Env' <<<"$c")" '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1","B=two words","C=1"]' Env
	assert_eq "$(jq -c '.config.Labels' <<<"$c")" '{"org.example.x":"1","with space":"yes"}' Labels
	assert_eq "$(jq -c '.config.ExposedPorts|keys' <<<"$c")" '["53/udp","80/tcp","8000/tcp","8001/tcp"]' ExposedPorts
	assert_eq "$(jq -c '.config.Volumes|keys' <<<"$c")" '["/data","/logs"]' Volumes
	assert_eq "$(jq -r '.config.User' <<<"$c")" app:staff User
	assert_eq "$(jq -r '.config.WorkingDir' <<<"$c")" /app/sub WorkingDir
	assert_eq "$(jq -r '.config.StopSignal' <<<"$c")" SIGINT StopSignal
	assert_eq "$(jq -c '.config.Shell' <<<"$c")" '["/bin/ash","-eo","pipefail","-c"]' Shell
	# ENTRYPOINT after CMD in the same stage keeps CMD
	assert_eq "$(jq -c '.config.Cmd' <<<"$c")" '["/bin/ash","-eo","pipefail","-c","echo hi"]' Cmd
	assert_eq "$(jq -c '.config.Entrypoint' <<<"$c")" '["/bin/run"]' Entrypoint
	assert_eq "$(jq -c '.config.Healthcheck' <<<"$c")" '{"Interval":30000000000,"Retries":3,"Test":["CMD-SHELL","curl -f http://localhost/"],"Timeout":5000000000}' Healthcheck
	assert_eq "$(jq -c '.config.OnBuild' <<<"$c")" '["RUN echo triggered"]' OnBuild
	# history as BuildKit writes it; WORKDIR makes layers
	assert_eq "$(jq -r '.history[0].created_by' <<<"$c")" 'ENV A=1 B=two words' history-env
	assert_eq "$(jq -r '.history[] | select(.created_by|startswith("CMD")) | .created_by' <<<"$c")" 'CMD ["/bin/ash" "-eo" "pipefail" "-c" "echo hi"]' history-cmd
	assert_eq "$(jq -r '.history[] | select(.created_by|startswith("EXPOSE")) | .created_by' <<<"$c")" 'EXPOSE [80/tcp 53/udp 8000/tcp 8001/tcp]' history-expose
	assert_eq "$(jq -r '.history[] | select(.created_by|startswith("HEALTHCHECK")) | .created_by' <<<"$c")" 'HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:30s Timeout:5s StartPeriod:0s StartInterval:0s Retries:3}' history-healthcheck
	assert_eq "$(jq '[.history[] | select(.empty_layer != true)] | length' <<<"$c")" 2 layer-entries
	assert_eq "$(jq '.rootfs.diff_ids | length' <<<"$c")" 2 diff_ids
	assert_eq "$(jq -r '.history[] | select(.created == null) | .created_by' <<<"$c")" '' "every history entry has a time"
	# ENTRYPOINT in a later stage resets the inherited CMD; ONBUILD fires there
	busybox_base
	cairn tag cfg cfgbase
	d=$(ctx config2 <<'EOF'
FROM cfgbase
ENTRYPOINT ["/bin/other"]
EOF
	)
	run cairn build -q -t cfg2 "$d"
	# the trigger "RUN echo triggered" needs a shell: cfgbase has none
	assert_ne "$RUN_RC" 0 "the ONBUILD trigger runs (and fails without /bin/sh)"
	assert_contains "$RUN_ERR" 'Dockerfile:1' "trigger errors point at FROM"
}
run_test "config instructions and history as BuildKit writes them" t_config_golden

t_run_and_cache() {
	new_store
	busybox_base
	local d
	d=$(ctx cache <<'EOF'
FROM busybox
ARG GREETING=hello
COPY a.txt /src/
RUN cat /src/a.txt > /out.txt && echo "$GREETING" >> /out.txt
LABEL version=1
RUN cp /out.txt /out2.txt
EOF
	)
	echo one >"$d/a.txt"
	run cairn build --progress=plain -t c1 "$d"
	assert_eq "$RUN_RC" 0 "first build: $RUN_ERR"
	assert_contains "$RUN_ERR" '3 steps, 0 cached' "first build is cold"
	local id1 id2
	id1=$(cairn inspect --json c1 | jq -r '.[0].Id')
	run cairn build --progress=plain -t c1 "$d"
	assert_contains "$RUN_ERR" '3 steps, 3 cached (100% hit rate)' "no-op rebuild"
	id2=$(cairn inspect --json c1 | jq -r '.[0].Id')
	assert_eq "$id2" "$id1" "a fully cached rebuild is the same image"
	touch -d '2001-01-01' "$d/a.txt"
	run cairn build --progress=plain "$d"
	assert_contains "$RUN_ERR" '3 cached' "touching a file is not a change"
	sed -i 's/version=1/version=2/' "$d/Dockerfile"
	run cairn build --progress=plain "$d"
	assert_contains "$RUN_ERR" '3 cached' "a LABEL change does not invalidate the RUN below it"
	echo two >"$d/a.txt"
	run cairn build --progress=plain -t c2 "$d"
	assert_contains "$RUN_ERR" '3 steps, 0 cached' "a content change invalidates COPY and what follows"
	run cairn build --progress=plain --build-arg GREETING=hi -t c3 "$d"
	assert_contains "$RUN_ERR" '3 steps, 1 cached' "a build arg invalidates the RUN that sees it"
	cairn save --format oci-dir -o "$W/oci-c3" c3
	rm -rf "$W/b3"
	umoci unpack --image "$W/oci-c3:latest" "$W/b3" >/dev/null
	assert_eq "$(cat "$W/b3/rootfs/out2.txt")" "$(printf 'two\nhi')" "RUN saw the ARG"
	assert_eq "$(config_of c3 | jq -r '.history[] | select(.created_by|contains("cat /src/a.txt")) | .created_by')" \
		'RUN |1 GREETING=hi /bin/sh -c cat /src/a.txt > /out.txt && echo "$GREETING" >> /out.txt # buildkit' "RUN history with its ARGs"
	run cairn build --progress=plain --no-cache "$d"
	assert_contains "$RUN_ERR" '0 cached' "--no-cache"
	assert_fsck_clean
}
run_test "RUN, COPY and the cache (hits, touch, LABEL, args, --no-cache)" t_run_and_cache

t_heredocs() {
	new_store
	busybox_base
	local d
	d=$(ctx heredoc <<'EOF'
FROM busybox
ARG NAME=world
RUN <<EOT
echo "hello $NAME" > /greeting
echo second >> /greeting
EOT
RUN <<EOT
#!/bin/sh
echo "from a shebang script: $0" > /shebang
EOT
COPY <<EOT /etc/copied
name=${NAME}
EOT
COPY <<"EOT" /etc/literal
name=${NAME}
EOT
RUN cat <<A > /two && cat <<B >> /two
first
A
second
B
EOF
	)
	cairn build -q -t hd "$d" >/dev/null
	cairn save --format oci-dir -o "$W/oci-hd" hd
	rm -rf "$W/bhd"
	umoci unpack --image "$W/oci-hd:latest" "$W/bhd" >/dev/null
	local r=$W/bhd/rootfs
	assert_eq "$(cat "$r/greeting")" "$(printf 'hello world\nsecond')" "RUN heredoc"
	assert_eq "$(cat "$r/shebang")" "from a shebang script: /dev/pipes/EOT" "shebang heredoc"
	assert_eq "$(cat "$r/etc/copied")" "name=world" "COPY heredoc expands"
	assert_eq "$(cat "$r/etc/literal")" 'name=${NAME}' "quoted COPY heredoc does not"
	assert_eq "$(cat "$r/two")" "$(printf 'first\nsecond')" "two heredocs"
	assert_eq "$(stat -c %a "$r/etc/copied")" 644 "heredoc file mode"
	[ ! -e "$r/dev/pipes" ] || fail "/dev/pipes left in the image"
}
run_test "heredocs in RUN and COPY" t_heredocs

t_errors() {
	new_store
	busybox_base
	local d
	d=$(ctx err1 <<'EOF'
FROM busybox
COPPY a b
EOF
	)
	run cairn build "$d"
	assert_ne "$RUN_RC" 0 "unknown instruction fails"
	assert_contains "$RUN_ERR" 'Dockerfile:2: unknown instruction: COPPY (did you mean COPY?)' "suggestion"
	d=$(ctx err2 <<'EOF'
FROM busybox
RUN echo some output; echo more output; exit 3
EOF
	)
	run cairn build --progress=plain "$d"
	assert_ne "$RUN_RC" 0 "failing RUN fails"
	assert_contains "$RUN_ERR" 'Dockerfile:2: process "/bin/sh -c echo some output; echo more output; exit 3" did not complete successfully: exit code: 3' "RUN failure message"
	assert_contains "$RUN_ERR" 'more output' "last output lines shown"
	d=$(ctx err3 <<'EOF'
FROM busybox
COPY missing.txt /
EOF
	)
	run cairn build "$d"
	assert_contains "$RUN_ERR" 'Dockerfile:2:' "missing source: line"
	assert_contains "$RUN_ERR" 'not found' "missing source: message"
	d=$(ctx err4 <<'EOF'
FROM nosuchimage:1.0
EOF
	)
	run cairn build "$d"
	assert_contains "$RUN_ERR" 'Dockerfile:1: image "nosuchimage:1.0" is not in the local store' "unknown image"
	d=$(ctx err5 <<'EOF'
FROM busybox AS a
FROM busybox
COPY --from=b /x /y
EOF
	)
	run cairn build "$d"
	assert_ne "$RUN_RC" 0 "undefined stage fails"
	d=$(ctx err6 <<'EOF'
FROM busybox AS a
COPY --from=a /x /y
EOF
	)
	run cairn build "$d"
	assert_contains "$RUN_ERR" 'circular dependency detected on stage: a' "cycle in --from"
	d=$(ctx err7 <<'EOF'
FROM busybox
RUN --bogus=1 true
EOF
	)
	run cairn build "$d"
	assert_contains "$RUN_ERR" 'Dockerfile:2: unknown flag: --bogus' "bad flag"
	run cairn build --target nope "$d"
	assert_contains "$RUN_ERR" 'target stage "nope" could not be found' "bad target"
	d=$(ctx err8 <<'EOF'
FROM busybox
RUN <<EOT
echo never terminated
EOF
	)
	run cairn build "$d"
	assert_ne "$RUN_RC" 0 "unterminated heredoc fails"
	assert_contains "$RUN_ERR" 'Dockerfile:' "unterminated heredoc: location"
	assert_fsck_clean
}
run_test "errors point at Dockerfile:LINE" t_errors

t_secrets_and_network() {
	new_store
	busybox_base
	local d
	d=$(ctx secret <<'EOF'
FROM busybox
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen-size && wc -c < /run/secrets/tok > /seen-size
RUN --mount=type=secret,id=tok,env=TOK,target=/run/secrets/tok sh -c 'test "$TOK" = "$(cat /run/secrets/tok)" && echo ok > /env-ok'
RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /netdevs
RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /cache-count
RUN --mount=type=tmpfs,target=/scratch touch /scratch/f && ls /scratch > /tmpfs-ls
EOF
	)
	echo -n s3cr3t-value >"$W/tok"
	cairn build -q --secret id=tok,src="$W/tok" -t sec "$d" >/dev/null
	cairn save --format oci-dir -o "$W/oci-sec" sec
	rm -rf "$W/bsec"
	umoci unpack --image "$W/oci-sec:latest" "$W/bsec" >/dev/null
	local r=$W/bsec/rootfs
	assert_eq "$(tr -d ' ' <"$r/seen-size")" 12 "secret visible in RUN"
	assert_eq "$(cat "$r/env-ok")" ok "secret as env"
	[ ! -e "$r/run/secrets" ] && [ ! -e "$r/run" ] || fail "secret mount stub left in the image"
	if grep -rq s3cr3t-value "$W/oci-sec" "$r"; then fail "secret leaked into the image"; fi
	if grep -rqa s3cr3t-value "$STORE" 2>/dev/null; then fail "secret leaked into the store"; fi
	assert_eq "$(cat "$r/netdevs")" lo "--network=none has only lo"
	assert_eq "$(tr -d ' ' <"$r/cache-count")" 1 "cache mount"
	[ ! -e "$r/cache" ] || fail "cache mount stub left"
	[ ! -e "$r/scratch" ] || fail "tmpfs stub left"
	# a different secret value is not a different key: still cached
	echo -n other >"$W/tok"
	run cairn build --progress=plain --secret id=tok,src="$W/tok" "$d"
	assert_contains "$RUN_ERR" '5 steps, 5 cached' "secrets are not in the key"
	# the cache mount persists across builds
	run cairn build --progress=plain --no-cache --secret id=tok,src="$W/tok" -t sec2 "$d"
	cairn save --format oci-dir -o "$W/oci-sec2" sec2
	rm -rf "$W/bsec2"
	umoci unpack --image "$W/oci-sec2:latest" "$W/bsec2" >/dev/null
	assert_eq "$(tr -d ' ' <"$W/bsec2/rootfs/cache-count")" 2 "cache mount persists"
}
run_test "secrets, --network=none, cache and tmpfs mounts" t_secrets_and_network

t_sandbox_scratch() {
	new_store
	local d
	d=$(ctx sandbox <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox echo $$ > /pid1 && /bin/busybox hostname > /hostname && /bin/busybox ls /proc | /bin/busybox grep -c '^[0-9]' > /nprocs"]
EOF
	)
	cp "$BB" "$d/busybox"
	cairn build -q -t sb "$d" >/dev/null
	cairn save --format oci-dir -o "$W/oci-sb" sb
	rm -rf "$W/bsb"
	umoci unpack --image "$W/oci-sb:latest" "$W/bsb" >/dev/null
	local r=$W/bsb/rootfs
	assert_eq "$(cat "$r/pid1")" 1 "RUN is PID 1"
	assert_eq "$(cat "$r/hostname")" buildkitsandbox hostname
	assert_le "$(cat "$r/nprocs")" 3 "own PID namespace"
	assert_eq "$(cd "$r" && ls -A | sort | tr '\n' ' ')" "bin hostname nprocs pid1 " "no mount stubs in the layer"
}
run_test "RUN sandbox on scratch: PID 1, hostname, no mount stubs" t_sandbox_scratch

t_multistage_outputs() {
	new_store
	busybox_base
	local d
	d=$(ctx multi <<'EOF'
ARG BASE=busybox
FROM ${BASE} AS build
RUN mkdir -p /out && echo built > /out/artifact
FROM busybox AS unused
RUN false
FROM scratch
COPY --from=build /out/ /
COPY --from=0 /etc/passwd /passwd
EOF
	)
	run cairn build --progress=plain -t multi "$d"
	assert_eq "$RUN_RC" 0 "the unused (failing) stage is not built: $RUN_ERR"
	run cairn build --progress=plain --target unused "$d"
	assert_ne "$RUN_RC" 0 "--target unused builds it"
	cairn build -q -o type=local,dest="$W/local" "$d" >/dev/null
	assert_eq "$(cat "$W/local/artifact")" built "type=local"
	cairn build -q -o type=tar,dest="$W/rootfs.tar" "$d" >/dev/null
	assert_eq "$(tar -tf "$W/rootfs.tar" | sort | tr '\n' ' ')" "artifact passwd " "type=tar"
	cairn build -q -t multi:v2 -o type=oci,dest="$W/oci-dir",tar=false "$d" >/dev/null
	assert_eq "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$W/oci-dir/index.json")" v2 "OCI ref name"
	umoci unpack --image "$W/oci-dir:v2" "$W/bm" >/dev/null
	assert_eq "$(cat "$W/bm/rootfs/artifact")" built "OCI layout unpacks"
	cairn build -q -t multi:v3 -o type=oci,dest="$W/multi.oci.tar" "$d" >/dev/null
	tar -tf "$W/multi.oci.tar" >"$W/multi.list"
	grep -qx index.json "$W/multi.list" || fail "OCI archive"
	cairn build -q -t multi:v4 -o type=docker,dest="$W/multi.docker.tar" "$d" >/dev/null
	tar -xOf "$W/multi.docker.tar" manifest.json | jq -e '.[0].RepoTags[0] == "multi:v4"' >/dev/null || fail "docker archive"
	cairn build -q --iidfile "$W/iid" --metadata-file "$W/meta.json" -t multi:v5 "$d" >/dev/null
	assert_eq "$(jq -r '."containerimage.config.digest"' "$W/meta.json")" "$(cat "$W/iid")" "metadata file"
	assert_match "$(jq -r '."containerimage.digest"' "$W/meta.json")" '^sha256:[0-9a-f]{64}$' "manifest digest"
}
run_test "multi-stage, --target, outputs (local, tar, oci, docker), iidfile, metadata" t_multistage_outputs

t_reproducible() {
	local d
	d=$(ctx repro <<'EOF'
FROM busybox
COPY . /src
RUN ls /src > /listing && mkdir -p /made/here
WORKDIR /made/work
EOF
	)
	echo data >"$d/file"
	export SOURCE_DATE_EPOCH=1700000000 # the base image too: its id is part of the result
	new_store
	busybox_base
	SOURCE_DATE_EPOCH=1700000000 cairn build -q -o type=oci,dest="$W/r1",tar=false -t r "$d" >/dev/null
	local id1
	id1=$(cairn inspect --json r | jq -r '.[0].Id')
	sleep 1.1
	new_store
	busybox_base
	SOURCE_DATE_EPOCH=1700000000 cairn build -q -o type=oci,dest="$W/r2",tar=false -t r "$d" >/dev/null
	assert_eq "$(cairn inspect --json r | jq -r '.[0].Id')" "$id1" "same image id"
	assert_eq "$(jq -c . "$W/r2/index.json")" "$(jq -c . "$W/r1/index.json")" "same manifest digest"
	assert_eq "$(cd "$W/r2/blobs/sha256" && ls | sort | tr '\n' ' ')" "$(cd "$W/r1/blobs/sha256" && ls | sort | tr '\n' ' ')" "same blobs"
	assert_eq "$(cairn inspect --json r | jq -r '.[0].Config.created')" 2023-11-14T22:13:20Z created
}
run_test "SOURCE_DATE_EPOCH: byte-identical images" t_reproducible

t_dockerignore() {
	new_store
	busybox_base
	local d
	d=$(ctx ignore <<'EOF'
FROM scratch
COPY . /
EOF
	)
	mkdir -p "$d/keep" "$d/skip/deep" "$d/logs"
	touch "$d/keep/a" "$d/skip/deep/b" "$d/logs/x.log" "$d/logs/important.log" "$d/top.md"
	printf 'skip\n**/*.log\n!logs/important.log\n*.md\nDockerfile\n' >"$d/.dockerignore"
	cairn build -q -o type=tar,dest="$W/ign.tar" "$d" >/dev/null
	assert_eq "$(tar -tf "$W/ign.tar" | sed 's|/$||' | sort | tr '\n' ' ')" ".dockerignore keep keep/a logs logs/important.log " ".dockerignore"
	printf '*\n!keep\n' >"$d/Dockerfile.dockerignore"
	cairn build -q -o type=tar,dest="$W/ign2.tar" "$d" >/dev/null
	assert_eq "$(tar -tf "$W/ign2.tar" | sed 's|/$||' | sort | tr '\n' ' ')" "keep keep/a " "Dockerfile.dockerignore wins"
}
run_test ".dockerignore and Dockerfile.dockerignore" t_dockerignore

t_prune_keeps_cache() {
	new_store
	busybox_base
	local d
	d=$(ctx prune <<'EOF'
FROM busybox
RUN echo cached > /f
EOF
	)
	cairn build -q "$d" >/dev/null
	cairn prune >/dev/null
	run cairn build --progress=plain "$d"
	assert_contains "$RUN_ERR" '1 steps, 1 cached' "prune keeps the build cache's layers"
	assert_fsck_clean
}
run_test "prune keeps build cache layers" t_prune_keeps_cache

# A stage rebuilt to the same files: the COPY --from of them still hits.
t_copy_from_content() {
	new_store
	busybox_base
	local d
	d=$(ctx fromcontent <<'EOF'
FROM busybox AS build
ARG V=1
RUN echo "version $V" > /log && echo constant > /artifact
FROM busybox
COPY --from=build /artifact /artifact
RUN cat /artifact > /seen
EOF
	)
	run cairn build --progress=plain "$d"
	assert_contains "$RUN_ERR" '3 steps, 0 cached' "cold"
	run cairn build --progress=plain --build-arg V=2 "$d"
	assert_contains "$RUN_ERR" '3 steps, 2 cached' "the stage reruns, its unchanged artifact still hits"
	sed -i 's/echo constant/echo changed/' "$d/Dockerfile"
	run cairn build --progress=plain --build-arg V=2 "$d"
	assert_contains "$RUN_ERR" '3 steps, 0 cached' "a changed artifact misses"
}
run_test "COPY --from keys on the copied files' contents" t_copy_from_content

# Two independent stages meet through a shared cache mount: each writes its
# marker and waits (up to 30 s) for the other's.  Run one after the other,
# the first would time out.
t_parallel_stages() {
	new_store
	busybox_base
	local d
	d=$(ctx parallel <<'EOF'
FROM busybox AS a
RUN --mount=type=cache,id=meet,target=/meet touch /meet/a; i=0; while [ ! -e /meet/b ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; test -e /meet/b && echo a-saw-b > /a
FROM busybox AS b
RUN --mount=type=cache,id=meet,target=/meet touch /meet/b; i=0; while [ ! -e /meet/a ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; test -e /meet/a && echo b-saw-a > /b
FROM scratch
COPY --from=a /a /
COPY --from=b /b /
EOF
	)
	cairn build -q -o type=tar,dest="$W/par.tar" "$d" >/dev/null
	mkdir -p "$W/par"
	tar -C "$W/par" -xf "$W/par.tar"
	assert_eq "$(cat "$W/par/a" "$W/par/b")" "$(printf 'a-saw-b\nb-saw-a')" "independent stages ran at the same time"
}
run_test "independent stages run in parallel" t_parallel_stages

t_flags_and_mounts() {
	new_store
	busybox_base
	local d
	d=$(ctx flags <<'EOF'
FROM busybox AS one
RUN --mount=type=bind,source=data,target=/data,rw echo changed > /data/f && cat /data/f > /seen && echo "proxy=$HTTP_PROXY" > /proxy
RUN --mount=type=cache,id=c,target=/c,sharing=locked echo x > /c/x
FROM one AS two
RUN echo two > /two
EOF
	)
	mkdir -p "$d/data"
	echo orig >"$d/data/f"
	run cairn build --progress=rawjson --build-arg HTTP_PROXY=http://proxy.invalid:3128 \
		-o type=oci,dest="$W/flags-oci",tar=false,compression=zstd -t flags "$d"
	assert_eq "$RUN_RC" 0 "build: $RUN_ERR"
	assert_eq "$(cat "$d/data/f")" orig "a rw bind mount does not write through"
	jq -se '.[-1].summary.steps == 3' <<<"$RUN_ERR" >/dev/null || fail "rawjson summary: $RUN_ERR"
	jq -se '[.[] | select(.vertex and .name)] | length >= 3' <<<"$RUN_ERR" >/dev/null || fail "rawjson vertices"
	local mt
	mt=$(jq -r '.manifests[0].digest' "$W/flags-oci/index.json" | sed 's/sha256://')
	assert_eq "$(jq -r '.layers[-1].mediaType' "$W/flags-oci/blobs/sha256/$mt")" application/vnd.oci.image.layer.v1.tar+zstd "compression=zstd"
	cairn save --format oci-dir -o "$W/flags-gz" flags # umoci 0.4 cannot read zstd layers
	umoci unpack --image "$W/flags-gz:latest" "$W/bflags" >/dev/null
	assert_eq "$(cat "$W/bflags/rootfs/seen")" changed "the command wrote into its copy"
	[ ! -e "$W/bflags/rootfs/data" ] || fail "bind stub left"
	assert_eq "$(cat "$W/bflags/rootfs/proxy")" "proxy=http://proxy.invalid:3128" "proxy args reach RUN"
	if config_of flags | grep -q proxy.invalid; then fail "proxy arg in the history or config"; fi
	run cairn build --progress=plain --build-arg HTTP_PROXY=http://other.invalid "$d"
	assert_contains "$RUN_ERR" '3 steps, 3 cached' "proxy args are not in the key"
	run cairn build --progress=plain --no-cache-filter two "$d"
	assert_contains "$RUN_ERR" '3 steps, 2 cached' "--no-cache-filter reruns only that stage"
}
run_test "rw bind mounts, cache sharing, proxy args, --no-cache-filter, rawjson, zstd" t_flags_and_mounts

t_add_url() {
	new_store
	local srv=$W/srv port
	mkdir -p "$srv/dir"
	echo "remote content" >"$srv/dir/file.txt"
	tar -C "$srv" -czf "$srv/a.tar.gz" dir
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	python3 -m http.server --bind 127.0.0.1 --directory "$srv" "$port" >/dev/null 2>&1 &
	local pid=$!
	track_pid "$pid"
	python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        break
    except OSError:
        time.sleep(0.1)
PY
	local sum d
	sum=$(sha256sum "$srv/dir/file.txt" | cut -d' ' -f1)
	d=$(ctx url <<DF
FROM scratch
ADD http://127.0.0.1:$port/dir/file.txt /got/
ADD --checksum=sha256:$sum http://127.0.0.1:$port/dir/file.txt /checked
ADD http://127.0.0.1:$port/a.tar.gz /archives/
DF
	)
	cairn build -q -o type=tar,dest="$W/url.tar" "$d" >/dev/null
	mkdir -p "$W/url"
	tar -C "$W/url" -xf "$W/url.tar"
	assert_eq "$(cat "$W/url/got/file.txt")" "remote content" "ADD URL into a directory"
	assert_eq "$(cat "$W/url/checked")" "remote content" "ADD --checksum"
	assert_eq "$(stat -c %a "$W/url/checked")" 600 "downloaded files are 0600"
	[ -f "$W/url/archives/a.tar.gz" ] || fail "remote archives are not extracted"
	sed -i "s/sha256:$sum/sha256:$(printf '0%.0s' $(seq 64))/" "$d/Dockerfile"
	run cairn build "$d"
	assert_ne "$RUN_RC" 0 "a wrong checksum fails"
	assert_contains "$RUN_ERR" "digest mismatch" "checksum message"
	assert_contains "$RUN_ERR" "Dockerfile:3" "checksum error line"
	kill "$pid"
	assert_fsck_clean
}
run_test "ADD from a URL, --checksum" t_add_url

tap_done
