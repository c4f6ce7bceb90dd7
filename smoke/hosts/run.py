#!/usr/bin/env python3
"""The real hosts in the loop: Claude Code, Codex and Gemini CLI, installed
from npm at the versions in package.json, each run headless against the
scripted model API (model.py) in a temporary HOME, through the files
`caucus setup` writes, with a live hub.

Usage: run.py CAUCUS_BINARY [SCENARIO...]   (default: every scenario)

Each scenario drives one host through a plan of tool calls and asserts
what the room, the files and the model saw. The hosts' own debug logs
are printed when a scenario fails.
"""

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from hubproc import start_ours, state_dir  # noqa: E402
from appserver import AppServer  # noqa: E402
from model import Model  # noqa: E402

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
HOSTS = os.path.join(HERE, "node_modules", ".bin")
# The longest one host run may take; every wait below is bounded by it.
RUN_LIMIT = 240


class World:
    """One scenario's hub, model, HOME and repository."""

    def __init__(self, name, repo_name):
        self.name = name
        self.home = tempfile.mkdtemp(prefix=f"caucus-{name}-")
        self.repo = os.path.join(self.home, repo_name)
        os.makedirs(self.repo)
        subprocess.run(["git", "init", "-q", self.repo], check=True)
        self.hub = start_ours(BIN)
        self.model = Model()
        self.proc = None
        self.out = ""
        self.err = ""

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CAUCUS_", "XDG_", "ANTHROPIC_", "OPENAI_", "GEMINI_",
                                    "GOOGLE_", "CLAUDE", "CODEX_"))}
        env.update(HOME=self.home, CAUCUS_HUB_URL=self.hub.url, **extra)
        return env

    def setup(self, host, *flags):
        r = subprocess.run([BIN, "setup", host, "--hub", self.hub.url, *flags], cwd=self.repo,
                           env=self.env(), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def start(self, argv, env):
        self.proc = subprocess.Popen(argv, cwd=self.repo, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        out, err = self.proc.communicate()
        self.out, self.err = out, err

    def finish(self):
        self._reader.join(RUN_LIMIT)
        if self.proc.poll() is None:
            self.proc.kill()
            self._reader.join(10)
            raise AssertionError("the host did not finish in time")
        return self.proc.returncode

    def wait(self, what, pred, seconds=RUN_LIMIT):
        deadline = time.monotonic() + seconds
        while not pred():
            if self.proc is not None and self.proc.poll() is not None and not pred():
                raise AssertionError(f"the host exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def listening(self, peer):
        return self.hub.get(f"/ping?peer={peer}")[1].get("listening") is True

    def control(self, body):
        status, answer = self.hub.post("/control", body)
        assert status == 200, (status, answer)
        return answer

    def receive(self, token):
        status, body = self.hub.call("GET", "/receive?timeout=0",
                                     headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
        return body["messages"]

    def report(self):
        print(f"--- {self.name}: host stdout\n{self.out[-4000:]}\n--- stderr\n{self.err[-4000:]}")
        print(f"--- what the model saw\n{self.model.transcript()[-6000:]}")
        for log in glob.glob(os.path.join(self.home, ".claude", "debug", "*.txt")):
            lines = [ln for ln in open(log, errors="replace")
                     if "caucus" in ln or "MCP" in ln or "Hook" in ln or "hook" in ln]
            print(f"--- {log}\n{''.join(lines[-80:])}")

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.hub.stop()
        self.model.close()
        shutil.rmtree(self.home, ignore_errors=True)


def claude_env(w):
    return w.env(ANTHROPIC_BASE_URL=w.model.url, ANTHROPIC_API_KEY="sk-stand-in",
                 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1",
                 DISABLE_TELEMETRY="1")


def claude_user(w, allow_bash):
    """What the user did once by hand: accepted Claude Code's trust dialog
    for the repository (without it the project's permissions.allow is
    ignored), and, for some scenarios, allowed Bash everywhere."""
    with open(os.path.join(w.home, ".claude.json"), "w") as f:
        json.dump({"projects": {w.repo: {"hasTrustDialogAccepted": True}}}, f)
    if allow_bash:
        os.makedirs(os.path.join(w.home, ".claude"), exist_ok=True)
        with open(os.path.join(w.home, ".claude", "settings.json"), "w") as f:
            json.dump({"permissions": {"allow": ["Bash"]}}, f)


def codex_user(w):
    """What the user did once by hand: a model provider (here the stand-in),
    the project trusted, and the caucus hooks reviewed and trusted in
    /hooks, which writes each hook's hash under [hooks.state] (taken here
    from Codex's own app-server, as its /hooks screen does)."""
    config = os.path.join(w.home, ".codex", "config.toml")
    os.makedirs(os.path.dirname(config), exist_ok=True)
    base = (f'model = "gpt-5.1-codex"\nmodel_provider = "standin"\n'
            f'[model_providers.standin]\nname = "stand-in"\nbase_url = "{w.model.url}/v1"\n'
            f'wire_api = "responses"\nenv_key = "STANDIN_KEY"\n'
            f'[projects."{w.repo}"]\ntrust_level = "trusted"\n')
    with open(config, "w") as f:
        f.write(base)
    hooks = codex_hooks(w)
    with open(config, "a") as f:
        for h in hooks:
            f.write(f'[hooks.state."{h["key"]}"]\ntrusted_hash = "{h["currentHash"]}"\n')
    assert all(h["trustStatus"] == "trusted" for h in codex_hooks(w)), "the hooks are still untrusted"


def codex_hooks(w):
    """The hooks Codex sees for the repository (app-server `hooks/list`)."""
    proc = subprocess.Popen([os.path.join(HOSTS, "codex"), "app-server"], cwd=w.repo,
                            env=codex_env(w), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        def rpc(i, method, params):
            proc.stdin.write(json.dumps({"id": i, "method": method, "params": params}) + "\n")
            proc.stdin.flush()
            for _ in range(1000):
                msg = json.loads(proc.stdout.readline())
                if msg.get("id") == i:
                    return msg["result"]
            raise AssertionError(f"no answer to {method}")
        rpc(1, "initialize", {"clientInfo": {"name": "caucus-tests", "version": "1"}})
        return rpc(2, "hooks/list", {"cwds": [w.repo]})["data"][0]["hooks"]
    finally:
        proc.kill()
        proc.wait()


def codex_env(w):
    return w.env(STANDIN_KEY="stand-in")


def codex(w, prompt):
    w.start([os.path.join(HOSTS, "codex"), "exec", "--json", prompt], codex_env(w))


def gemini_user(w):
    """What the user did once by hand: an API key login (here the
    stand-in's), the folder trusted, and the shell allowed."""
    home = os.path.join(w.home, ".gemini")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "settings.json"), "w") as f:
        json.dump({"security": {"auth": {"selectedType": "gemini-api-key"}},
                   "general": {"disableAutoUpdate": True},
                   "privacy": {"usageStatisticsEnabled": False},
                   "tools": {"allowed": ["run_shell_command"]}}, f)
    with open(os.path.join(home, "trustedFolders.json"), "w") as f:
        json.dump({w.repo: "TRUST_FOLDER"}, f)


def gemini(w, prompt):
    env = w.env(GEMINI_API_KEY="stand-in", GOOGLE_GEMINI_BASE_URL=w.model.url)
    w.start([os.path.join(HOSTS, "gemini"), "-p", prompt, "--output-format", "json"], env)


def claude(w, prompt, *flags):
    w.start([os.path.join(HOSTS, "claude"), "-p", prompt, "--output-format", "json",
             "--debug", *flags], claude_env(w))


def tool(*names, **args):
    return {"tool": list(names), "args": args}


def room(name):
    """A room tool, by every host's name for it."""
    return tool(f"mcp__caucus__{name}", f"mcp_caucus_{name}")


# --- scenarios ---------------------------------------------------------

def room_plan(w, denied, after=()):
    """The model's plan in a room scenario: join, say hello to bob, try
    `denied` (a shell call) while the chair pauses, call a room tool, and
    after the resume finish three turns (each Stop continues with a new
    message)."""
    return [
        room("setup"),
        room("join"),
        dict(room("say"), args={"to": "bob", "content": "hello bob"}),
        {"call": lambda: w.control({"action": "pause"})},
        denied,
        room("whoami"),
        {"call": lambda: w.control({"action": "resume"})},
        *after,
        {"text": "first turn done"},
        {"text": "second turn done"},
        {"text": "third turn done"},
    ]


def conversation(w, name, bob):
    """Bob talks to an agent whose host ends its turns: the Stop hook
    waits, a message during its wait continues the turn, and after the
    continuation it waits again. Returns what the agent said to bob; the
    chair's stop then ends the session."""
    w.wait("the Stop hook to listen", lambda: w.listening(name))
    w.hub.post("/send", {"token": bob, "to": name, "content": "are you there?"})
    w.wait("the model to be shown bob's message", lambda: w.model.seen("are you there?"))
    w.wait("the second Stop to listen", lambda: w.listening(name))
    w.hub.post("/send", {"token": bob, "to": name, "content": "still there?"})
    w.wait("the model to be shown the second message", lambda: w.model.seen("still there?"))
    w.wait("the third Stop to listen", lambda: w.listening(name))
    said = [m["content"] for m in w.receive(bob) if m["sender"] == name]
    w.control({"action": "stop"})
    assert w.finish() == 0, w.err
    return said


def claude_room(w):
    """Claude Code: join, say, a paused room denies Bash but not the room's
    tools, even after `cd sub`; Stop continues the turn with a message that
    arrives during its wait, and waits again after the continuation."""
    w.setup("claude")
    claude_user(w, allow_bash=True)
    bob = w.hub.register("bob")
    cd = tool("Bash", command="mkdir -p sub && cd sub && pwd", description="go to sub")
    plan = room_plan(w, tool("Bash", command="touch paused.txt", description="make a file"))
    plan.insert(3, cd)
    w.model.script(plan)
    claude(w, "join the caucus room")
    said = conversation(w, "alpha", bob)
    result = json.loads(w.out)
    denied = [(d["tool_name"], d["tool_input"].get("command")) for d in result["permission_denials"]]
    assert denied == [("Bash", "touch paused.txt")], denied
    assert said == ["hello bob"], said
    assert os.path.isdir(os.path.join(w.repo, "sub"))
    assert not os.path.exists(os.path.join(w.repo, "sub", "paused.txt")), "the pause let Bash run"
    assert w.model.seen("paused"), "the model was told why Bash was denied"
    assert w.model.seen('"joined": true') or w.model.seen('"joined":true'), "whoami ran while paused"


def claude_approval_and_interrupt(w):
    """Claude Code: a Bash call the host would ask about is put before the
    chair and runs once allowed from the console; the chair's interrupt
    denies the next tool call with the chair's words."""
    w.setup("claude")
    claude_user(w, allow_bash=False)
    steps = [
        room("setup"),
        room("join"),
        tool("Bash", command="echo yes > approved.txt", description="write a file"),
        {"call": lambda: w.control({"action": "interrupt", "peer": "beta",
                                    "content": "stop the migration now"})},
        tool("Bash", command="echo no > interrupted.txt", description="another file"),
        {"call": lambda: w.control({"action": "stop"})},
        {"text": "done"},
    ]
    w.model.script(steps)
    claude(w, "join the caucus room")
    w.wait("an approval request", lambda: w.hub.get("/approvals")[1].get("approvals"))
    pending = w.hub.get("/approvals")[1]["approvals"]
    assert pending[0]["peer"] == "beta" and pending[0]["tool"] == "Bash", pending
    w.control({"action": "approve", "id": pending[0]["id"]})
    assert w.finish() == 0, w.err
    assert open(os.path.join(w.repo, "approved.txt")).read().strip() == "yes"
    assert not os.path.exists(os.path.join(w.repo, "interrupted.txt")), "the interrupt let Bash run"
    assert w.model.seen("stop the migration now")


def claude_debug_log(w):
    logs = glob.glob(os.path.join(w.home, ".claude", "debug", "*.txt"))
    return "".join(open(p, errors="replace").read() for p in logs)


def claude_channel(w):
    """Claude Code with `setup claude --channel`: the bridge leads it to a
    handshake revision, so channels are not skipped for a modern
    connection. The next gate is Anthropic's own feature flag."""
    w.setup("claude", "--channel")
    claude_user(w, allow_bash=False)
    w.model.script([room("setup"), room("join"), {"call": lambda: w.control({"action": "stop"})},
                    {"text": "done"}])
    claude(w, "join the caucus room", "--dangerously-load-development-channels", "server:caucus")
    assert w.finish() == 0, w.err
    log = claude_debug_log(w)
    assert '"negotiatedProtocolVersion":"2025-11-25"' in log, "no handshake revision negotiated"
    assert "modern protocol revision" not in log, "channels skipped for a modern connection"


def codex_room(w):
    """Codex: join, say (the room's tools approved by setup), a paused room
    denies the shell but not the room's tools; the Stop hook continues the
    turn with a message that arrives during its wait, and again after."""
    w.setup("codex")
    codex_user(w)
    bob = w.hub.register("bob")
    w.model.script(room_plan(w, tool("shell", command="touch paused.txt")))
    codex(w, "join the caucus room")
    said = conversation(w, "delta", bob)
    assert said == ["hello bob"], said
    assert not os.path.exists(os.path.join(w.repo, "paused.txt")), "the pause let the shell run"
    assert w.model.seen("paused"), "the model was told why the shell was denied"
    assert w.model.seen('"joined_as":"delta"'), "whoami ran while paused"


def gemini_room(w):
    """Gemini CLI: join and say (the server trusted by `setup --trust`), a
    paused room denies the shell but not the room's own mcp_caucus_* tools;
    AfterAgent continues with a message that arrives during its wait, and
    again after; no hook's stderr reaches the user."""
    w.setup("gemini", "--trust")
    gemini_user(w)
    bob = w.hub.register("bob")
    w.model.script(room_plan(w, tool("shell", command="touch paused.txt"),
                             after=[tool("shell", command="touch resumed.txt")]))
    gemini(w, "join the caucus room")
    said = conversation(w, "epsilon", bob)
    assert said == ["hello bob"], said
    assert not os.path.exists(os.path.join(w.repo, "paused.txt")), "the pause let the shell run"
    assert os.path.exists(os.path.join(w.repo, "resumed.txt")), "the shell runs once resumed"
    assert w.model.seen("paused"), "the model was told why the shell was denied"
    assert w.model.seen('"joined_as":"epsilon"'), "whoami ran while paused"
    shown = [ln for ln in (w.out + w.err).splitlines() if "caucus hook:" in ln]
    assert not shown, ("a hook's stderr reached the user", shown)


def doctor(w):
    r = subprocess.run([BIN, "doctor"], cwd=w.repo, env=w.env(), capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout


def doctor_trust(w):
    """`caucus doctor` reads each host's own record of the user's trust as
    the real host writes it: untrusted before, trusted after (Codex's hook
    hashes come from its own app-server, as its /hooks screen writes them)."""
    for host in ("claude", "codex", "gemini"):
        w.setup(host)
    code, out = doctor(w)
    assert code == 1, out
    for finding in ("Claude Code has not trusted", "Codex does not trust",
                    "Codex has not trusted the caucus hooks", "Gemini CLI has not trusted"):
        assert finding in out, (finding, out)
    assert all(h["trustStatus"] != "trusted" for h in codex_hooks(w)), "Codex agrees: untrusted"
    claude_user(w, allow_bash=False)
    codex_user(w)
    gemini_user(w)
    code, out = doctor(w)
    for ok in ("Claude Code trusts", "Codex trusts " + w.repo, "Codex trusts the caucus hooks",
               "Gemini CLI trusts"):
        assert f"ok  {ok}" in out, (ok, out)
    # Claude Code records the server's approval only in an interactive
    # start: the one finding left, with its step.
    assert out.count("fix ") == 1 and "has not approved" in out, out


@contextlib.contextmanager
def codex_daemon(w):
    """A repository wired for Codex, the user's one-time steps done, and
    Codex's app-server daemon running for the scenario; yields the env."""
    w.setup("codex")
    codex_user(w)
    env = codex_env(w)
    codex = os.path.join(HOSTS, "codex")
    started = subprocess.run([codex, "app-server", "daemon", "start"], env=env, cwd=w.repo,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    watchers = []
    try:
        yield env, watchers
    finally:
        for watcher in watchers:
            watcher.kill()
            watcher.wait()
        subprocess.run([codex, "app-server", "daemon", "stop"], env=env, cwd=w.repo,
                       capture_output=True, timeout=120)


def push_watcher(w, env, watchers, token, thread):
    """`caucus watch --push codex` as a command inside that thread runs it."""
    watcher = subprocess.Popen(
        [BIN, "watch", "--push", "codex", "--token", token],
        env=dict(env, CODEX_THREAD_ID=thread, CODEX_HOME=os.path.join(w.home, ".codex")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchers.append(watcher)
    return watcher


def daemon_client(w):
    return AppServer(os.path.join(w.home, ".codex", "app-server-control", "app-server-control.sock"))


def codex_push(w):
    """Codex push through the app-server daemon: a session lives on the
    daemon, `caucus watch --push codex` runs as a command inside it would
    (CODEX_THREAD_ID), a message starts a turn in the idle session, and a
    message that arrives while a turn runs waits for the turn to end and
    starts a turn of its own (never a second user message inside one)."""
    with codex_daemon(w) as (env, watchers):
        daemon = daemon_client(w)
        thread = daemon.call("thread/start", {"cwd": w.repo})["thread"]["id"]
        token = w.hub.register("eta")
        bob = w.hub.register("bob")
        # The first turn runs a command that lasts until the test lets it
        # end: the session is busy in a tool, not waiting on the model.
        started, released = (os.path.join(w.repo, f) for f in ("started", "released"))
        w.model.script([
            tool("shell", command="touch started; for i in $(seq 2400); do "
                                  "[ -e released ] && break; sleep 0.05; done"),
            {"text": "turn one"},
            {"text": "turn two"},
        ])
        watcher = push_watcher(w, env, watchers, token, thread)
        w.wait("the watcher to listen", lambda: w.listening("eta"))
        w.hub.post("/send", {"token": bob, "to": "eta", "content": "first news"})
        w.wait("a turn with the first message", lambda: w.model.seen("first news"))
        w.wait("the turn's command to run", lambda: os.path.exists(started))
        assert daemon.call("thread/read", {"threadId": thread})["thread"]["status"]["type"] == "active"
        w.wait("the watcher to listen again", lambda: w.listening("eta"))
        w.hub.post("/send", {"token": bob, "to": "eta", "content": "second news"})
        # The watcher took it and holds it while the turn runs.
        w.wait("the watcher to take the second message", lambda: not w.listening("eta"))
        assert not w.model.seen("second news"), "pushed into a running turn"
        open(released, "w").close()
        w.wait("a turn with the second message", lambda: w.model.seen("second news"))
        w.wait("the second turn to end", lambda: daemon.call(
            "thread/read", {"threadId": thread})["thread"]["status"]["type"] == "idle")
        turns = daemon.call("thread/read", {"threadId": thread, "includeTurns": True})["thread"]["turns"]
        inputs = [json.dumps([i for i in t.get("items", []) if i.get("type") == "userMessage"])
                  for t in turns]
        assert len(turns) == 2, inputs
        assert "first news" in inputs[0] and "second news" not in inputs[0], inputs
        assert "second news" in inputs[1], inputs
        assert watcher.poll() is None, "the watcher keeps watching in push mode"
        daemon.close()


def codex_tui_push(w):
    """The same through an interactive Codex TUI (which runs on the shared
    daemon when one is up), driven in tmux: a message for the agent while
    its turn runs a command is held, then starts a turn of its own."""
    if shutil.which("tmux") is None:
        raise AssertionError("tmux is needed to drive the Codex TUI")
    session = f"caucus-{os.getpid()}"
    with codex_daemon(w) as (env, watchers):
        try:
            codex_tui_turn(w, env, watchers, session)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def codex_tui_turn(w, env, watchers, session):
    w.model.script([
        tool("shell", command="echo $CODEX_THREAD_ID > tid; touch started; "
                              "for i in $(seq 2400); do [ -e released ] && break; sleep 0.05; done"),
        {"text": "turn one"},
        {"text": "turn two"},
    ])
    keep = ("HOME", "PATH", "STANDIN_KEY", "CAUCUS_HUB_URL", "TERM")
    exports = " ".join(f"{k}={json.dumps(env[k])}" for k in keep if k in env)
    codex = os.path.join(HOSTS, "codex")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                    f"cd {json.dumps(w.repo)} && env {exports} {json.dumps(codex)}"], check=True)

    def screen():
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True).stdout

    w.wait("the TUI to be ready", lambda: "Ask Codex" in screen(), seconds=60)
    subprocess.run(["tmux", "send-keys", "-t", session, "-l", "start the work"], check=True)
    w.wait("the words in the composer", lambda: "start the work" in screen(), seconds=30)
    subprocess.run(["tmux", "send-keys", "-t", session, "C-m"], check=True)
    w.wait("the turn's command to run", lambda: os.path.exists(os.path.join(w.repo, "started"))
           and os.path.exists(os.path.join(w.repo, "tid")), seconds=60)
    thread = open(os.path.join(w.repo, "tid")).read().strip()
    daemon = daemon_client(w)
    assert daemon.call("thread/read", {"threadId": thread})["thread"]["status"]["type"] == "active"
    token = w.hub.register("theta")
    bob = w.hub.register("bob")
    push_watcher(w, env, watchers, token, thread)
    w.wait("the watcher to listen", lambda: w.listening("theta"), seconds=60)
    w.hub.post("/send", {"token": bob, "to": "theta", "content": "news during the turn"})
    w.wait("the watcher to take it", lambda: not w.listening("theta"), seconds=60)
    assert not w.model.seen("news during the turn"), "pushed into the running turn"
    open(os.path.join(w.repo, "released"), "w").close()
    w.wait("a turn of its own", lambda: w.model.seen("news during the turn"), seconds=120)
    assert "news during the turn" not in "".join(t[1] for t in w.model.turns[:2]), \
        "the message reached the first turn"
    daemon.close()


def runtime_seats(w):
    """`caucus agent --runtime` with each real CLI headless: the room's
    message reaches the model through the CLI, the CLI's JSON answer is the
    reply, and Claude Code resumes its session for the conversation's
    second turn."""
    claude_user(w, allow_bash=False)
    codex_user(w)
    gemini_user(w)
    bob = w.hub.register("bob")
    path = HOSTS + os.pathsep + os.environ["PATH"]
    envs = {
        "claude": claude_env(w),
        "codex": codex_env(w),
        "gemini": w.env(GEMINI_API_KEY="stand-in", GOOGLE_GEMINI_BASE_URL=w.model.url),
    }
    for runtime, env in envs.items():
        seat = f"{runtime}-seat"
        env = dict(env, PATH=path)
        w.model.script([{"text": f"first answer from {runtime}"},
                        {"text": f"second answer from {runtime}"}])
        proc = subprocess.Popen([BIN, "agent", "--name", seat, "--runtime", runtime,
                                 "--max-replies", "2", "--exec-timeout", "120"],
                                cwd=w.repo, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            w.wait(f"{seat} to listen", lambda: w.listening(seat))
            said = []
            for n, question in enumerate(["what is two and two?", "and three and three?"]):
                w.hub.post("/send", {"token": bob, "to": seat, "content": question})
                w.wait(f"{seat}'s answer {n + 1}", lambda: said.extend(
                    m["content"] for m in w.receive(bob) if m["sender"] == seat) or len(said) > n)
            assert said == [f"first answer from {runtime}", f"second answer from {runtime}"], said
            assert w.model.seen("what is two and two?"), "the CLI showed the model the message"
            if runtime == "claude":
                # The second turn resumed the first session: the model was
                # shown the first answer again, as the session's history.
                assert w.model.in_history("first answer from claude"), "no --resume"
            _, err = proc.communicate(timeout=RUN_LIMIT)
            assert proc.returncode == 0, err
            assert "tokens in" in err, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def launched_seat(w):
    """The chair's launcher with a real CLI: a hub whose environment is the
    user's (the temporary HOME, the provider's base URL) starts a claude
    seat on POST /agents; it answers through Claude Code, is listed, and
    stops on DELETE, leaving the room."""
    claude_user(w, allow_bash=False)
    env = dict(claude_env(w), PATH=HOSTS + os.pathsep + os.environ["PATH"],
               CAUCUS_STATE_DIR=state_dir())
    hub = start_ours(BIN, env=env)
    try:
        bob = hub.register("bob")
        w.model.script([{"text": "answer from a launched seat"}])
        status, seat = hub.post("/agents", {"name": "launched", "runtime": "claude",
                                            "cwd": w.repo})
        assert status == 200, seat
        hub.wait_listening("launched")
        hub.post("/send", {"token": bob, "to": "launched", "content": "are you there?"})
        said = []
        hub.wait("the seat's answer", lambda: said.extend(
            m["content"] for m in hub.call("GET", "/receive?timeout=0", headers={
                "Authorization": f"Bearer {bob}"})[1]["messages"]
            if m["sender"] == "launched") or said, seconds=RUN_LIMIT)
        assert said == ["answer from a launched seat"], said
        assert w.model.seen("are you there?")
        status, listed = hub.call("GET", "/agents")
        assert status == 200 and listed["agents"][0]["state"] == "running", listed
        assert any("tokens in" in line for line in listed["agents"][0]["output"]), listed
        status, _ = hub.call("DELETE", "/agents/launched")
        assert status == 200
        hub.wait("the seat to stop", lambda: hub.call("GET", "/agents")[1]["agents"][0]["state"]
                 == "stopped", seconds=30)
        assert "launched" not in hub.get("/peers")[1]["peers"]
    finally:
        hub.stop()


SCENARIOS = {
    "claude-room": ("alpha", claude_room),
    "claude-approval": ("beta", claude_approval_and_interrupt),
    "claude-channel": ("gamma", claude_channel),
    "codex-room": ("delta", codex_room),
    "gemini-room": ("epsilon", gemini_room),
    "doctor": ("zeta", doctor_trust),
    "codex-push": ("eta", codex_push),
    "codex-tui-push": ("theta", codex_tui_push),
    "runtime-seats": ("iota", runtime_seats),
    "launched-seat": ("kappa", launched_seat),
}


def main():
    if BIN is None:
        sys.exit("usage: run.py CAUCUS_BINARY [SCENARIO...]")
    wanted = sys.argv[2:] or list(SCENARIOS)
    passed = failed = 0
    for name in wanted:
        repo, scenario = SCENARIOS[name]
        w = World(name, repo)
        started = time.monotonic()
        try:
            scenario(w)
            passed += 1
            print(f"ok   {name} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported the same way
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
            w.report()
        finally:
            w.close()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
