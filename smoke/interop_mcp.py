#!/usr/bin/env python3
"""Interop both ways between our bridge/watcher and caucus-mcp 1.3.0.

Usage: interop_mcp.py CAUCUS_BINARY  (run with the reference venv's python:
caucus-mcp 1.3.0 and the 1.x MCP SDK)

1. Our `caucus bridge` and `caucus watch` against the Python `caucus-hub`.
2. The Python `caucus-bridge` against our hub.
Both bridges are driven by the MCP SDK's stdio client, as a host would.
"""

import asyncio
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from hubproc import start_ours, start_python  # noqa: E402

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

VENV_BIN = os.path.dirname(sys.executable)


async def call(session, tool, args=None):
    result = await session.call_tool(tool, args or {})
    # Our bridge puts what listen heard as compact lines in the text, and
    # the JSON in structuredContent; caucus-mcp 1.3.0's has only the text.
    if getattr(result, "structuredContent", None) is not None:
        return result.structuredContent
    return json.loads(result.content[0].text)


def params(command, hub, project):
    return StdioServerParameters(
        command=command[0],
        args=command[1:],
        env={"CAUCUS_HUB_URL": hub.url, "CAUCUS_PROJECT": project, "PATH": os.environ["PATH"]},
    )


async def conversation(command, hub, label, quiet=False):
    """One agent through a bridge, one peer over HTTP: they talk both ways."""
    peer = hub.register("peer")
    errlog = open(os.devnull, "w") if quiet else sys.stderr
    async with stdio_client(params(command, hub, "agent"), errlog=errlog) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            assert (await call(s, "setup"))["ready"] is True
            joined = await call(s, "join")
            assert joined["joined"] is True and joined["project"] == "agent", joined
            sent = await call(s, "say", {"content": "hello peer", "to": "peer"})
            assert sent["delivered_to"] == ["peer"], sent
            status, body = hub.call(
                "GET", "/receive?timeout=5", headers={"Authorization": f"Bearer {peer}"}
            )
            assert any(m["content"] == "hello peer" for m in body["messages"]), body
            hub.post("/send", {"token": peer, "to": "agent", "content": "hello agent"})
            heard = await call(s, "listen", {"timeout": 5})
            assert any(m["content"] == "hello agent" for m in heard["messages"]), heard
            assert heard["stop"] is False
            peers = await call(s, "list_peers")
            assert sorted(peers["peers"]) == ["agent", "peer"], peers
            watch = await call(s, "watch_command")
            await check_watch_command(hub, peer, watch["command"])
            left = await call(s, "leave")
            assert left["left"] is True, left
    print(f"{label}: setup, join, say, listen, list_peers, watch_command, leave: OK")


async def check_watch_command(hub, peer, command):
    """Runs the watcher command the bridge gave, as the agent's shell would."""
    # caucus-bridge 1.3.0 names `caucus-watch` bare: it expects it on PATH.
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.Popen(shlex.split(command), stdout=subprocess.PIPE, text=True, env=env)
    try:
        hub.wait_listening("agent")
        hub.post("/send", {"token": peer, "to": "agent", "content": "wake"})
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.returncode
    assert "[caucus] msg peer -> agent: wake\n" in out, out


def check_our_watch_stop(binary, hub):
    token = hub.register("stopper")
    proc = subprocess.Popen(
        [binary, "watch", "--hub", hub.url, "--token", token],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        hub.wait_listening("stopper")
        hub.post("/control", {"action": "stop"})
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, proc.returncode
    assert out == "[caucus] STOP -- operator stopped the room; watcher exiting.\n", out
    hub.post("/control", {"action": "reset"})
    print("our caucus watch against the Python hub: STOP line, exit 3: OK")


async def main(binary):
    py_hub = start_python(VENV_BIN)
    try:
        await conversation([binary, "bridge"], py_hub, "our bridge against caucus-hub 1.3.0")
        check_our_watch_stop(binary, py_hub)
    finally:
        py_hub.stop()
    our_hub = start_ours(binary)
    try:
        await conversation(
            [os.path.join(VENV_BIN, "caucus-bridge")],
            our_hub,
            "caucus-bridge 1.3.0 against our hub",
            quiet=True,  # its INFO logs on stderr are not ours to show
        )
    finally:
        our_hub.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
