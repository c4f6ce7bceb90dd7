#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and integration
# tests, then the smoke checks against real peers (caucus-mcp 1.3.0's own
# clients). Needs a Rust toolchain and python3; fetches the rest from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "lints"
cargo clippy --all-targets --quiet -- -D warnings
step "unit and integration tests"
cargo test --quiet
bin=target/debug/caucus

step "python reference environment"
ref=$(smoke/pyenv.sh)

step "interop: caucus-mcp 1.3.0 clients against our hub"
"$ref/bin/python" smoke/interop_py_clients.py "$bin"

step "idle hub with 100 held polls"
"$ref/bin/python" smoke/idle.py "$bin" 3

step "all tests passed"
