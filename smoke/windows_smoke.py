#!/usr/bin/env python3
"""The Windows build, run under Wine: hub, bridge and watcher.

Usage: windows_smoke.py WINE CAUCUS_EXE

CAUCUS_EXE is the x86_64-pc-windows-gnu build, in a folder that also holds
the test-only bcryptprimitives.dll stand-in (see smoke/windows.sh). This
script drives it from Linux over loopback:

- `caucus.exe hub`: register, send, receive and acknowledge, a data
  directory kept across a restart, a second hub refused on it;
- `caucus.exe bridge`: the MCP handshake, tools/list, setup, join, say,
  listen, leave;
- `caucus.exe watch`: exit 0 (a message, printed), 1 (a bad token), 2
  (usage), 3 (the operator's stop), 4 (no hub);
- `caucus.exe agent`: its `--exec` run through `cmd /C`, the reply sent.

Loopback only, every wait bounded.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

WINE, EXE = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, WINEDEBUG="-all")


def win(*args, **kw):
    return [WINE, EXE, *args]


class Hub:
    def __init__(self, *flags):
        self.proc = subprocess.Popen(
            win("hub", "--port", "0", "--no-browser", "--log-level", "warn", *flags),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        line = self.proc.stdout.readline().decode()
        assert line.startswith("caucus hub listening on "), (line, self.proc.stderr.read())
        self.url = line.split()[-1].rstrip("/")

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def wait_listening(self, peer):
        """Waits (at most 60 s) until `peer` has a poll in flight."""
        deadline = time.time() + 60
        while time.time() < deadline:
            _, ping = self.call("GET", f"/ping?peer={peer}")
            if ping.get("listening"):
                return
            time.sleep(0.05)
        raise AssertionError(f"{peer} never listened")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def hub_checks():
    hub = Hub()
    try:
        s, a = hub.call("POST", "/register", {"project": "alpha"})
        assert s == 200 and len(a["token"]) == 64, a
        s, b = hub.call("POST", "/register", {"project": "beta"})
        assert s == 200
        s, sent = hub.call("POST", "/send", {"token": a["token"], "to": "beta", "content": "hi"})
        assert s == 200 and sent["delivered_to"] == ["beta"], sent
        s, got = hub.call("GET", "/receive?timeout=5&ack_seq=0", token=b["token"])
        assert s == 200 and got["messages"][0]["content"] == "hi", got
        s, _ = hub.call("POST", "/ack", {"token": b["token"], "seq": got["messages"][0]["seq"]})
        assert s == 200
        s, again = hub.call("POST", "/register", {"project": "alpha"})
        assert s == 409 and again["error"] == "name_in_use", again
        print("windows hub: register, send, receive, ack, a name kept for its token: OK")
    finally:
        hub.stop()


def durable_checks():
    with tempfile.TemporaryDirectory() as d:
        folder = "Z:" + d.replace("/", "\\")
        hub = Hub("--data-dir", folder)
        try:
            _, a = hub.call("POST", "/register", {"project": "keeper"})
            _, b = hub.call("POST", "/register", {"project": "reader"})
            hub.call("POST", "/send", {"token": a["token"], "to": "reader", "content": "kept"})
            second = subprocess.run(
                win("hub", "--port", "0", "--no-browser", "--data-dir", folder),
                capture_output=True,
                env=ENV,
                timeout=60,
            )
            assert second.returncode != 0, second
            assert b"another hub is using" in second.stderr, second.stderr
        finally:
            hub.stop()
        hub = Hub("--data-dir", folder)
        try:
            s, got = hub.call("GET", "/receive?timeout=5", token=b["token"])
            assert s == 200 and got["messages"][0]["content"] == "kept", got
            print("windows hub: --data-dir survives a kill, a second hub is refused: OK")
        finally:
            hub.stop()


def bridge_checks():
    hub = Hub()
    try:
        env = dict(ENV, CAUCUS_HUB_URL=hub.url, CAUCUS_PROJECT="winbridge")
        proc = subprocess.Popen(
            win("bridge"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        lines = iter(proc.stdout.readline, b"")

        def rpc(i, method, params):
            msg = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            proc.stdin.write((json.dumps(msg) + "\n").encode())
            proc.stdin.flush()
            return json.loads(next(lines))

        def tool(i, name, args=None):
            r = rpc(i, "tools/call", {"name": name, "arguments": args or {}})
            return r["result"]["structuredContent"]

        init = rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "wine-smoke", "version": "1"}})
        assert init["result"]["protocolVersion"] == "2025-06-18", init
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        tools = rpc(2, "tools/list", {})["result"]["tools"]
        assert len(tools) >= 20, len(tools)
        assert tool(3, "setup")["ready"] is True
        joined = tool(4, "join")
        assert joined["joined"] is True and joined["project"] == "winbridge", joined
        _, peer = hub.call("POST", "/register", {"project": "linuxpeer"})
        hub.call("POST", "/send", {"token": peer["token"], "to": "winbridge", "content": "from linux"})
        heard = tool(5, "listen", {"timeout": 5})
        assert heard["messages"][0]["content"] == "from linux", heard
        said = tool(6, "say", {"to": "linuxpeer", "content": "from windows"})
        assert said["delivered_to"] == ["linuxpeer"], said
        wc = tool(7, "watch_command")
        assert "\\\\?\\" not in wc["command"], wc["command"]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        s, peers = hub.call("GET", "/peers")
        assert "winbridge" not in peers["peers"], peers
        print(f"windows bridge: handshake, {len(tools)} tools, setup, join, listen, say, leave at EOF: OK")
    finally:
        hub.stop()


def watcher(hub_url, *args, timeout=60):
    return subprocess.run(
        win("watch", "--hub", hub_url, *args), capture_output=True, env=ENV, timeout=timeout
    )


def watch_checks():
    hub = Hub()
    try:
        _, a = hub.call("POST", "/register", {"project": "sender"})
        _, b = hub.call("POST", "/register", {"project": "watched"})
        hub.call("POST", "/send", {"token": a["token"], "to": "watched", "content": "wake up"})
        out = watcher(hub.url, "--token", b["token"])
        assert out.returncode == 0, out
        assert out.stdout.decode().strip() == "[caucus] msg sender -> watched: wake up", out.stdout
        assert watcher(hub.url, "--token", "0" * 64).returncode == 1
        assert watcher(hub.url).returncode == 2
        result = {}
        t = threading.Thread(target=lambda: result.update(out=watcher(hub.url, "--token", b["token"])))
        t.start()
        hub.wait_listening("watched")
        # Auth is on by default on Windows too: the hub kept its operator
        # token in %LOCALAPPDATA%, where `caucus control token` reads it.
        kept = subprocess.run(win("control", "token", "--hub", hub.url), env=ENV,
                              capture_output=True, timeout=60)
        assert kept.returncode == 0, kept
        operator = kept.stdout.decode().strip()
        assert hub.call("POST", "/control", {"action": "stop"})[0] == 401
        assert hub.call("POST", "/control", {"action": "stop"}, token=operator)[0] == 200
        t.join(timeout=60)
        assert result["out"].returncode == 3, result["out"]
    finally:
        hub.stop()
    gone = watcher("http://127.0.0.1:9", "--token", "x" * 64, "--give-up", "1")
    assert gone.returncode == 4, gone
    print("windows watcher: exit codes 0, 1, 2, 3, 4: OK")


def agent_checks():
    hub = Hub()
    try:
        agent = subprocess.Popen(
            win("agent", "--hub", hub.url, "--name", "winagent",
                "--exec", "echo pong", "--max-replies", "1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        hub.wait_listening("winagent")
        _, me = hub.call("POST", "/register", {"project": "asker"})
        hub.call("POST", "/send", {"token": me["token"], "to": "winagent", "content": "ping?"})
        s, got = hub.call("GET", "/receive?timeout=20", token=me["token"])
        replies = [m for m in got["messages"] if m["sender"] == "winagent"]
        assert replies and replies[0]["content"].strip() == "pong", got
        assert agent.wait(timeout=60) == 0, agent.stderr.read()
        print("windows agent: --exec through cmd /C, the reply sent: OK")
    finally:
        hub.stop()


if __name__ == "__main__":
    hub_checks()
    durable_checks()
    bridge_checks()
    watch_checks()
    agent_checks()
    print("the Windows build under Wine: OK")
