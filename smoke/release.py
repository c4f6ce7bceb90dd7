#!/usr/bin/env python3
"""Packs the release binaries: one archive per target with README.md and
LICENSE, dist/SHA256SUMS, and a table of sizes (binary and archive).

Usage: release.py TARGET_DIR TARGET...

Checks as it goes: every binary is under 3 MiB, and every macOS binary
says it runs on macOS 11 (its LC_BUILD_VERSION's minimum OS).
"""

import hashlib
import io
import os
import struct
import sys
import tarfile
import tomllib
import zipfile

LIMIT = 3 * 1024 * 1024


def version():
    with open("Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def macos_minimum(path):
    """The minimum macOS version in a Mach-O's LC_BUILD_VERSION, as 'x.y'."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, _, ncmds, _, _, _ = struct.unpack_from("<IiiIIIII", data, 0)
    assert magic == 0xFEEDFACF, "not a 64-bit Mach-O"
    at = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, at)
        if cmd == 0x32:  # LC_BUILD_VERSION: platform, minos, sdk, ntools
            _, minos = struct.unpack_from("<II", data, at + 8)
            return f"{minos >> 16}.{(minos >> 8) & 0xFF}"
        at += size
    return None


def main(target_dir, targets):
    v = version()
    os.makedirs("dist", exist_ok=True)
    sums, rows = [], []
    for t in targets:
        exe = "caucus.exe" if "windows" in t else "caucus"
        binary = os.path.join(target_dir, t, "release", exe)
        size = os.path.getsize(binary)
        assert size < LIMIT, f"{t}: {size} bytes, over 3 MiB"
        if "apple" in t:
            minimum = macos_minimum(binary)
            assert minimum == "11.0", f"{t}: built for macOS {minimum}"
        name = f"caucus-{v}-{t}"
        with open(binary, "rb") as f:
            body = f.read()
        files = [(exe, body, 0o755)]
        for doc in ("README.md", "LICENSE"):
            with open(doc, "rb") as f:
                files.append((doc, f.read(), 0o644))
        if "windows" in t:
            archive = f"dist/{name}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
                for fname, content, _ in files:
                    z.writestr(f"{name}/{fname}", content)
        else:
            archive = f"dist/{name}.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for fname, content, mode in files:
                    info = tarfile.TarInfo(f"{name}/{fname}")
                    info.size, info.mode, info.mtime = len(content), mode, 0
                    tar.addfile(info, io.BytesIO(content))
        with open(archive, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        sums.append(f"{digest}  {os.path.basename(archive)}\n")
        rows.append((t, size, os.path.getsize(archive)))
    with open("dist/SHA256SUMS", "w") as f:
        f.writelines(sums)
    print("| target | binary | archive |")
    print("| --- | --- | --- |")
    for t, size, packed in rows:
        print(f"| `{t}` | {size / 1048576:.2f} MiB | {packed / 1048576:.2f} MiB |")
    print("dist/SHA256SUMS written; check with: sha256sum -c SHA256SUMS")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
