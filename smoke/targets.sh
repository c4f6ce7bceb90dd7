#!/usr/bin/env bash
# Every release target builds and lints clean: cargo clippy --all-targets
# -D warnings (which checks first) for macOS on Intel and Apple silicon,
# Windows, and static Linux on x86_64 and aarch64. Checking needs only
# rustup's standard library for each target, no linker. A target not
# installed is an error: .ci/run installs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-pc-windows-gnu
  x86_64-unknown-linux-musl
  aarch64-unknown-linux-musl
)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  if ! grep -qx "$t" <<<"$installed"; then
    echo "target $t is not installed: rustup target add $t" >&2
    exit 1
  fi
  echo "-- $t"
  CARGO_TARGET_DIR=target/xcheck cargo clippy --quiet --all-targets --target "$t" -- -D warnings
done
