#!/usr/bin/env bash
# Builds the Debian package of agtpd: the release binaries, their man pages (rendered by
# `agtpd __man-pages` and `agtp __man-pages` from the same flags as --help), then cargo-deb with the metadata in
# agtpd/Cargo.toml. The binaries are stripped; their debug symbols go to a separate
# agtpd-dbgsym .ddeb beside the .deb. Needs cargo-deb (`cargo install cargo-deb --locked`)
# and objcopy (binutils). The .deb's path is the last line of the output.
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cargo build --release --locked -p agtpd -p agtp --bins
rm -rf "$target/release/man"
mkdir -p "$target/release/man"
"$target/release/agtpd" __man-pages "$target/release/man"
"$target/release/agtp" __man-pages "$target/release/man"
# Compressed as Debian policy asks (cargo-deb leaves files from the target dir alone).
gzip -9n "$target/release/man"/*.1
cargo deb -p agtpd --no-build --dbgsym
