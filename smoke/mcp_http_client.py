#!/usr/bin/env python3
"""The official MCP Python SDK's streamable-HTTP client uses the hub's /mcp.

Usage: mcp_http_client.py CAUCUS_BINARY  (with a venv holding `mcp` 2.x)

In auto mode (which must settle on 2026-07-28, statelessly) and in legacy
mode (the initialize handshake and an Mcp-Session-Id), it lists the tools and
calls them, talking with a peer over plain HTTP. No bridge process runs.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from hubproc import start_ours  # noqa: E402

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

# A stateless (2026-07-28) client names its session with a secret of its own.
SECRET = "smoke-test-secret-0123456789"


async def call(client, tool, args=None):
    result = await client.call_tool(tool, args or {})
    return result.structured_content, result.is_error


async def session(hub, mode, project, expected):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {SECRET}"})
    transport = streamable_http_client(f"{hub.url}/mcp?project={project}", http_client=http)
    async with http, Client(transport, mode=mode) as client:
        assert client.protocol_version == expected, (mode, client.protocol_version)
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        assert {"setup", "join", "say", "listen", "ask_operator"} <= names, names
        out, err = await call(client, "join")
        assert err and out["error"] == "setup_required", out
        assert (await call(client, "setup"))[0]["ready"] is True
        joined, _ = await call(client, "join")
        assert joined["joined"] is True and joined["project"] == project, joined
        assert "token" not in str(joined), "the token must never reach the model"
        peer = hub.register(f"{project}-peer")
        hub.post("/send", {"token": peer, "to": project, "content": "over http"})
        heard, _ = await call(client, "listen", {"timeout": 5})
        assert any(m["content"] == "over http" for m in heard["messages"]), heard
        sent, _ = await call(client, "say", {"content": "back at you", "to": f"{project}-peer"})
        assert sent["delivered_to"] == [f"{project}-peer"], sent
        who, _ = await call(client, "whoami")
        assert who["joined_as"] == project, who
        left, _ = await call(client, "leave")
        assert left == {"left": True, "project": project}, left
    print(f"MCP over HTTP, mode={mode}: negotiated {expected}, {len(names)} tools, called them")


async def main(binary):
    hub = start_ours(binary)
    try:
        await session(hub, "auto", "http-auto", "2026-07-28")
        await session(hub, "legacy", "http-legacy", "2025-11-25")
    finally:
        hub.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
