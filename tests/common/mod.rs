//! Shared test helpers: start the real `caucus` binary on an ephemeral
//! loopback port and talk to it over real sockets, as a client would.
//!
//! The HTTP client here is deliberately raw (a `TcpStream`, one request per
//! connection) so tests can also send what no well-behaved client would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_caucus");

/// The clients' state folder for this test process (`CAUCUS_STATE_DIR`):
/// every client a test starts shares it, as processes of one user on one
/// machine do, and none touches the real user's.
pub fn state_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("state-{}", std::process::id()))
}

/// `caucus` with the test process's state folder.
pub fn caucus() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("CAUCUS_STATE_DIR", state_dir());
    cmd
}

/// A running hub, stopped when dropped.
pub struct Hub {
    child: Child,
    pub addr: String,
    operator: Option<String>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Hub {
    /// Starts `caucus hub` with `extra` flags on a free port.
    pub fn start(extra: &[&str]) -> Hub {
        Hub::start_with_env(extra, &[])
    }

    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Hub {
        Hub::start_with(extra, env, Stdio::inherit())
    }

    /// Starts a hub whose stderr is a pipe this test never reads.
    pub fn start_with_stderr_unread(extra: &[&str]) -> Hub {
        Hub::start_with(extra, &[], Stdio::piped())
    }

    fn start_with(extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Hub {
        let mut cmd = caucus();
        cmd.args(["hub", "--port", "0", "--no-browser", "--log-level", "warn"])
            .args(extra)
            .env_remove("CAUCUS_OPERATOR_TOKEN")
            .env_remove("CAUCUS_OBSERVER_TOKEN")
            .env_remove("CAUCUS_LOG_FILE")
            .env_remove("CAUCUS_ALLOWED_ORIGINS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start caucus hub");
        let stdout = child.stdout.take().expect("hub stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the hub's first line");
        let addr = line
            .trim()
            .strip_prefix("caucus hub listening on http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        // The chair's token: the one given, none with --no-auth, else the
        // one the hub made and kept for its port (sent on operator paths).
        let given = extra
            .iter()
            .position(|a| *a == "--operator-token")
            .and_then(|i| extra.get(i + 1));
        let kept = if given.is_some() || extra.contains(&"--no-auth") {
            None
        } else {
            let port = addr.rsplit(':').next().unwrap_or_default();
            std::fs::read_to_string(state_dir().join("operator").join(format!("{port}.token")))
                .ok()
                .map(|t| t.trim().to_string())
        };
        Hub {
            child,
            addr,
            operator: kept,
        }
    }

    /// The operator token the hub made (auth by default), if it made one.
    pub fn operator(&self) -> Option<&str> {
        self.operator.as_deref()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends raw bytes and reads the whole answer.
    pub fn raw(&self, request: &[u8]) -> Resp {
        let mut s = TcpStream::connect(&self.addr).expect("connect to the hub");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(request).expect("write request");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("read answer");
        parse(&buf)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        // The chair's own paths carry the token the hub made, as the
        // console and `caucus control` do, unless the test sends its own.
        let chair = ["/control", "/export", "/search", "/ui/ticket"]
            .iter()
            .any(|p| path.starts_with(p))
            || (method == "GET" && path.starts_with("/approvals"));
        if chair
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("Authorization"))
            && let Some(op) = &self.operator
        {
            req.push_str(&format!("Authorization: Bearer {op}\r\n"));
        }
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        self.request("POST", path, &[], body.to_string().as_bytes())
    }

    /// `POST /control` as the chair: with the token the hub made, or none
    /// when the test gave one (or `--no-auth`).
    pub fn control(&self, body: Value) -> Resp {
        self.post("/control", body)
    }

    /// Spends this address's registration bucket with fresh names, as a
    /// flooding local process would, until the hub answers 429.
    pub fn drain_registrations(&self) {
        let drained = (0..40).any(|i| {
            self.post("/register", json!({"project": format!("flood{i}")}))
                .status
                == 429
        });
        assert!(drained, "the registration bucket never ran dry");
    }

    /// Registers `name` and returns the agent; panics unless it is a 200.
    pub fn join(&self, name: &str) -> Agent<'_> {
        let r = self.post("/register", json!({"project": name, "protocol_version": 2}));
        assert_eq!(r.status, 200, "register {name}: {}", r.text);
        Agent {
            hub: self,
            name: name.to_string(),
            token: r.json()["token"].as_str().unwrap().to_string(),
        }
    }

    pub fn peers(&self) -> Vec<String> {
        serde_json::from_value(self.get("/peers").json()["peers"].clone()).unwrap()
    }

    pub fn ping(&self, peer: &str) -> Value {
        self.get(&format!("/ping?peer={peer}")).json()
    }

    /// Waits, up to 30 s, until `/ping` says `peer` matches `pred`.
    pub fn wait_for_peer(&self, peer: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let p = self.ping(peer);
            if pred(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "{peer} never matched: {p}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The room's log as `/export` gives it.
    pub fn log(&self) -> Vec<Value> {
        let r = self.get("/export?format=json");
        assert_eq!(r.status, 200);
        r.json()["messages"].as_array().unwrap().clone()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registered peer.
pub struct Agent<'h> {
    pub hub: &'h Hub,
    pub name: String,
    pub token: String,
}

impl Agent<'_> {
    pub fn say(&self, to: &str, content: &str) -> Resp {
        self.hub.post(
            "/send",
            json!({"token": self.token, "to": to, "content": content}),
        )
    }

    /// `GET /receive` with the bearer header.
    pub fn receive_raw(&self, query: &str) -> Resp {
        let auth = format!("Bearer {}", self.token);
        self.hub.request(
            "GET",
            &format!("/receive?{query}"),
            &[("Authorization", &auth)],
            b"",
        )
    }

    /// Polls once (timeout in seconds) and returns the messages.
    pub fn receive(&self, timeout: f64) -> Vec<Value> {
        let r = self.receive_raw(&format!("timeout={timeout}"));
        assert_eq!(r.status, 200, "receive: {}", r.text);
        r.json()["messages"].as_array().unwrap().clone()
    }

    /// Polls and returns the chat messages only (no hub notices).
    pub fn chat(&self, timeout: f64) -> Vec<Value> {
        self.receive(timeout)
            .into_iter()
            .filter(|m| m["kind"] == "message")
            .collect()
    }

    pub fn ack(&self, seq: u64) -> Resp {
        self.hub
            .post("/ack", json!({"token": self.token, "seq": seq}))
    }

    pub fn floor(&self, action: &str, scope: &str) -> Value {
        let r = self.hub.post(
            "/floor",
            json!({"token": self.token, "action": action, "scope": scope, "reason": "urgent"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    pub fn post(&self, path: &str, mut body: Value) -> Resp {
        body["token"] = json!(self.token);
        self.hub.post(path, body)
    }
}

fn parse(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        text: String::from_utf8(body).expect("UTF-8 body"),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 4 + size..];
    }
}

/// A running `caucus bridge`, driven over its real stdin and stdout.
pub struct Bridge {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    next_id: u64,
}

impl Bridge {
    /// Starts a bridge for `project` against `hub_url`.
    pub fn start(hub_url: &str, project: &str) -> Bridge {
        Bridge::start_with(hub_url, &[("CAUCUS_PROJECT", project)], None)
    }

    pub fn start_with(
        hub_url: &str,
        env: &[(&str, &str)],
        cwd: Option<&std::path::Path>,
    ) -> Bridge {
        let mut cmd = caucus();
        cmd.arg("bridge")
            .env("CAUCUS_HUB_URL", hub_url)
            .env_remove("CAUCUS_PROJECT")
            .env_remove("CAUCUS_ALLOW_REMOTE_HUB")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        Bridge::spawn(cmd)
    }

    /// Starts a bridge from a command made by the test (as a host would
    /// run it from its configuration); stdin and stdout are the test's.
    pub fn spawn(mut cmd: Command) -> Bridge {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("start caucus bridge");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("bridge stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bridge {
            child,
            stdin,
            lines: rx,
            next_id: 1000,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one raw line.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to bridge");
        stdin.flush().expect("flush bridge stdin");
    }

    pub fn send(&mut self, msg: &Value) {
        self.send_line(&msg.to_string());
    }

    /// The next line the bridge writes, parsed (waits at most 60 s).
    pub fn recv(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a line from the bridge");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("bridge wrote non-JSON ({e}): {line}"))
    }

    /// Sends a request and returns the response with the same id, failing on
    /// any other line in between.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let resp = self.recv();
        assert_eq!(resp["id"], id, "unexpected line: {resp}");
        resp
    }

    /// The legacy handshake at `version`; returns the initialize result.
    pub fn initialize(&mut self, version: &str) -> Value {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": version, "capabilities": {},
                   "clientInfo": {"name": "tests", "version": "1"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        r["result"].clone()
    }

    /// Calls a tool and returns its structured result. The text the model
    /// reads is that JSON, but for what `listen` heard (compact lines).
    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        self.call_with_text(tool, args).0
    }

    /// Calls a tool: its structured result and the text the model reads.
    pub fn call_with_text(&mut self, tool: &str, args: Value) -> (Value, String) {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let result = &r["result"];
        assert!(result.is_object(), "tools/call {tool} failed: {r}");
        let text = result["content"][0]["text"].as_str().expect("text content");
        let structured = result["structuredContent"].clone();
        if tool != "listen" || structured.get("error").is_some() {
            assert_eq!(serde_json::from_str::<Value>(text).unwrap(), structured);
        }
        (structured, text.to_string())
    }

    /// Handshake, setup and join as the bridge's project.
    pub fn join(&mut self) -> Value {
        self.initialize("2025-06-18");
        assert_eq!(self.call("setup", json!({}))["ready"], true);
        let j = self.call("join", json!({}));
        assert_eq!(j["joined"], true, "{j}");
        j
    }

    /// Closes stdin and waits (up to 30 s) for the process to exit.
    pub fn close(&mut self) -> std::process::ExitStatus {
        self.stdin = None;
        self.wait_exit()
    }

    /// Sends `signal` to the bridge and waits (up to 30 s) for it to exit.
    #[cfg(unix)]
    pub fn signal(&mut self, signal: i32) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        // SAFETY: kill only sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        self.wait_exit()
    }

    /// Ends the bridge with SIGKILL: it has no chance to leave.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (up to 30 s) for the process to exit.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for bridge") {
                return status;
            }
            assert!(Instant::now() < deadline, "the bridge did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A loopback URL where nothing listens.
pub fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A console feed client: the `/ui` WebSocket, read one event at a time.
pub struct Feed {
    ws: tungstenite::WebSocket<TcpStream>,
}

impl Feed {
    /// Opens `/ui` (with `?query` when given) and an optional `Origin`.
    /// With no query on a hub that made its own token, the chair's ticket
    /// is fetched first, as the page does.
    pub fn open(hub: &Hub, query: &str, origin: Option<&str>) -> Result<Feed, tungstenite::Error> {
        use tungstenite::client::IntoClientRequest;
        let query = match (query, hub.operator()) {
            ("", Some(_)) => {
                let t = hub.request("POST", "/ui/ticket", &[], b"").json();
                format!("?ticket={}", t["ticket"].as_str().unwrap_or_default())
            }
            _ => query.to_string(),
        };
        let url = format!("ws://{}/ui{}", hub.addr, query);
        let mut request = url.into_client_request()?;
        if let Some(o) = origin {
            request
                .headers_mut()
                .insert("Origin", o.parse().expect("header value"));
        }
        let stream = TcpStream::connect(&hub.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (ws, _) = tungstenite::client(request, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking socket interrupted"),
        })?;
        Ok(Feed { ws })
    }

    /// The next event (a text frame), parsed.
    pub fn next(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read a frame") {
                tungstenite::Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("JSON event");
                }
                tungstenite::Message::Close(c) => panic!("closed: {c:?}"),
                _ => {}
            }
        }
    }

    /// Reads events until one of type `kind` matches `pred` (at most 500).
    pub fn until(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let ev = self.next();
            if ev["type"] == kind && pred(&ev) {
                return ev;
            }
        }
        panic!("no {kind} event matched");
    }

    /// The close frame's code, after reading whatever comes before it.
    pub fn close_code(&mut self) -> Option<u16> {
        for _ in 0..10 {
            match self.ws.read() {
                Ok(tungstenite::Message::Close(c)) => return c.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Sends a request and reads lines until its answer, returning the answer
/// and the notifications that came before it.
pub fn request_between(
    b: &mut Bridge,
    id: u64,
    method: &str,
    params: Value,
) -> (Value, Vec<Value>) {
    b.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    let mut pushed = Vec::new();
    loop {
        let line = b.recv();
        if line["id"] == id {
            return (line, pushed);
        }
        assert!(
            line.get("id").is_none(),
            "an answer to something else: {line}"
        );
        pushed.push(line);
    }
}

pub fn tool_between(b: &mut Bridge, id: u64, name: &str, args: Value) -> (Value, Vec<Value>) {
    let (r, pushed) = request_between(
        b,
        id,
        "tools/call",
        json!({"name": name, "arguments": args}),
    );
    (r["result"]["structuredContent"].clone(), pushed)
}

/// The next line, which must be a channel push.
pub fn next_push(b: &mut Bridge) -> Value {
    let line = b.recv();
    assert_eq!(line["method"], "notifications/claude/channel", "{line}");
    for (k, v) in line["params"]["meta"].as_object().unwrap() {
        assert!(
            k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "meta key {k}"
        );
        assert!(v.is_string(), "meta {k} is not a string: {line}");
    }
    line["params"].clone()
}

/// Joins a bridge started with `--channel` (after its handshake and
/// setup) and returns the code of the probe it pushes.
pub fn join_and_read_probe(b: &mut Bridge, id: u64) -> String {
    let (joined, mut pushed) = tool_between(b, id, "join", json!({}));
    assert_eq!(joined["joined"], true, "{joined}");
    if pushed.is_empty() {
        pushed.push(json!({"params": next_push(b)}));
    }
    let probe = &pushed[0]["params"];
    assert_eq!(probe["meta"]["kind"], "probe", "{probe}");
    let text = probe["content"].as_str().expect("probe text");
    let code = text.split("probe=\"").nth(1).expect("a probe code");
    code.split('"').next().expect("a closed code").to_string()
}

/// A folder of stand-in CLIs (`claude`, `codex`, `gemini`) that print what
/// the real ones print in their JSON mode, and a folder where they keep
/// what they were given.
#[cfg(unix)]
pub fn standins(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("standins-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (bin, log) = (root.join("bin"), root.join("log"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&log).unwrap();
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/standin-cli.sh"),
    )
    .unwrap();
    for name in ["claude", "codex", "gemini"] {
        let path = bin.join(name);
        std::fs::write(&path, &script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (bin, log)
}
