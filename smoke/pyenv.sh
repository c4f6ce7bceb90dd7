#!/usr/bin/env bash
# Creates (once) the throwaway virtualenv with caucus-mcp 1.3.0, the Python
# reference, and prints its directory. caucus-mcp 1.3.0 does not start
# against the 2.x MCP SDK that pip picks by default, hence the pin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv/ref"
if [ ! -x "$venv/bin/caucus-watch" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'caucus-mcp==1.3.0' 'mcp[cli]<2' >&2
fi
echo "$venv"
