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
step "every release target builds and lints clean (macOS x2, Windows, Linux musl x2)"
smoke/targets.sh

step "unit and integration tests"
cargo test --quiet
bin=target/debug/caucus

step "python environments (caucus-mcp 1.3.0 and 5.1.0; the MCP SDK 2.x)"
ref=$(smoke/pyenv.sh ref)
ref5=$(smoke/pyenv.sh ref5)
sdk=$(smoke/pyenv.sh sdk)

step "interop: caucus-mcp 1.3.0 clients against our hub"
"$ref/bin/python" smoke/interop_py_clients.py "$bin"

step "interop: caucus-mcp 5.1.0 clients (HubConnector, caucus-watch, caucus-bridge) against our hub"
"$ref5/bin/python" smoke/interop_py5_clients.py "$bin"

step "caucus-mcp 5.1.0's own test suite (its live-hub tests) against our hub"
ref5t=$(smoke/pyenv.sh ref5t)
"$ref5t/bin/python" smoke/py5_suite.py "$bin"

step "interop: our bridge and watcher with the Python hub, its bridge with ours"
"$ref/bin/python" smoke/interop_mcp.py "$bin"

step "the official MCP SDK drives our bridge (auto and legacy)"
"$sdk/bin/python" smoke/mcp_sdk_client.py "$bin"

step "the official MCP SDK over streamable HTTP at the hub's /mcp"
"$sdk/bin/python" smoke/mcp_http_client.py "$bin"

step "the console in headless Chromium"
if ! command -v node >/dev/null || ! [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "the browser check needs node and Chromium (Debian: apt-get install chromium nodejs npm)" >&2
  exit 1
fi
(cd smoke/browser && npm ci --no-audit --no-fund --silent)
mkdir -p target/screenshots
(cd smoke/browser && node console.mjs "../../$bin" ../../target/screenshots)

step "the real hosts (Claude Code, Codex, Gemini CLI from npm, versions in smoke/hosts/package.json) against a scripted model API"
(cd smoke/hosts && npm ci --no-audit --no-fund --silent)
python3 smoke/hosts/run.py "$bin"

step "soak: 100 peers, 6,000 messages, with faults (about a minute)"
smoke/soak --short

step "memory while strangers push on the bounds (stalled consoles, a full queue budget)"
python3 smoke/bounds.py target/release/caucus

step "the Windows build under Wine: hub, bridge, watcher"
smoke/windows.sh

step "idle hub with 100 held polls"
"$ref/bin/python" smoke/idle.py "$bin" 3

step "all tests passed"
