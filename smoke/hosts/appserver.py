"""A small client of Codex's app-server daemon for the real-host suite:
a WebSocket over the daemon's Unix control socket (as Codex documents
it), one JSON-RPC object per text frame, without the `jsonrpc` member.
Written on the standard library so the suite needs nothing beyond npm."""

import base64
import json
import os
import socket
import struct


class AppServer:
    def __init__(self, socket_path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("the app-server closed during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"no WebSocket: {head[:200]!r}")
        self.next_id = 1
        self.notes = []
        self.call("initialize", {"clientInfo": {"name": "caucus-tests", "version": "1"}})
        self._send({"method": "initialized"})

    def close(self):
        self.sock.close()

    def _send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the app-server closed the connection")
            buf += chunk
        return buf

    def _frame(self):
        """The next text frame's JSON (pings are answered, others skipped)."""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            payload = self._exact(n)
            op = b0 & 0x0F
            if op == 0x1:
                return json.loads(payload)
            if op == 0x8:
                raise ConnectionError("the app-server closed the connection")
            if op == 0x9:
                mask = os.urandom(4)
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask
                                  + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def call(self, method, params):
        i = self.next_id
        self.next_id += 1
        self._send({"id": i, "method": method, "params": params})
        for _ in range(10000):
            msg = self._frame()
            if msg.get("id") == i and "method" not in msg:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            if "method" in msg:
                self.notes.append(msg)
        raise RuntimeError(f"{method}: no answer")
