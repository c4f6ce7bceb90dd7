#!/usr/bin/env python3
"""Interop: caucus-mcp 1.3.0's own clients against our hub.

Usage: interop_py_clients.py CAUCUS_BINARY  (run with the venv's python)

Its `caucus-watch` must print a message sent through our hub and the stop
line on the operator's stop; its `HubConnector` must register, send,
receive, acknowledge, use channels and floors, and leave.
"""

import asyncio
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from hubproc import start_ours  # noqa: E402

from caucus.hub_connector import HubConnector  # noqa: E402

WATCH = os.path.join(os.path.dirname(sys.executable), "caucus-watch")


def run_watch(hub, token, action):
    """Starts caucus-watch, waits until it polls, does `action`, returns its output."""
    proc = subprocess.Popen(
        [WATCH, "--hub", hub.url, "--token", token, "--timeout", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        hub.wait_listening("watcher")
        action()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def check_watch(hub):
    watcher = hub.register("watcher")
    sender = hub.register("sender")

    code, out, err = run_watch(
        hub,
        watcher,
        lambda: hub.post("/send", {"token": sender, "to": "watcher", "content": "hello watcher"}),
    )
    assert code == 0, (code, err)
    assert "[caucus] msg sender -> watcher: hello watcher\n" in out, out
    print("caucus-watch printed a message routed by our hub and exited 0")

    # It acknowledged what it printed: a fresh poll has nothing old.
    status, body = hub.call(
        "GET", "/receive?timeout=0", headers={"Authorization": f"Bearer {watcher}"}
    )
    assert status == 200 and body["messages"] == [], body

    code, out, err = run_watch(hub, watcher, lambda: hub.post("/control", {"action": "stop"}))
    assert code == 0, (code, err)
    assert "[caucus] STOP -- operator stopped the room; watcher exiting.\n" in out, out
    print("caucus-watch printed the stop line on the operator's stop")
    hub.post("/control", {"action": "reset"})


async def check_connector(hub):
    async with HubConnector(hub.url, timeout=40) as hc:
        proto = await hc.fetch_protocol()
        assert proto.version >= 1 and "caucus" in proto.text
        a = await hc.register("py-a", proto.version)
        b = await hc.register("py-b", proto.version)
        assert a.project == "py-a" and not a.protocol_stale and a.token

        sent = await hc.send(a.token, "py-b", "hello from HubConnector")
        assert sent.ok and sent.delivered_to == ["py-b"], sent
        inbound = await hc.receive(b.token, 5)
        got = [m for m in inbound.messages if m["kind"] == "message"]
        assert [m["content"] for m in got] == ["hello from HubConnector"], inbound
        assert not inbound.stop and inbound.mode == "running"
        await hc.ack(b.token, got[-1]["seq"])

        assert await hc.join_channel(b.token, "#py")
        sent = await hc.send(a.token, "#py", "channel hello")
        assert sent.delivered_to == ["py-b"], sent
        channels = await hc.channels()
        assert channels["#py"]["members"] == ["py-a", "py-b"], channels

        taken = await hc.take_floor(a.token, "all", "important")
        assert taken["ok"] is True, taken
        blocked = await hc.send(b.token, "all", "may I?")
        assert blocked.floor_held and blocked.floor_holder == "py-a", blocked
        assert (await hc.drop_floor(a.token, "all"))["released"] is True

        assert sorted(await hc.peers()) == ["py-a", "py-b", "sender", "watcher"]
        await hc.leave(a.token)
        assert "py-a" not in await hc.peers()
    print("HubConnector registered, sent, received, acked, used channels and floors, left")


def main():
    hub = start_ours(sys.argv[1])
    try:
        check_watch(hub)
        asyncio.run(check_connector(hub))
    finally:
        hub.stop()
    print("interop with caucus-mcp 1.3.0 clients: OK")


if __name__ == "__main__":
    main()
