#!/usr/bin/env python3
"""The official MCP Python SDK's stdio client drives `caucus bridge`.

Usage: mcp_sdk_client.py CAUCUS_BINARY  (run with a venv holding `mcp` 2.x)

Twice: in the SDK's default auto mode, which must settle on 2026-07-28, and
in legacy mode, which must settle on the SDK's newest handshake revision.
Each time it lists the tools and calls them against a real hub.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from hubproc import start_ours  # noqa: E402

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

EXPECTED_TOOLS = {
    "setup", "join", "leave", "whoami", "list_peers", "say", "listen",
    "watch_command", "ping", "set_status", "join_channel", "leave_channel",
    "list_channels", "set_channel_topic", "take_floor", "raise_hand",
    "pass_floor", "drop_floor", "floor_status", "ask_operator", "list_forms", "peek", "protocol_section",
}


def bridge(binary, hub, project):
    return StdioServerParameters(
        command=binary,
        args=["bridge"],
        env={"CAUCUS_HUB_URL": hub.url, "CAUCUS_PROJECT": project, "PATH": os.environ["PATH"]},
    )


async def call(client, tool, args=None):
    result = await client.call_tool(tool, args or {})
    return result.structured_content, result.is_error


async def session(binary, hub, mode, project, expected_version):
    async with Client(bridge(binary, hub, project), mode=mode) as client:
        version = client.protocol_version
        assert version == expected_version, (mode, version)
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        assert names == EXPECTED_TOOLS, names ^ EXPECTED_TOOLS

        out, err = await call(client, "say", {"content": "too early"})
        assert err and out["error"] == "setup_required", out
        out, _ = await call(client, "setup")
        assert out["ready"] is True, out
        out, _ = await call(client, "join")
        assert out["joined"] is True and out["project"] == project, out
        out, _ = await call(client, "whoami")
        assert out["joined_as"] == project, out
        out, _ = await call(client, "list_peers")
        assert project in out["peers"], out

        # Someone else speaks; listen hears it.
        other = hub.register(f"{project}-peer")
        hub.post("/send", {"token": other, "to": project, "content": f"hi {project}"})
        out, _ = await call(client, "listen", {"timeout": 5})
        assert any(m["content"] == f"hi {project}" for m in out["messages"]), out
        out, _ = await call(client, "say", {"content": "hello back", "to": f"{project}-peer"})
        assert out["delivered_to"] == [f"{project}-peer"], out
        out, _ = await call(client, "watch_command")
        assert " watch --hub " in out["command"], out
        out, _ = await call(client, "leave")
        assert out == {"left": True, "project": project}, out
    print(f"MCP SDK, mode={mode}: negotiated {version}, listed {len(names)} tools, called them")


async def main(binary):
    hub = start_ours(binary)
    try:
        await session(binary, hub, "auto", "sdk-auto", "2026-07-28")
        await session(binary, hub, "legacy", "sdk-legacy", "2025-11-25")
    finally:
        hub.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
