#!/usr/bin/env python3
"""What the hub's memory does when strangers push on its bounds.

Usage: bounds.py CAUCUS_BINARY

Loopback only, bounded in time. Prints the hub's resident memory (VmRSS):

1. idle;
2. with a full log (500 messages of 8,000 characters);
3. with 40 consoles that upgraded /ui and never read a byte, over that log;
4. after 2,000 more messages pushed at those stalled consoles;
5. with the queue budget (--max-queued-mib, default 256) full: 8,000-
   character direct messages to peers that never read, until /send says 409;
6. with 160 clients that ask for a long unacknowledged backlog
   (`/receive?ack_seq=0`) and never read the answer: each answer is one
   batch of at most 1 MiB, and large answers together hold at most
   --max-answer-mib (64); past it the hub answers 503 at once;
7. with 4,100 POSTs whose bodies trickle (a head, then one byte) holding
   every connection slot (4,096): how long until the operator's /control
   gets through (a trickle is evicted like an idle connection).

A measurement, not a test: it asserts only that the hub kept serving and
that the budget refused with 409 rather than trimming.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Hub:
    def __init__(self, binary, *flags):
        self.proc = subprocess.Popen(
            [binary, "hub", "--port", "0", "--no-browser", "--log-level", "error", *flags],
            stdout=subprocess.PIPE,
        )
        line = self.proc.stdout.readline().decode()
        self.url = line.split()[-1].rstrip("/")
        self.host, port = self.url.split("//")[1].split(":")
        self.port = int(port)

    def post(self, path, body):
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def register(self, name):
        status, body = self.post("/register", {"project": name})
        assert status == 200, body
        return body["token"]

    def stalled_console(self):
        s = socket.create_connection((self.host, self.port))
        s.sendall(
            (
                f"GET /ui HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        return s

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def report(what, hub):
    print(f"{what}: {rss_mib(hub.proc.pid):.1f} MiB")


def consoles(binary):
    # --no-auth: a stranger's consoles need no ticket, the worst case.
    hub = Hub(binary, "--no-rate-limit", "--no-auth")
    try:
        report("idle", hub)
        sender = hub.register("sender")
        text = "x" * 8000
        for _ in range(500):
            assert hub.post("/send", {"token": sender, "to": "nobody", "content": text})[0] == 200
        time.sleep(0.5)
        report("full log (500 x 8,000 characters)", hub)
        held = [hub.stalled_console() for _ in range(40)]
        time.sleep(2)
        report("+ 40 consoles that never read", hub)
        for _ in range(2000):
            assert hub.post("/send", {"token": sender, "to": "nobody", "content": text})[0] == 200
        time.sleep(2)
        report("+ 2,000 more messages pushed at them", hub)
        with urllib.request.urlopen(hub.url + "/version", timeout=30) as r:
            assert r.status == 200
        for s in held:
            s.close()
    finally:
        hub.stop()


def budget(binary):
    hub = Hub(binary, "--no-rate-limit")
    try:
        sender = hub.register("sender")
        peers = [f"sink{i}" for i in range(40)]
        for p in peers:
            hub.register(p)
        text = "y" * 8000
        sent = 0
        while True:
            status, body = hub.post(
                "/send", {"token": sender, "to": peers[sent % len(peers)], "content": text}
            )
            if status != 200:
                assert status == 409 and "max-queued-mib" in body["detail"], body
                break
            sent += 1
            assert sent < 100_000
        time.sleep(0.5)
        print(f"queue budget full after {sent:,} messages of 8,000 characters (refused: 409)")
        report("with the 256 MiB budget full", hub)
    finally:
        hub.stop()


def unread_answers(binary):
    hub = Hub(binary, "--no-rate-limit")
    try:
        sender = hub.register("sender")
        victim = hub.register("victim")
        text = "z" * 8000
        for _ in range(6000):  # as much as the victim's queue takes
            assert hub.post("/send", {"token": sender, "to": "victim", "content": text})[0] == 200
        # One poll hands the backlog out (it stays unacknowledged).
        with urllib.request.urlopen(
            urllib.request.Request(hub.url + "/receive?timeout=0&ack_seq=0",
                                   headers={"Authorization": f"Bearer {victim}"}), timeout=60
        ) as r:
            first = r.read()
        with urllib.request.urlopen(
            urllib.request.Request(hub.url + "/peek",
                                   headers={"Authorization": f"Bearer {victim}"}), timeout=60
        ) as r:
            pending = json.load(r)["pending"]
        print(f"one /receive answer over a backlog of {pending:,} messages of 8,000 "
              f"characters: {len(first) / 1048576:.2f} MiB")
        report("the backlog waiting, before the readers", hub)
        held = []
        for _ in range(160):
            s = socket.create_connection((hub.host, hub.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(
                (f"GET /receive?timeout=0&ack_seq=0 HTTP/1.1\r\nHost: {hub.host}:{hub.port}\r\n"
                 f"Authorization: Bearer {victim}\r\n\r\n").encode())
            held.append(s)
        time.sleep(3)
        report("+ 160 clients that never read their /receive answer", hub)
        with urllib.request.urlopen(hub.url + "/version", timeout=30) as r:
            assert r.status == 200
        for s in held:
            s.close()
    finally:
        hub.stop()


def trickling_bodies(binary):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    hub = Hub(binary)
    token = open_operator_token(hub)
    try:
        held = []
        for _ in range(4100):
            try:
                s = socket.create_connection((hub.host, hub.port), timeout=10)
                s.sendall((f"POST /send HTTP/1.1\r\nHost: {hub.host}:{hub.port}\r\n"
                           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode())
                held.append(s)
            except OSError:
                break
        started = time.monotonic()
        body = json.dumps({"action": "pause"}).encode()
        status = None
        for _ in range(600):
            req = urllib.request.Request(hub.url + "/control", data=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    status = r.status
                    break
            except urllib.error.HTTPError as e:
                if e.code != 503:
                    raise
            except OSError:
                pass
            time.sleep(0.05)
        waited = time.monotonic() - started
        assert status == 200, status
        print(f"{len(held):,} trickling POSTs held the slots; the operator's /control got "
              f"through after {waited:.2f} s")
        report("with the trickling POSTs", hub)
        for s in held:
            s.close()
    finally:
        hub.stop()


def open_operator_token(hub):
    import os
    base = os.environ.get("CAUCUS_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"),
        "caucus")
    with open(os.path.join(base, "operator", f"{hub.port}.token")) as f:
        return f.read().strip()


if __name__ == "__main__":
    consoles(sys.argv[1])
    budget(sys.argv[1])
    unread_answers(sys.argv[1])
    trickling_bodies(sys.argv[1])
