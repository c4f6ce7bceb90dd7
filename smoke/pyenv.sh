#!/usr/bin/env bash
# Creates (once) a throwaway virtualenv under smoke/.venv/ and prints its
# directory.
#   ref: caucus-mcp 1.3.0, the Python original, with the 1.x MCP SDK
#        (1.3.0 does not start against the 2.x SDK that pip picks by default)
#   ref5: caucus-mcp 5.1.0, the Python original's current release
#   ref5t: the same with pytest, to run its own test suite against our hub
#   sdk: the current official MCP Python SDK (2.x), whose client speaks the
#        2026-07-28 revision
#   zig: Zig (the ziglang wheel) and cargo-zigbuild, to link the macOS and
#        aarch64 release binaries on this machine
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: pyenv.sh ref|ref5|ref5t|sdk|zig}
case "$name" in
  ref) packages=('caucus-mcp==1.3.0' 'mcp[cli]<2') ;;
  ref5) packages=('caucus-mcp==5.1.0') ;;
  ref5t) packages=('caucus-mcp==5.1.0' 'pytest' 'pytest-asyncio') ;;
  sdk) packages=('mcp>=2.3,<3') ;;
  zig) packages=('ziglang' 'cargo-zigbuild') ;;
  *) echo "unknown environment: $name" >&2; exit 2 ;;
esac
venv="$here/.venv/$name"
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${packages[*]}" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
  echo "${packages[*]}" > "$stamp"
fi
echo "$venv"
