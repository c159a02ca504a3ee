#!/bin/sh
# Lays out the files of the agtpd image under OUT, from the release binaries in BIN_DIR:
# OUT/root/ holds what the run stage copies onto / (root-owned: the binaries, the config
# and its directories), OUT/state/ is the empty directory it copies, owned by the image's
# user, to each path the daemon writes. Run from the repository root. The build stage
# runs it, and so does .ci/docker-rootfs.sh, which checks the image's filesystem without
# Docker.
#
#   packaging/docker/rootfs.sh BIN_DIR OUT
set -eu
bin=$1
out=$2
install -d "$out/root/usr/bin" "$out/root/etc/agtpd/agents" "$out/root/etc/agtpd/endpoints" \
    "$out/root/etc/agtpd/tls" "$out/state"
install -m 0755 "$bin/agtpd" "$bin/agtp" "$out/root/usr/bin/"
install -m 0644 packaging/docker/agtpd.toml "$out/root/etc/agtpd/agtpd.toml"
