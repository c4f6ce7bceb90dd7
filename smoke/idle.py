#!/usr/bin/env python3
"""Measures an idle hub holding 100 long-polls: CPU used while they wait, and
how soon a waiting poll wakes after a send.

Usage: idle.py CAUCUS_BINARY [SECONDS]

Prints figures; asserts only correctness (every poll answered, every woken
poll got its message), never a timing.
"""

import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from hubproc import start_ours  # noqa: E402

PEERS = 100
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def poll(hub, token, timeout, out):
    req = urllib.request.Request(
        f"{hub.url}/receive?timeout={timeout}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=timeout + 30) as resp:
        out.append((resp.status, resp.read(), time.perf_counter()))


def main():
    window = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    hub = start_ours(sys.argv[1], "--no-rate-limit")
    try:
        tokens = [hub.register(f"idle{i}") for i in range(PEERS)]
        results = []
        threads = [
            threading.Thread(target=poll, args=(hub, t, 25, results)) for t in tokens
        ]
        for t in threads:
            t.start()
        hub.wait(
            "all polls to be held",
            lambda: all(
                hub.get(f"/ping?peer=idle{i}")[1]["listening"] for i in range(PEERS)
            ),
        )
        before = cpu_seconds(hub.proc.pid)
        time.sleep(window)  # the measurement window itself, not a synchronisation
        used = cpu_seconds(hub.proc.pid) - before
        sender = hub.register("sender")
        hub.post("/send", {"token": sender, "to": "all", "content": "wake"})
        for t in threads:
            t.join()
        assert len(results) == PEERS and all(s == 200 and b"wake" in b for s, b, _ in results)
        print(f"hub CPU while holding {PEERS} polls for {window:.0f} s: {used:.2f} s")

        # Send-to-wake: one listener, one sender, a fresh poll per message.
        listener = hub.register("listener")
        wakes = []
        for i in range(50):
            got = []
            t = threading.Thread(target=poll, args=(hub, listener, 20, got))
            t.start()
            hub.wait_listening("listener")
            sent_at = time.perf_counter()
            hub.post("/send", {"token": sender, "to": "listener", "content": f"m{i}"})
            t.join()
            status, body, woke_at = got[0]
            assert status == 200 and f"m{i}".encode() in body, body
            wakes.append((woke_at - sent_at) * 1000)
        wakes.sort()
        print(
            f"send-to-wake over 50 messages: median {wakes[len(wakes) // 2]:.2f} ms, "
            f"worst {wakes[-1]:.2f} ms (includes the sender's own HTTP round trip)"
        )
    finally:
        hub.stop()


if __name__ == "__main__":
    main()
