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
   --max-answer-mib (64); past it the hub answers 503 at once.

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
    hub = Hub(binary, "--no-rate-limit")
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


if __name__ == "__main__":
    consoles(sys.argv[1])
    budget(sys.argv[1])
    unread_answers(sys.argv[1])
