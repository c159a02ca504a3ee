#!/usr/bin/env bash
# The Docker image without Docker: assembles the root filesystem that the final stage of
# packaging/docker/Dockerfile describes (read from the Dockerfile itself), runs its
# ENTRYPOINT and CMD in it the way a container would (own pid, network and mount
# namespaces, chroot, the image's USER), and checks that it serves, that its HEALTHCHECK
# command passes, that it runs as the image's non-root user as PID 1, that a runtime
# sharing the gateway socket directory as the same uid is served (the compose example),
# and that SIGTERM stops it cleanly. Needs root, unshare, nsenter, ip and openssl.
# What this cannot verify is listed in packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

[ "$(id -u)" = 0 ] || fail "run as root: namespaces, chroot and chown need it"

step "docker: the final stage of packaging/docker/Dockerfile"
stage_vars=$(python3 .ci/dockerfile_final_stage.py packaging/docker/Dockerfile) ||
    fail "the Dockerfile's final stage is not understood"
eval "$stage_vars"
echo "$stage_vars"
uid=${USER_SPEC%%:*}
gid=${USER_SPEC#*:}
check "USER is numeric uid:gid ($USER_SPEC)" grep -Eqx '[0-9]+:[0-9]+' <<<"$USER_SPEC"
check "USER is not root" test "$uid" != 0 -a "$gid" != 0
check "ENTRYPOINT is in exec form" test "${#ENTRYPOINT[@]}" -gt 0
check "HEALTHCHECK has a command" test "${#HEALTHCHECK[@]}" -gt 0
check "one port is exposed" test "${#EXPOSE[@]}" = 1
port=${EXPOSE[0]%/tcp}

work=$(mktemp -d)
root=$work/rootfs
# Traversable, so that a runtime running as the image's user reaches the socket.
chmod 755 "$work"
container=
unshare_pid=
runtime=
cleanup() {
    # unshare --kill-child takes the container's processes with it.
    for pid in $unshare_pid $runtime; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

step "docker: assemble the root filesystem"
target=$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cargo build --release --locked -p agtpd -p agtp --bins
# The build stage's files, by the script its RUN line calls.
packaging/docker/rootfs.sh "$target/release" "$work/build$BUILD_OUT"
# What the base image ($BASE) provides, as far as agtpd needs it: the distroless
# nonroot account (uid and gid 65532), /tmp, and glibc with the libraries the binaries
# link, copied from this Debian 12 machine (the base is Debian 12 too).
mkdir -p -m 755 "$root"
mkdir -p "$root/etc" "$root/tmp" "$root/home/nonroot" "$root/proc" "$root/dev"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/nonroot"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
# Docker provides these device nodes; here they are bind-mounted over empty files.
touch "$root/dev/null" "$root/dev/zero" "$root/dev/random" "$root/dev/urandom"
for copy in "${COPIES[@]}"; do
    IFS='|' read -r from chown src dest <<<"$copy"
    case $from in
        '') source=$src ;;
        *) source=$work/build$src ;;
    esac
    check "COPY ${copy//|/ } has its source" test -e "$source"
    new=no
    [ -e "$root$dest" ] || new=yes
    mkdir -p "$root$dest"
    cp -a "$source/." "$root$dest"
    if [ -n "$chown" ]; then
        [ "$new" = no ] || chown "$chown" "$root$dest"
        (cd "$source" && find . -mindepth 1 -print0) |
            (cd "$root$dest" && xargs -0 -r chown -h "$chown")
    fi
done
for binary in "$root"/usr/bin/*; do
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
        cp --parents -L -n "$lib" "$root"
    done
done
du -sh "$root"

step "docker: the filesystem"
check "ENTRYPOINT ${ENTRYPOINT[0]} is an executable owned by root" \
    test -x "$root${ENTRYPOINT[0]}" -a "$(stat -c %u "$root${ENTRYPOINT[0]}")" = 0
for volume in "${VOLUMES[@]}"; do
    check "VOLUME $volume is a directory" test -d "$root$volume"
done
check "the config is root-owned and not writable by $uid" \
    test "$(stat -c '%u %A' "$root/etc/agtpd/agtpd.toml")" = "0 -rw-r--r--"
for writable in /var/lib/agtpd /run/agtpd; do
    check "$writable is owned by $USER_SPEC" \
        test "$(stat -c %u:%g "$root$writable")" = "$USER_SPEC"
done
# The image's own config, with the compose example's mounts: TLS files in
# /etc/agtpd/tls (here a self-signed certificate for 127.0.0.1), and the booking sample's
# agents and endpoints, whose runtime connects over the shared /run/agtpd.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=agtpd-test -addext subjectAltName=IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
    -keyout "$root/etc/agtpd/tls/key.pem" -out "$root/etc/agtpd/tls/cert.pem" 2>/dev/null
chown "$USER_SPEC" "$root/etc/agtpd/tls/key.pem"
cp samples/booking/agents/*.agent.json "$root/etc/agtpd/agents/"
cp samples/booking/endpoints/*.toml "$root/etc/agtpd/endpoints/"
check "the ENTRYPOINT's binary runs in the filesystem (its libraries are there)" \
    chroot --userspec="$USER_SPEC" "$root" "${ENTRYPOINT[0]}" --version

# in_container COMMAND...: COMMAND from the image's PATH, in the running container's
# namespaces and root, as the image's user (how Docker runs HEALTHCHECK).
docker_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
in_container() {
    env -i PATH="$docker_path" "${ENV[@]}" nsenter --target "$container" --net --mount --pid -- \
        chroot --userspec="$USER_SPEC" --groups= "$root" "$@"
}

step "docker: HEALTHCHECK fails while nothing serves"
code=0
env -i PATH="$docker_path" "${ENV[@]}" unshare --net -- \
    chroot --userspec="$USER_SPEC" --groups= "$root" "${HEALTHCHECK[@]}" 2>/dev/null || code=$?
check "${HEALTHCHECK[*]} exits 1, unhealthy (was $code)" test "$code" = 1

step "docker: run ENTRYPOINT + CMD as $USER_SPEC, PID 1 of its own namespaces"
env -i PATH="$docker_path" HOME=/home/nonroot "${ENV[@]}" \
    unshare --net --pid --mount --fork --kill-child --mount-proc="$root/proc" -- /bin/sh -c '
        root=$1 user=$2
        shift 2
        ip link set lo up
        for node in null zero random urandom; do mount --bind "/dev/$node" "$root/dev/$node"; done
        exec chroot --userspec="$user" --groups= "$root" "$@"' \
    sh "$root" "$USER_SPEC" "${ENTRYPOINT[@]}" "${CMD[@]}" >"$work/daemon.log" 2>&1 &
unshare_pid=$!
# The container's PID 1, as the host sees it: unshare's child.
forked() {
    container=$(cat "/proc/$unshare_pid/task/$unshare_pid/children")
    container=${container%% *}
    [ -n "$container" ]
}
wait_until 5 forked || fail "the container did not start: $(cat "$work/daemon.log")"
forked
url="agtp://127.0.0.1:$port"
wait_until 20 in_container agtp --cacert /etc/agtpd/tls/cert.pem "$url" ||
    fail "nothing answered on $url within 20 s: $(cat "$work/daemon.log")
$(in_container agtp --cacert /etc/agtpd/tls/cert.pem "$url" 2>&1)"
check "the daemon runs as uid $uid ($(proc_uids "$container"))" \
    test "$(proc_uids "$container")" = "$uid $uid $uid $uid"
check "with gid $gid and no supplementary groups" \
    test "$(awk '/^Gid:/ { print $2 } /^Groups:/ { print NF - 1 }' "/proc/$container/status" | tr '\n' ' ')" = "$gid 0 "
check "it is PID 1 in its pid namespace" \
    test "$(awk '/^NSpid:/ { print $NF }' "/proc/$container/status")" = 1
in_container agtp -i --cacert /etc/agtpd/tls/cert.pem "$url" >"$work/discover" ||
    fail "DISCOVER failed: $(cat "$work/discover")"
check "DISCOVER over TLS on the exposed port $port answers 200" \
    grep -q '^AGTP/1.0 200 OK' "$work/discover"
code=0
in_container "${HEALTHCHECK[@]}" 2>/dev/null || code=$?
check "HEALTHCHECK exits 1 while the endpoints' pool has no runtime (was $code)" \
    test "$code" = 1

step "docker: a runtime as $USER_SPEC serves through the gateway socket in /run/agtpd"
socket=$root$(sed -n 's/^gateway_socket = "\(.*\)"$/\1/p' "$root/etc/agtpd/agtpd.toml")
check "the gateway socket is in a VOLUME directory" \
    test -S "$socket" -a -n "$(printf '%s\n' "${VOLUMES[@]}" | grep -x "$(dirname "${socket#"$root"}")")"
# As compose runs it: the sample and the SDK mounted read-only, the image's uid, no
# other group.
cp -r samples/booking/python "$work/app"
cp -r sdk/python/src "$work/sdk"
PYTHONPATH=$work/sdk AGTP_GATEWAY_SOCKET=$socket AGTP_POOL=default setpriv --reuid "$uid" --regid "$gid" \
    --clear-groups -- /usr/bin/python3 "$work/app/runtime.py" >"$work/runtime.log" 2>&1 &
runtime=$!
agent=$(sed -n 's/.*"agent_id": "\([0-9a-f]*\)".*/\1/p' samples/booking/agents/booking.agent.json)
query() {
    in_container agtp --cacert /etc/agtpd/tls/cert.pem "agtp://$agent@127.0.0.1:$port" \
        QUERY '/rooms/availability?check_in=2026-12-01&check_out=2026-12-03'
}
wait_until 20 query || fail "the runtime was not served: $(cat "$work/runtime.log")"
query >"$work/rooms"
check "QUERY /rooms/availability is answered by the runtime" grep -q room_id "$work/rooms"
check "HEALTHCHECK ${HEALTHCHECK[*]} passes" in_container "${HEALTHCHECK[@]}"
kill -TERM "$runtime"
wait "$runtime" || true
runtime=

step "docker: SIGTERM to PID 1 (docker stop)"
stop_daemon "$container" "$unshare_pid"
container=
unshare_pid=
check "the container exits with code 0 (was $exit_code)" test "$exit_code" = 0
check "its log is plain text" test "$(grep -c $'\e' "$work/daemon.log")" = 0
tail -n 5 "$work/daemon.log"

echo
echo "docker: all checks passed"
