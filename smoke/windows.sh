#!/usr/bin/env bash
# The Windows build under Wine: builds caucus.exe (x86_64-pc-windows-gnu,
# linked by mingw-w64), then runs smoke/windows_smoke.py against it: hub,
# bridge and watcher, driven from Linux over loopback.
#
# Debian 12's Wine (8.0) has no bcryptprimitives.dll, whose ProcessPrng the
# Rust standard library and getrandom call for random bytes. The test setup
# (only) builds a stand-in from smoke/wine/bcryptprimitives.c and puts it
# beside caucus.exe in a test folder; the product never ships it.
set -euo pipefail
cd "$(dirname "$0")/.."

wine=""
for w in /usr/lib/wine/wine64 "$(command -v wine64 || true)" "$(command -v wine || true)"; do
  if [ -n "$w" ] && [ -x "$w" ]; then wine=$w; break; fi
done
if [ -z "$wine" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  echo "the Windows check needs Wine and mingw-w64 (Debian: apt-get install wine64 gcc-mingw-w64-x86-64-posix)" >&2
  exit 1
fi

CARGO_TARGET_DIR=target/win cargo build --quiet --target x86_64-pc-windows-gnu
dir=target/win/smoke
mkdir -p "$dir"
cp target/win/x86_64-pc-windows-gnu/debug/caucus.exe "$dir/"
x86_64-w64-mingw32-gcc -shared -O2 -o "$dir/bcryptprimitives.dll" \
  smoke/wine/bcryptprimitives.c -ladvapi32

export WINEPREFIX="$PWD/target/win/prefix" WINEDEBUG=-all
# The first start builds the prefix (a few seconds); do it once, quietly.
"$wine" "$dir/caucus.exe" --version >/dev/null 2>&1 || true
exec python3 smoke/windows_smoke.py "$wine" "$dir/caucus.exe"
