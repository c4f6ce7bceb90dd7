"""Start and talk to a caucus hub from smoke scripts (stdlib only).

`start_ours` runs our binary on an ephemeral loopback port and reads the URL
from its first stdout line; `start_python` runs caucus-mcp's `caucus-hub` on a
free port and waits for `/version`. Both return a `Hub` whose `stop()` ends
only the process it started.
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request


def state_dir():
    """The clients' state folder, as caucus finds it on Linux."""
    if os.environ.get("CAUCUS_STATE_DIR"):
        return os.environ["CAUCUS_STATE_DIR"]
    if os.environ.get("XDG_STATE_HOME"):
        return os.path.join(os.environ["XDG_STATE_HOME"], "caucus")
    return os.path.join(os.path.expanduser("~"), ".local", "state", "caucus")


# The chair's own paths: the operator token goes with them.
CHAIR_PATHS = ("/control", "/export", "/search", "/ui/ticket", "/agents")


class Hub:
    def __init__(self, proc, url, operator=None):
        self.proc = proc
        self.url = url.rstrip("/")
        self.operator = operator

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        headers = dict(headers or {})
        chair = path.startswith(CHAIR_PATHS) or (method == "GET" and path.startswith("/approvals"))
        if chair and self.operator and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.operator}"
        for k, v in headers.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body, headers=None):
        return self.call("POST", path, body, headers)

    def register(self, name):
        status, body = self.post("/register", {"project": name})
        assert status == 200, (status, body)
        return body["token"]

    def wait(self, what, pred, seconds=30):
        """Polls `pred()` until true; fails after `seconds`."""
        deadline = time.monotonic() + seconds
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def wait_listening(self, name):
        self.wait(
            f"{name} to listen",
            lambda: self.get(f"/ping?peer={name}")[1].get("listening") is True,
        )

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_ours(binary, *extra, env=None):
    """`env`: the hub's whole environment (else this process's); keep its
    CAUCUS_STATE_DIR this process's so the kept token is found."""
    proc = subprocess.Popen(
        [binary, "hub", "--port", "0", "--no-browser", "--log-level", "warn", *extra],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line = proc.stdout.readline().strip()
    prefix = "caucus hub listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"unexpected first line from the hub: {line!r}")
    url = line[len(prefix):]
    # Auth is on by default: the hub keeps the operator token it made for
    # its port in the state folder, where the local tools read it.
    operator = None
    if "--no-auth" not in extra and "--operator-token" not in extra:
        port = url.rstrip("/").rsplit(":", 1)[1]
        try:
            with open(os.path.join(state_dir(), "operator", f"{port}.token")) as f:
                operator = f.read().strip()
        except OSError:
            pass
    return Hub(proc, url, operator)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_python(venv_bin, *extra, env=None, argv=None):
    port = free_port()
    cmd = argv or [os.path.join(venv_bin, "caucus-hub")]
    proc = subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", str(port), "--no-browser", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    hub = Hub(proc, f"http://127.0.0.1:{port}")

    def up():
        if proc.poll() is not None:
            raise RuntimeError("caucus-hub exited at start")
        try:
            return hub.get("/version")[0] == 200
        except OSError:
            return False

    hub.wait("caucus-hub to start", up)
    return hub
