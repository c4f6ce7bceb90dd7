#!/usr/bin/env python3
"""Interop: caucus-mcp 5.1.0's own clients against our hub.

Usage: interop_py5_clients.py CAUCUS_BINARY  (run with the ref5 venv's python)

- Its `HubConnector`: the protocol core and sections (an unknown one too),
  register, direct, broadcast and channel sends (with `missed` and the
  `no_recipients` warning), receive and ack, peek, the one-listener rule
  (a displaced lease is told `already_listening`), floors, an operator
  form answered, and the stop.
- Its `caucus-watch`: a message printed and exit 0, the stop line, and the
  exit (2) of a watcher displaced by a newer listener.
- Its `caucus-bridge`, driven by the MCP SDK's stdio client: setup, join,
  say, listen, peek, leave.
"""

import asyncio
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from hubproc import start_ours  # noqa: E402

from caucus.hub_connector import HubConnector  # noqa: E402

BIN = os.path.dirname(sys.executable)
WATCH = os.path.join(BIN, "caucus-watch")
BRIDGE = os.path.join(BIN, "caucus-bridge")


async def listening(hub, name):
    """Waits (at most 30 s) for `name` to have a poll in flight, letting the
    event loop run the poll meanwhile."""
    for _ in range(600):
        status, body = hub.call("GET", f"/ping?peer={name}")
        if body.get("listening"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never listened")


async def check_connector(hub):
    async with HubConnector(hub.url, timeout=40) as hc:
        proto = await hc.fetch_protocol()
        assert proto.version >= 2 and "protocol_section" in proto.text, proto
        floor = await hc.fetch_protocol_section("floor")
        assert "raise_hand" in floor["text"], floor
        unknown = await hc.fetch_protocol_section("dance")
        assert unknown["error"] == "unknown_section", unknown
        assert unknown["sections"][:3] == ["channels", "floor", "operator"], unknown
        assert "talking-stick" in unknown["sections"], unknown
        alias = await hc.fetch_protocol_section("talking-stick")
        assert "raise_hand" in alias["text"], alias

        a = await hc.register("five-a", proto.version)
        b = await hc.register("five-b", proto.version)
        sent = await hc.send(a.token, "five-b", "direct")
        assert sent.ok and sent.delivered_to == ["five-b"] and sent.missed == [], sent
        missed = await hc.send(a.token, "nobody-here", "lost")
        assert missed.ok and missed.missed == ["nobody-here"], missed
        empty = await hc.send(a.token, "#nobody", "anyone?")
        assert empty.warning == "no_recipients" and empty.hint, empty

        peeked = await hc.peek(b.token)
        assert peeked["pending"] == 1, peeked
        assert peeked["last"]["sender"] == "five-a", peeked
        inbound = await hc.receive(b.token, 5)
        assert [m["content"] for m in inbound.messages] == ["direct"], inbound
        await hc.ack(b.token, inbound.messages[-1]["seq"])

        # Broadcast and a channel.
        await hc.join_channel(b.token, "#five")
        assert (await hc.send(a.token, "all", "to everyone")).delivered_to == ["five-b"]
        assert (await hc.send(a.token, "#five", "to the channel")).delivered_to == ["five-b"]
        inbound = await hc.receive(b.token, 5)
        got = [m["content"] for m in inbound.messages if m["kind"] == "message"]
        assert got == ["to everyone", "to the channel"], inbound
        await hc.ack(b.token, inbound.messages[-1]["seq"])

        # One listener per token: the newer lease wins, the older is told.
        first = asyncio.create_task(hc.receive(b.token, 20, lease="lease-one"))
        await listening(hub, "five-b")
        second = asyncio.create_task(hc.receive(b.token, 20, lease="lease-two"))
        displaced = await first
        assert displaced.already_listening, displaced
        await hc.send(a.token, "five-b", "for the newest")
        newest = await second
        assert [m["content"] for m in newest.messages] == ["for the newest"], newest
        await hc.ack(b.token, newest.messages[-1]["seq"])

        # The talking stick.
        took = await hc.take_floor(a.token, "all", "a moment")
        assert took.get("ok") is True, took
        hand = await hc.raise_hand(b.token, "all")
        assert hand.get("ok") is True, hand
        passed = await hc.pass_floor(a.token, "all")
        assert passed.get("passed_to") == "five-b", passed
        await hc.drop_floor(b.token, "all")

        # An operator form, answered from the operator side.
        asked = await hc.ask_operator(
            a.token, "all", "Ship it?",
            [{"key": "go", "label": "Go?", "type": "radio", "options": ["yes", "no"]}],
        )
        forms = await hc.list_forms()
        assert any(f["id"] == asked.form_id for f in forms), forms
        hub.post("/control", {"action": "answer_form", "id": asked.form_id, "answers": {"go": "yes"}})
        answered = None
        for _ in range(10):
            inbound = await hc.receive(a.token, 5)
            answers = [m for m in inbound.messages if m["kind"] == "answer"]
            if answers:
                answered = answers[0]
                break
        assert answered and answered["meta"]["answers"] == {"go": "yes"}, answered

        # The stop.
        hub.post("/control", {"action": "stop"})
        stopped = await hc.receive(b.token, 5)
        assert stopped.stop, stopped
        hub.post("/control", {"action": "reset"})
        await hc.leave(a.token)
        await hc.leave(b.token)
    print("caucus-mcp 5.1.0 HubConnector: protocol sections, sends with missed and "
          "no_recipients, peek, one listener, floors, a form, stop: OK")


def watcher(hub, token):
    return subprocess.Popen(
        [WATCH, "--hub", hub.url, "--token", token, "--timeout", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def check_watch(hub):
    me = hub.register("five-watched")
    other = hub.register("five-sender")
    proc = watcher(hub, me)
    hub.wait_listening("five-watched")
    hub.post("/send", {"token": other, "to": "five-watched", "content": "wake up"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (proc.returncode, err)
    assert "wake up" in out and "five-sender" in out, out

    # Displaced by a newer listener: it says so and exits 2.
    proc = watcher(hub, me)
    hub.wait_listening("five-watched")
    status, _ = hub.call(
        "GET", "/receive?timeout=1", headers={"Authorization": f"Bearer {me}"}
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (proc.returncode, out, err)
    assert "DISPLACED" in out, out

    proc = watcher(hub, me)
    hub.wait_listening("five-watched")
    hub.post("/control", {"action": "stop"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "STOP" in out, (proc.returncode, out, err)
    hub.post("/control", {"action": "reset"})
    print("caucus-mcp 5.1.0 caucus-watch: a message, a displaced watcher (exit 2), the stop: OK")


async def check_bridge(hub):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    peer = hub.register("five-peer")
    params = StdioServerParameters(
        command=BRIDGE,
        args=[],
        env={"CAUCUS_HUB_URL": hub.url, "CAUCUS_PROJECT": "five-agent",
             "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
    )

    async def call(s, tool, args=None):
        result = await s.call_tool(tool, args or {})
        if getattr(result, "structuredContent", None):
            return result.structuredContent
        text = result.content[0].text
        try:
            return json.loads(text)
        except ValueError:
            return {"text": text}

    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                tools = {t.name for t in (await s.list_tools()).tools}
                assert {"join", "say", "listen", "peek", "protocol_section"} <= tools, tools
                if "setup" in tools:  # 5.x joins without it
                    await call(s, "setup")
                joined = await call(s, "join")
                assert "five-agent" in json.dumps(joined), joined
                sent = await call(s, "say", {"to": "five-peer", "content": "hello from 5.1"})
                assert "five-peer" in json.dumps(sent), sent
                status, body = hub.call(
                    "GET", "/receive?timeout=5", headers={"Authorization": f"Bearer {peer}"}
                )
                assert any(m["content"] == "hello from 5.1" for m in body["messages"]), body
                hub.post("/send", {"token": peer, "to": "five-agent", "content": "hello back"})
                heard = await call(s, "listen", {"timeout": 5})
                assert "hello back" in json.dumps(heard), heard
                peeked = await call(s, "peek")
                assert "pending" in json.dumps(peeked), peeked
                section = await call(s, "protocol_section", {"name": "floor"})
                assert "raise_hand" in json.dumps(section), section
                await call(s, "leave")
    print("caucus-mcp 5.1.0 caucus-bridge against our hub: join, say, listen, peek, "
          "protocol_section, leave: OK")


async def main(binary):
    # Many sends from one peer in a row: the rate limit is not under test.
    hub = start_ours(binary, "--no-rate-limit")
    try:
        await check_connector(hub)
        check_watch(hub)
        await check_bridge(hub)
    finally:
        hub.stop()
    print("interop with caucus-mcp 5.1.0 clients: OK")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
