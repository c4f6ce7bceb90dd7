"""A scripted stand-in for the three model APIs the real hosts call.

One loopback HTTP server speaks the slice of each provider's API that its
host uses, so that Claude Code, Codex and Gemini CLI run their real MCP
clients, hooks and tools with no model at all:

- Anthropic Messages (`POST /v1/messages`, streamed as server-sent events):
  Claude Code, through `ANTHROPIC_BASE_URL`;
- OpenAI Responses (`POST /v1/responses`, streamed): Codex, through a
  `model_providers` entry whose `base_url` points here;
- Gemini (`POST /v1beta/models/M:streamGenerateContent` and
  `:generateContent`): Gemini CLI, through `GOOGLE_GEMINI_BASE_URL`.

A turn of the conversation (a request that offers tools) takes the next
step of the plan: a tool call or a text answer. A step names its tool by
candidates (`["mcp__caucus__join", "mcp_caucus_join"]`, or the shell tool
of each host) and the first one the request offers is called. When the
plan is spent the model answers "done". Requests that offer no tools (a
title, a classifier, a quota probe) get a short answer and take no step.

Every turn is recorded (what the host sent back: tool results, the
user's words), so a test can assert what the model was shown.
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHELL = {
    "claude": "Bash",
    "codex": ("shell", "exec_command", "shell_command", "local_shell"),
    "gemini": "run_shell_command",
}


class Model:
    def __init__(self):
        self.lock = threading.Condition()
        self.plan = []
        self.turns = []  # (provider, text the host sent back, tool names offered)
        self.histories = []  # each Anthropic request's whole conversation, as JSON
        self.requests = []  # (method, path)
        self.bodies = []  # (path, JSON body), for a failing test's report
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def script(self, steps):
        """Replaces the plan: each step is {"tool": [names...], "args": {...}},
        {"text": "..."}, or {"call": fn}, run before the next step is taken."""
        with self.lock:
            self.plan = list(steps)
            self.turns = []
            self.histories = []

    def wait_turns(self, n, timeout):
        """Waits until at least n turns were taken; returns them."""
        with self.lock:
            self.lock.wait_for(lambda: len(self.turns) >= n, timeout)
            return list(self.turns)

    def seen(self, needle):
        """Whether any turn showed the model `needle`."""
        with self.lock:
            return any(needle in t[1] for t in self.turns)

    def in_history(self, needle):
        """Whether a request carried `needle` anywhere in its conversation,
        the model's own earlier answers included (a resumed session)."""
        with self.lock:
            return any(needle in h for h in self.histories)

    def transcript(self):
        with self.lock:
            return "\n---\n".join(f"[{p}] {t}" for p, t, _ in self.turns)

    # --- one turn -------------------------------------------------------

    def _next(self, provider, seen_text, offered):
        """The step for a turn that offers `offered` tools."""
        with self.lock:
            self.turns.append((provider, seen_text, offered))
            self.lock.notify_all()
            while self.plan:
                step = self.plan.pop(0)
                if "call" in step:
                    # A test's action between two turns (pause the room,
                    # send a message): it runs before the model answers.
                    self.lock.release()
                    try:
                        step["call"]()
                    finally:
                        self.lock.acquire()
                    continue
                if "text" in step:
                    return None, None, step["text"]
                names = step["tool"]
                if isinstance(names, str):
                    names = [names]
                if names == ["shell"]:
                    names = SHELL[provider]
                    names = [names] if isinstance(names, str) else list(names)
                for name in names:
                    if name in offered:
                        return name, shell_args(provider, name, step.get("args", {})), None
                # Claude Code defers MCP tools behind ToolSearch: load them
                # first, as a model does, then take the step.
                wanted = [n for n in names if n.startswith("mcp__")]
                if "ToolSearch" in offered and wanted and not step.get("searched"):
                    self.plan.insert(0, dict(step, searched=True))
                    return "ToolSearch", {"query": "select:" + ",".join(wanted), "max_results": 5}, None
                # Not offered here: say so to the test through the transcript.
                self.turns.append((provider, f"NOT OFFERED: {names} among {sorted(offered)}", offered))
                self.lock.notify_all()
            return None, None, "done"

    def _handler(self):
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                if self.headers.get("content-encoding") == "zstd":
                    return None
                try:
                    return json.loads(raw or b"{}")
                except ValueError:
                    return None

            def _json(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                for name, data in events:
                    chunk = ""
                    if name:
                        chunk += f"event: {name}\n"
                    chunk += f"data: {json.dumps(data)}\n\n"
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
                self.close_connection = True

            def do_GET(self):
                with model.lock:
                    model.requests.append(("GET", self.path))
                if self.path.startswith("/v1/models") or "/models" in self.path:
                    return self._json(200, {"data": [], "models": []})
                self._json(404, {"error": {"message": "not here"}})

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self):
                path = self.path.split("?")[0]
                with model.lock:
                    model.requests.append(("POST", self.path))
                body = self._body()
                with model.lock:
                    model.bodies.append((self.path, body))
                if body is None:
                    return self._json(400, {"error": {"message": "unreadable body"}})
                if path.endswith("/v1/messages/count_tokens"):
                    return self._json(200, {"input_tokens": 100})
                if path.endswith("/v1/messages"):
                    return self._anthropic(body)
                if path.endswith("/responses"):
                    return self._openai(body)
                m = re.search(r"/models/([^/:]+):(\w+)$", path)
                if m:
                    return self._gemini(body, m.group(2))
                self._json(404, {"error": {"message": f"no {path} here"}})

            # Anthropic Messages ------------------------------------------
            def _anthropic(self, body):
                tools = [t.get("name") for t in body.get("tools") or []]
                if not tools:
                    name, args, text = None, None, "ok"
                else:
                    seen = anthropic_seen(body.get("messages") or [])
                    with model.lock:
                        model.histories.append(json.dumps(body.get("messages") or []))
                    name, args, text = model._next("claude", seen, tools)
                usage = {"input_tokens": 12, "output_tokens": 3,
                         "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
                msg = {"id": "msg_stand_in", "type": "message", "role": "assistant",
                       "model": body.get("model", "stand-in"), "content": [],
                       "stop_reason": None, "stop_sequence": None, "usage": usage}
                if name:
                    block = {"type": "tool_use", "id": f"toolu_{abs(hash((name, json.dumps(args)))) % 10**12}",
                             "name": name, "input": {}}
                    delta = {"type": "input_json_delta", "partial_json": json.dumps(args)}
                    stop = "tool_use"
                else:
                    block = {"type": "text", "text": ""}
                    delta = {"type": "text_delta", "text": text}
                    stop = "end_turn"
                if not body.get("stream"):
                    content = dict(block)
                    if name:
                        content["input"] = args
                    else:
                        content["text"] = text
                    msg.update(content=[content], stop_reason=stop)
                    return self._json(200, msg)
                self._sse([
                    ("message_start", {"type": "message_start", "message": msg}),
                    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                       "usage": {"output_tokens": 3}}),
                    ("message_stop", {"type": "message_stop"}),
                ])

            # OpenAI Responses --------------------------------------------
            def _openai(self, body):
                tools = []
                for t in body.get("tools") or []:
                    if t.get("type") == "function":
                        tools.append(t.get("name"))
                    elif t.get("type") == "namespace":
                        # Codex groups an MCP server's tools in a namespace.
                        for inner in t.get("tools") or []:
                            tools.append(f"{t.get('name')}__{inner.get('name')}")
                    elif t.get("type"):
                        tools.append(t.get("type"))
                if not tools:
                    name, args, text = None, None, "ok"
                else:
                    seen = openai_seen(body.get("input") or [])
                    name, args, text = model._next("codex", seen, tools)
                rid = "resp_stand_in"
                if name:
                    item = {"type": "function_call", "name": name, "arguments": json.dumps(args),
                            "call_id": f"call_{len(model.turns)}", "id": f"fc_{len(model.turns)}",
                            "status": "completed"}
                    # A namespaced tool (an MCP server's) is called by its
                    # own name within the namespace.
                    if name.startswith("mcp__") and name.count("__") >= 2:
                        namespace, inner = name.rsplit("__", 1)
                        item.update(name=inner, namespace=namespace)
                else:
                    item = {"type": "message", "role": "assistant", "id": f"msg_{len(model.turns)}",
                            "status": "completed",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}
                usage = {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
                         "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0},
                         "total_tokens": 15}
                self._sse([
                    ("response.created", {"type": "response.created", "response": {"id": rid}}),
                    ("response.output_item.added", {"type": "response.output_item.added",
                                                    "output_index": 0, "item": item}),
                    ("response.output_item.done", {"type": "response.output_item.done",
                                                   "output_index": 0, "item": item}),
                    ("response.completed", {"type": "response.completed",
                                            "response": {"id": rid, "usage": usage, "output": [item]}}),
                ])

            # Gemini --------------------------------------------------------
            def _gemini(self, body, verb):
                if verb == "countTokens":
                    return self._json(200, {"totalTokens": 100})
                tools = []
                for t in body.get("tools") or []:
                    for f in t.get("functionDeclarations") or []:
                        tools.append(f.get("name"))
                config = body.get("generationConfig") or {}
                if not tools:
                    name, args = None, None
                    if config.get("responseMimeType") == "application/json":
                        text = json.dumps(gemini_json_answer(body))
                    else:
                        text = "ok"
                else:
                    seen = gemini_seen(body.get("contents") or [])
                    name, args, text = model._next("gemini", seen, tools)
                part = {"functionCall": {"name": name, "args": args}} if name else {"text": text}
                answer = {"candidates": [{"content": {"role": "model", "parts": [part]},
                                          "finishReason": "STOP", "index": 0}],
                          "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3,
                                            "totalTokenCount": 15},
                          "modelVersion": "stand-in"}
                if verb == "streamGenerateContent":
                    return self._sse([(None, answer)])
                self._json(200, answer)

        return Handler


def shell_args(provider, name, args):
    """A step's arguments, shaped for the host's shell tool when it is one."""
    if "command" not in args or not isinstance(args["command"], str):
        return args
    if provider == "codex" and name in ("shell", "local_shell"):
        return {"command": ["bash", "-lc", args["command"]], **{k: v for k, v in args.items() if k != "command"}}
    if provider == "codex" and name in ("exec_command",):
        return {"cmd": args["command"]}
    return args


def _text_of(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text_of(v) for v in value)
    if isinstance(value, dict):
        for key in ("text", "content", "output", "result", "response"):
            if key in value:
                return _text_of(value[key])
        return json.dumps(value)
    return "" if value is None else str(value)


def anthropic_seen(messages):
    """What the host sent since the model last spoke."""
    out = []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        out.append(_text_of(m.get("content")))
    return "\n".join(reversed(out))


def openai_seen(items):
    out = []
    for it in reversed(items):
        if it.get("type") in ("function_call",) or it.get("role") == "assistant":
            break
        if it.get("type") == "function_call_output":
            out.append(_text_of(it.get("output")))
        else:
            out.append(_text_of(it.get("content")))
    return "\n".join(reversed(out))


def gemini_seen(contents):
    out = []
    for c in reversed(contents):
        if c.get("role") == "model":
            break
        for p in c.get("parts") or []:
            if "text" in p:
                out.append(p["text"])
            elif "functionResponse" in p:
                out.append(_text_of(p["functionResponse"].get("response")))
    return "\n".join(reversed(out))


def gemini_json_answer(body):
    """Gemini CLI asks small JSON questions of its own (who speaks next,
    which model to route to): the answers that end or keep a turn plain."""
    schema = json.dumps((body.get("generationConfig") or {}).get("responseJsonSchema")
                        or (body.get("generationConfig") or {}).get("responseSchema") or {})
    if "next_speaker" in schema:
        return {"reasoning": "the turn is over", "next_speaker": "user"}
    if "model_choice" in schema:
        return {"reasoning": "simple", "model_choice": "flash"}
    return {}
