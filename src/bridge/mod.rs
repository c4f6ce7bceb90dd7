//! `caucus bridge`: an MCP server over stdio, one per agent session.
//!
//! A hand-written JSON-RPC 2.0 loop: one line in, at most one line out. It
//! serves both eras of MCP (see `shared/spec/mcp.md`): the legacy handshake
//! (`initialize`, `notifications/initialized`, `ping`) and the stateless
//! 2026-07-28 revision, chosen per request by `_meta`'s protocol version.
//!
//! **Invariant:** stdout carries protocol lines only, written whole under one
//! lock; logs go to stderr. Tool calls run off the reading thread, so `ping`
//! and `notifications/cancelled` are answered while one is pending: one
//! worker runs them in the order they came (a `join` sent right after `setup`
//! sees setup done), and each `listen` gets a thread of its own so a long
//! wait never holds up a `say`. EOF on stdin lets the worker finish what it
//! was given (a few seconds at most), leaves the room, and exits.

pub mod tools;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{HubClient, check_hub_url, env_flag};
use tools::{Session, ToolCall};

/// Revisions served with the `initialize` handshake, oldest first.
pub const LEGACY_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The stateless revision, served per request.
pub const MODERN_VERSION: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_SERVER: &str = "io.modelcontextprotocol/serverInfo";
/// How long EOF waits for queued tool calls before leaving anyway.
const DRAIN: Duration = Duration::from_secs(5);
/// A line longer than this is refused unread rather than buffered.
const MAX_LINE: usize = 4 << 20;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const UNSUPPORTED_VERSION: i64 = -32022;

const INSTRUCTIONS: &str = "caucus connects you to a room of other agents supervised by a \
human. Call setup first, then join, then run the command from watch_command in the \
background so you hear replies.";

pub const HELP: &str = "\
caucus bridge: the caucus tools for an MCP host, over stdio

Usage: caucus bridge

Start it from the host's MCP configuration, for example .mcp.json:
  {\"mcpServers\": {\"caucus\": {\"command\": \"caucus\", \"args\": [\"bridge\"],
    \"env\": {\"CAUCUS_HUB_URL\": \"http://127.0.0.1:8765\"}}}}

It stays dormant until the agent calls setup, then join.

Environment:
  CAUCUS_HUB_URL           hub to use [default: http://127.0.0.1:8765]
  CAUCUS_PROJECT           name to join under [default: the working directory's name]
  CAUCUS_ALLOW_REMOTE_HUB  1 allows plain http to a host that is not loopback
  CAUCUS_LOG               log level on stderr [default: warn]
";

/// Serialised writes of whole lines to the host (stdout in production).
#[derive(Clone)]
pub struct Out(Arc<Mutex<Box<dyn Write + Send>>>);

impl Out {
    pub fn new(w: impl Write + Send + 'static) -> Out {
        Out(Arc::new(Mutex::new(Box::new(w))))
    }

    fn send(&self, msg: &Value) {
        let mut line = msg.to_string();
        line.push('\n');
        let mut w = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if w.write_all(line.as_bytes())
            .and_then(|()| w.flush())
            .is_err()
        {
            // The host closed our stdout: nobody is listening any more.
            std::process::exit(0);
        }
    }
}

/// Which era a request is served in.
#[derive(Clone, Debug, PartialEq)]
pub enum Era {
    Legacy(String),
    Modern,
}

fn server_info() -> Value {
    json!({"name": "caucus", "title": "caucus", "version": env!("CARGO_PKG_VERSION")})
}

fn supported_versions() -> Vec<&'static str> {
    let mut v = vec![MODERN_VERSION];
    v.extend(LEGACY_VERSIONS.iter().rev());
    v
}

fn error(id: &Value, code: i64, message: impl Into<String>, data: Option<Value>) -> Value {
    let mut err = json!({"code": code, "message": message.into()});
    if let Some(d) = data {
        err["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": err})
}

/// The bridge's state across requests.
pub struct Bridge {
    out: Out,
    session: Arc<Mutex<Session>>,
    /// The version `initialize` settled on, if a legacy session opened.
    legacy: Option<String>,
    /// Tool calls in flight, by request id, to cancel them.
    running: Arc<Mutex<HashMap<String, Sender<()>>>>,
    /// The worker that runs tool calls in order; `None` once stdin ended.
    worker: Option<Sender<Job>>,
    /// Over HTTP a tool call is handed back to the request's own thread
    /// (see [`Bridge::answer`]) instead of run here.
    deferred: Option<Deferred>,
    defer_tools: bool,
}

/// A tool call for the caller to run, outside the bridge's lock.
pub struct Deferred {
    pub id: Value,
    pub call: ToolCall,
    era: Era,
    cancel: mpsc::Receiver<()>,
    session: Arc<Mutex<Session>>,
    running: Arc<Mutex<HashMap<String, Sender<()>>>>,
}

impl Deferred {
    /// Runs the call; the JSON-RPC response, or `None` when it was cancelled.
    pub fn run(self) -> Option<Value> {
        let outcome = self.call.run(&self.session, &self.cancel);
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id.to_string());
        let result = outcome?;
        Some(json!({"jsonrpc": "2.0", "id": self.id, "result": decorate(result, &self.era)}))
    }
}

/// What the bridge makes of one message received over HTTP.
pub enum Answer {
    /// Respond with this (a response, or nothing for a notification).
    Now(Option<Value>),
    /// Run this tool call, then respond with what it returns.
    Later(Deferred),
}

/// A tool call queued for the worker.
struct Job {
    id: Value,
    call: ToolCall,
    era: Era,
    cancel: mpsc::Receiver<()>,
}

impl Job {
    /// Runs the call and writes its response, unless it was cancelled.
    fn run(
        self,
        session: &Arc<Mutex<Session>>,
        out: &Out,
        running: &Mutex<HashMap<String, Sender<()>>>,
    ) {
        let outcome = self.call.run(session, &self.cancel);
        running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id.to_string());
        if let Some(result) = outcome {
            out.send(
                &json!({"jsonrpc": "2.0", "id": self.id, "result": decorate(result, &self.era)}),
            );
        }
    }
}

/// Starts the worker; the returned receiver says when it has drained.
fn start_worker(
    session: Arc<Mutex<Session>>,
    out: Out,
    running: Arc<Mutex<HashMap<String, Sender<()>>>>,
) -> (Sender<Job>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel();
    let spawned = thread::Builder::new().name("tools".into()).spawn(move || {
        for job in rx {
            job.run(&session, &out, &running);
        }
        let _ = done_tx.send(());
    });
    if let Err(e) = spawned {
        log::error!("cannot start the tool worker: {e}");
    }
    (tx, done_rx)
}

pub fn main(mut args: lexopt::Parser) -> ExitCode {
    match args.next() {
        Ok(None) => {}
        Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Some(other)) => {
            eprintln!("caucus bridge: {}", other.unexpected());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("caucus bridge: {e}");
            return ExitCode::from(2);
        }
    }
    let url = std::env::var("CAUCUS_HUB_URL").unwrap_or_else(|_| "http://127.0.0.1:8765".into());
    let hub = match check_hub_url(&url, env_flag("CAUCUS_ALLOW_REMOTE_HUB")) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("caucus bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let session = Arc::new(Mutex::new(Session::new(HubClient::new(&hub))));
    // Before any other thread starts, so that every thread inherits the mask.
    leave_on_signals(Arc::clone(&session));
    let out = Out::new(std::io::stdout());
    let running = Arc::new(Mutex::new(HashMap::new()));
    let (worker, drained) = start_worker(Arc::clone(&session), out.clone(), Arc::clone(&running));
    let mut bridge = Bridge {
        out,
        session: Arc::clone(&session),
        legacy: None,
        running,
        worker: Some(worker),
        deferred: None,
        defer_tools: false,
    };
    bridge.read_all(&mut std::io::stdin().lock());
    // EOF: the host ended the session. Let the worker finish what it was
    // given, briefly, then leave the room.
    bridge.worker = None;
    let _ = drained.recv_timeout(DRAIN);
    tools::shutdown(&session);
    ExitCode::SUCCESS
}

/// Hosts end a bridge by closing its stdin, or by a signal (Codex's app
/// server sends SIGTERM; a terminal sends SIGINT or SIGHUP). Either way the
/// agent leaves the room and its token file goes, so no ghost peer stays
/// behind to collect messages nobody reads. The signals are blocked in
/// every thread and taken by one thread that waits for them, so the leave
/// runs as ordinary code, not in a signal handler.
#[cfg(unix)]
fn leave_on_signals(session: Arc<Mutex<Session>>) {
    // SAFETY: the set is initialised by sigemptyset before any other use;
    // pthread_sigmask and sigwait only read it, and it lives in the closure
    // that owns it for as long as sigwait uses it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            log::warn!("cannot take over signals: a signal will end the bridge without leaving");
            return;
        }
        let spawned = thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut signal: libc::c_int = 0;
                if libc::sigwait(&set, &mut signal) == 0 {
                    log::info!("signal {signal}: leaving the room");
                    tools::shutdown(&session);
                    std::process::exit(0);
                }
            });
        if let Err(e) = spawned {
            // Nobody would take them: let signals end the process as usual.
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            log::warn!("cannot start the signal thread: {e}");
        }
    }
}

#[cfg(not(unix))]
fn leave_on_signals(_session: Arc<Mutex<Session>>) {}

/// Serves every line of `input`, writing answers to `out`, against the hub
/// at `hub_url`, with tool calls run inline. No threads and no exit: the
/// fuzz target drives the JSON-RPC loop through this.
pub fn serve_lines(input: &[u8], out: impl Write + Send + 'static, hub_url: &str) {
    let mut bridge = Bridge {
        out: Out::new(out),
        session: Arc::new(Mutex::new(Session::new(HubClient::new(hub_url)))),
        legacy: None,
        running: Arc::new(Mutex::new(HashMap::new())),
        worker: None,
        deferred: None,
        defer_tools: false,
    };
    bridge.read_all(&mut std::io::BufReader::new(input));
}

/// Reads up to a newline, keeping at most `MAX_LINE + 1` bytes of it.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if line.len() <= MAX_LINE {
            let room = MAX_LINE + 1 - line.len();
            line.extend_from_slice(&chunk[..n.min(room)]);
        }
        total += n;
        reader.consume(n);
        if done {
            return Ok(total);
        }
    }
}

impl Bridge {
    /// A bridge for MCP over HTTP: the hub's `/mcp`, for agent `project`,
    /// talking to the hub at `hub_url`. Nothing is written anywhere: each
    /// message's answer comes back from [`Bridge::answer`].
    pub fn for_http(hub_url: &str, project: &str) -> Bridge {
        Bridge {
            out: Out::new(std::io::sink()),
            session: Arc::new(Mutex::new(Session::with_project(
                HubClient::new(hub_url),
                project,
            ))),
            legacy: None,
            running: Arc::new(Mutex::new(HashMap::new())),
            worker: None,
            deferred: None,
            defer_tools: true,
        }
    }

    /// Answers one message received over HTTP. A batch is refused: HTTP
    /// clients send one message per request.
    pub fn answer(&mut self, msg: Value) -> Answer {
        if msg.is_array() {
            return Answer::Now(Some(error(
                &Value::Null,
                INVALID_REQUEST,
                "send one JSON-RPC message per request",
                None,
            )));
        }
        let now = self.handle(msg, false);
        match self.deferred.take() {
            Some(d) => Answer::Later(d),
            None => Answer::Now(now),
        }
    }

    /// Whether the session has joined the room.
    pub fn is_joined(&self) -> bool {
        tools::is_joined(&self.session)
    }

    /// Ends the session as a host ending it would: leaves the room and
    /// removes its token file.
    pub fn end(&self) {
        tools::shutdown(&self.session);
    }

    /// The version `initialize` settled on, if a legacy session opened.
    pub fn legacy_version(&self) -> Option<&str> {
        self.legacy.as_deref()
    }

    /// The loop: one line, one message, until EOF or a read error.
    fn read_all(&mut self, reader: &mut impl BufRead) {
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_line(reader, &mut line) {
                Ok(0) => return,
                Ok(_) if line.len() > MAX_LINE => {
                    self.out
                        .send(&error(&Value::Null, PARSE_ERROR, "message too large", None));
                }
                Ok(_) => self.handle_line(&line),
                Err(e) => {
                    log::error!("reading stdin: {e}");
                    return;
                }
            }
        }
    }

    fn handle_line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let msg: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.out.send(&error(
                    &Value::Null,
                    PARSE_ERROR,
                    format!("parse error: {e}"),
                    None,
                ));
                return;
            }
        };
        if let Value::Array(batch) = msg {
            // JSON-RPC batches exist only in 2025-03-26.
            if self.legacy.as_deref() != Some("2025-03-26") || batch.is_empty() {
                self.out.send(&error(
                    &Value::Null,
                    INVALID_REQUEST,
                    "batches are only part of MCP 2025-03-26; send one message per line",
                    None,
                ));
                return;
            }
            let answers: Vec<Value> = batch
                .into_iter()
                .filter_map(|m| self.handle(m, true))
                .collect();
            if !answers.is_empty() {
                self.out.send(&Value::Array(answers));
            }
            return;
        }
        if let Some(answer) = self.handle(msg, false) {
            self.out.send(&answer);
        }
    }

    /// Handles one message. Returns the response to write now, if any; tool
    /// calls answer later from their own thread (inline when batched).
    fn handle(&mut self, msg: Value, batched: bool) -> Option<Value> {
        let Value::Object(obj) = msg else {
            return Some(error(
                &Value::Null,
                INVALID_REQUEST,
                "a message is a JSON object",
                None,
            ));
        };
        let id = obj.get("id").cloned();
        let valid_id = matches!(id, None | Some(Value::String(_) | Value::Number(_)));
        let id_value = id.clone().unwrap_or(Value::Null);
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || !valid_id {
            return Some(error(
                &if valid_id { id_value } else { Value::Null },
                INVALID_REQUEST,
                "not a JSON-RPC 2.0 message: need \"jsonrpc\": \"2.0\" and a string or number id",
                None,
            ));
        }
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            if obj.contains_key("result") || obj.contains_key("error") {
                return None; // a response to nothing we asked: ignore
            }
            return Some(error(
                &id_value,
                INVALID_REQUEST,
                "a request needs a \"method\" string",
                None,
            ));
        };
        let params = obj.get("params").cloned().unwrap_or(Value::Null);
        if !params.is_null() && !params.is_object() {
            return id.map(|id| error(&id, INVALID_PARAMS, "params must be an object", None));
        }
        let Some(id) = id else {
            self.notification(method, &params);
            return None;
        };
        let era = match self.era(method, &params) {
            Ok(era) => era,
            Err(requested) => {
                return Some(error(
                    &id,
                    UNSUPPORTED_VERSION,
                    "Unsupported protocol version",
                    Some(json!({"supported": supported_versions(), "requested": requested})),
                ));
            }
        };
        let result = match method {
            "initialize" => Ok(self.initialize(&params)),
            "server/discover" if era == Era::Modern => Ok(json!({
                "supportedVersions": supported_versions(),
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": server_info(),
                "instructions": INSTRUCTIONS,
                "ttlMs": 3_600_000,
                "cacheScope": "public",
            })),
            "ping" if era != Era::Modern => Ok(json!({})),
            "tools/list" => {
                let mut r = json!({"tools": tools::list()});
                if era == Era::Modern {
                    r["ttlMs"] = json!(3_600_000);
                    r["cacheScope"] = json!("public");
                }
                Ok(r)
            }
            "tools/call" => match ToolCall::parse(&params) {
                Err(e) => Err((INVALID_PARAMS, e)),
                Ok(call) => {
                    return self.start_call(id, call, era, batched);
                }
            },
            _ => Err((METHOD_NOT_FOUND, format!("method not found: {method}"))),
        };
        Some(match result {
            Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": decorate(r, &era)}),
            Err((code, message)) => error(&id, code, message, None),
        })
    }

    /// The era of a request: modern when `_meta` names a version (which must
    /// be ours), legacy otherwise. `Err` carries an unsupported version.
    fn era(&self, method: &str, params: &Value) -> Result<Era, String> {
        let version = params
            .get("_meta")
            .and_then(|m| m.get(META_VERSION))
            .and_then(Value::as_str);
        match version {
            _ if method == "initialize" => Ok(Era::Legacy(String::new())),
            Some(MODERN_VERSION) => Ok(Era::Modern),
            Some(v) => Err(v.to_string()),
            None if method == "server/discover" => Err(String::new()),
            None => Ok(Era::Legacy(self.legacy.clone().unwrap_or_else(|| {
                LEGACY_VERSIONS[LEGACY_VERSIONS.len() - 1].to_string()
            }))),
        }
    }

    fn initialize(&mut self, params: &Value) -> Value {
        let asked = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let chosen = if LEGACY_VERSIONS.contains(&asked) {
            asked
        } else {
            LEGACY_VERSIONS[LEGACY_VERSIONS.len() - 1]
        };
        self.legacy = Some(chosen.to_string());
        log::info!("legacy session on MCP {chosen}");
        json!({
            "protocolVersion": chosen,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": server_info(),
            "instructions": INSTRUCTIONS,
        })
    }

    fn notification(&mut self, method: &str, params: &Value) {
        if method == "notifications/cancelled" {
            let key = params
                .get("requestId")
                .map(Value::to_string)
                .unwrap_or_default();
            let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cancel) = running.get(&key) {
                let _ = cancel.send(());
            }
        }
        // notifications/initialized and anything else: nothing to do.
    }

    /// Queues a tool call (a `listen` gets its own thread); its response is
    /// written when it finishes. A cancelled call sends no response, as the
    /// specification asks. Inside a batch the call runs inline.
    fn start_call(&mut self, id: Value, call: ToolCall, era: Era, batched: bool) -> Option<Value> {
        let (cancel_tx, cancel) = mpsc::channel();
        if self.defer_tools {
            self.running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.to_string(), cancel_tx);
            self.deferred = Some(Deferred {
                id,
                call,
                era,
                cancel,
                session: Arc::clone(&self.session),
                running: Arc::clone(&self.running),
            });
            return None;
        }
        if batched || self.worker.is_none() {
            let outcome = call.run(&self.session, &cancel)?;
            return Some(json!({"jsonrpc": "2.0", "id": id, "result": decorate(outcome, &era)}));
        }
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string(), cancel_tx);
        let listen = call.is_listen();
        let job = Job {
            id,
            call,
            era,
            cancel,
        };
        if listen {
            let (session, out, running) = (
                Arc::clone(&self.session),
                self.out.clone(),
                Arc::clone(&self.running),
            );
            let spawned = thread::Builder::new()
                .name("listen".into())
                .spawn(move || job.run(&session, &out, &running));
            if let Err(e) = spawned {
                log::error!("cannot start a listen thread: {e}");
            }
        } else if let Some(worker) = &self.worker
            && let Err(mpsc::SendError(job)) = worker.send(job)
        {
            // The worker is gone (it panicked): run the call here instead.
            job.run(&self.session, &self.out, &self.running);
        }
        None
    }
}

/// Adds what the 2026-07-28 revision asks of every result.
fn decorate(mut result: Value, era: &Era) -> Value {
    if *era == Era::Modern {
        result["resultType"] = json!("complete");
        result["_meta"] = json!({META_SERVER: server_info()});
    }
    result
}
