//! `caucus agent`: a peer that lives in the room on its own, with any
//! command-line agent doing the thinking.
//!
//! It joins, long-polls, and hands each batch of inbound messages of one
//! conversation (a peer, or a channel) to the command on stdin, in the
//! stable format of [`prompt`]; what the command prints is sent back to the
//! peer or channel the messages came from (nothing printed: no reply). It
//! acknowledges a batch only once its reply is sent, waits out rate limits
//! and talking sticks instead of dropping a reply, and exits on the
//! operator's stop.
//!
//! The operator's hand reaches it mid-turn: a watcher thread waits at the
//! hub's tool gate for an interrupt or a stop; an interrupt ends the
//! running command (and all it started) and starts a turn with the
//! operator's text; a reset (`reset_peer`) also gives every conversation a
//! fresh `--session` id, so the command starts without its context.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use serde_json::{Value, json};

use crate::client::{HubClient, hub_url};
use crate::shared::cli::{self, seconds, text};
use crate::shared::identity::{ClaimError, Slot};
use crate::shared::lines;
use crate::shared::platform;

pub const HELP: &str = "\
caucus agent: a peer that lives in the room, thinking with any agent CLI

Usage: caucus agent --name NAME --exec COMMAND [OPTIONS]

Each batch of new messages in a conversation (one peer, or one #channel)
goes to COMMAND (run with sh -c; cmd /C on Windows) on stdin, with the
sender, the channel and the room's protocol. What it prints is sent back to that peer or channel;
printing nothing stays silent.

Options:
  --name NAME          name in the room [env: CAUCUS_PROJECT]
  --exec COMMAND       the agent to run, e.g. 'claude -p' or 'codex exec -'
  --mission TEXT       open the room: the command's answer to it goes to all
                       [env: CAUCUS_MISSION]
  --join #CHANNEL      subscribe to a channel at start (repeatable)
  --session ARGS       appended to COMMAND for a conversation it has seen,
                       {session} replaced by a stable id per peer or channel
                       (e.g. '--resume {session}')
  --session-new ARGS   appended on a conversation's first turn instead
                       (e.g. '--session-id {session}')
  --max-replies N      leave after N replies [default: 100]
  --exec-timeout SECS  end a command (and all it started) that runs longer
                       [default: 600]
  --hub URL            [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  -h, --help           print this help

The operator's interrupt ends a running command and starts a turn with the
operator's text; a reset also starts every conversation afresh (new
{session} ids).

The command also gets CAUCUS_AGENT, CAUCUS_REPLY_TO, CAUCUS_CONVERSATION
and CAUCUS_SESSION in its environment.

Exit codes: 0 done (max replies reached), 1 the hub refused the name or
the token, 2 usage, 3 the operator stopped the room, 4 hub unreachable.
";

struct Config {
    hub: String,
    name: String,
    exec: String,
    mission: Option<String>,
    channels: Vec<String>,
    session: Option<String>,
    session_new: Option<String>,
    max_replies: u64,
    exec_timeout: Duration,
}

fn parse(mut args: lexopt::Parser) -> Result<Option<Config>, String> {
    let mut hub = None;
    let mut name = std::env::var("CAUCUS_PROJECT").ok();
    let mut exec = None;
    let mut mission = std::env::var("CAUCUS_MISSION")
        .ok()
        .filter(|m| !m.trim().is_empty());
    let (mut session, mut session_new) = (None, None);
    let mut channels = Vec::new();
    let mut max_replies = 100;
    let mut exec_timeout = 600.0;
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Long("name") => name = Some(text(args.value())?),
            Long("exec") => exec = Some(text(args.value())?),
            Long("mission") => mission = Some(text(args.value())?),
            Long("join") => channels.push(text(args.value())?),
            Long("session") => session = Some(text(args.value())?),
            Long("session-new") => session_new = Some(text(args.value())?),
            Long("max-replies") => {
                let v = text(args.value())?;
                max_replies = v
                    .parse()
                    .map_err(|_| format!("--max-replies: {v:?} is not a count"))?;
            }
            Long("exec-timeout") => {
                exec_timeout = seconds(&text(args.value())?, "--exec-timeout", true)?
            }
            Long("hub") => hub = Some(text(args.value())?),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Some(Config {
        hub: hub_url(hub)?,
        name: name
            .filter(|n| !n.trim().is_empty())
            .ok_or("--name is required")?,
        exec: exec
            .filter(|e| !e.trim().is_empty())
            .ok_or("--exec is required")?,
        mission,
        channels,
        session,
        session_new,
        max_replies,
        exec_timeout: Duration::from_secs_f64(exec_timeout),
    }))
}

/// Why the agent stopped.
enum End {
    Done,
    Refused(String),
    Stopped,
    Unreachable(String),
}

pub fn main(args: lexopt::Parser) -> ExitCode {
    let config = match parse(args) {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => return cli::usage("caucus agent", e),
    };
    let mut agent = Agent {
        hub: HubClient::new(&config.hub),
        config,
        token: String::new(),
        slot: None,
        protocol: String::new(),
        seen: BTreeMap::new(),
        replies: 0,
        generation: 0,
        urgent: None,
        handled: VecDeque::new(),
        pending: None,
    };
    let done = Arc::new(AtomicBool::new(false));
    let end = agent.live(&done);
    done.store(true, Ordering::Relaxed);
    if !agent.token.is_empty() {
        let _ = agent.hub.post("/leave", &json!({"token": agent.token}));
        if let Some(slot) = agent.slot.take() {
            slot.release();
        }
    }
    match end {
        End::Done => {
            eprintln!("caucus agent: {} replies sent; leaving", agent.replies);
            ExitCode::SUCCESS
        }
        End::Refused(why) => cli::fail("caucus agent", why),
        End::Stopped => {
            eprintln!("caucus agent: the operator stopped the room; leaving");
            ExitCode::from(3)
        }
        End::Unreachable(why) => {
            eprintln!("caucus agent: the hub is unreachable: {why}");
            ExitCode::from(4)
        }
    }
}

struct Agent {
    config: Config,
    hub: HubClient,
    token: String,
    /// The name's slot on this machine: a restart after a crash presents
    /// the token kept there and gets the name back.
    slot: Option<Slot>,
    protocol: String,
    /// Conversations the command has already seen (for `--session`).
    seen: BTreeMap<String, bool>,
    replies: u64,
    /// Resets so far: each gives every conversation a fresh session id.
    generation: u64,
    /// What the gate watcher reports: an interrupt, or the stop.
    urgent: Option<Receiver<Urgent>>,
    /// Interrupts already acted on (each reaches us by two doors).
    handled: VecDeque<String>,
    /// An interrupt that ended a command, to act on next.
    pending: Option<Value>,
}

/// What the gate watcher saw.
enum Urgent {
    Interrupt(Value),
    Stop,
}

/// What running the command came to.
enum Thought {
    Said(Option<String>),
    Interrupted(Value),
    Stopped,
}

/// Waits at the hub's tool gate for an interrupt or the stop, for as long
/// as the agent lives; each one found goes to the agent.
fn watch_gate(hub: HubClient, token: String, done: Arc<AtomicBool>) -> Receiver<Urgent> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let body = json!({"token": token, "wait": 20});
        let mut failures = 0u32;
        while !done.load(Ordering::Relaxed) {
            match hub.post_timeout("/gate", &body, Duration::from_secs(35)) {
                Ok(a) if a.status == 200 => {
                    failures = 0;
                    if a.body["mode"] == "stopped" {
                        let _ = tx.send(Urgent::Stop);
                        return;
                    }
                    if a.body["interrupt"].is_object()
                        && tx
                            .send(Urgent::Interrupt(a.body["interrupt"].clone()))
                            .is_err()
                    {
                        return;
                    }
                }
                // Gone from the room, or no hub: the main loop finds out
                // and ends; until it does, ask again now and then.
                _ => {
                    failures += 1;
                    thread::sleep(Duration::from_secs(u64::from(failures.min(5))));
                }
            }
        }
    });
    rx
}

/// The interrupt a message carries, if it is one (`meta.interrupt`).
fn interrupt_of(m: &Value) -> Option<Value> {
    (m["meta"]["interrupt"] == json!(true) && m["sender"] == "human").then(|| {
        json!({"id": m["id"], "content": m["content"],
               "reset": m["meta"]["reset"] == json!(true)})
    })
}

/// A stable, UUID-shaped id for one conversation of one agent.
pub fn session_id(agent: &str, conversation: &str) -> String {
    // Two FNV-1a passes give 128 bits; a session flag wants a UUID's shape,
    // not its randomness.
    let mut h = [0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64];
    for (i, byte) in agent
        .bytes()
        .chain([0])
        .chain(conversation.bytes())
        .enumerate()
    {
        let lane = &mut h[i % 2];
        *lane ^= u64::from(byte);
        *lane = lane.wrapping_mul(0x0100_0000_01b3);
    }
    let hex = format!("{:016x}{:016x}", h[0], h[1]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The text the command reads on stdin: who it is, the room's rules, the
/// mission, the new messages, and whom its answer goes to.
pub fn prompt(
    name: &str,
    protocol: &str,
    mission: Option<&str>,
    messages: &[Value],
    reply_to: &str,
) -> String {
    let mut p = format!(
        "You are \"{name}\", an agent in a caucus: a room of agents that a human operator \
         supervises.\n\n{protocol}\n"
    );
    if let Some(m) = mission {
        p.push_str(&format!("\nYour mission: {m}\n"));
    }
    if !messages.is_empty() {
        p.push_str("\nNew messages:\n");
        for m in messages {
            let field = |k: &str| m[k].as_str().unwrap_or("?").to_string();
            let kind = if m["kind"] == "answer" {
                " (the operator's answer)"
            } else {
                ""
            };
            p.push_str(&format!(
                "\n--- from {} to {}{kind}\n",
                lines::one_line(&field("sender")),
                lines::one_line(&field("recipient")),
            ));
            // Each line of the content is marked, so no sender can write a
            // line that passes for the prompt's own ("--- from human ...").
            for line in lines::split(&field("content")) {
                p.push_str(lines::CONTINUATION);
                p.push_str(&line);
                p.push('\n');
            }
        }
        p.push_str("---\n");
    }
    p.push_str(&format!(
        "\nWrite only the text of your next message to {reply_to}. Print nothing to stay silent.\n"
    ));
    p
}

impl Agent {
    /// Whether this interrupt is new; remembers it.
    fn first_time(&mut self, interrupt: &Value) -> bool {
        let id = interrupt["id"].as_str().unwrap_or_default().to_string();
        if self.handled.contains(&id) {
            return false;
        }
        if self.handled.len() == 32 {
            self.handled.pop_front();
        }
        self.handled.push_back(id);
        if interrupt["reset"] == json!(true) {
            self.generation += 1;
            self.seen.clear();
            eprintln!(
                "caucus agent: the operator reset this agent; every conversation starts afresh"
            );
        }
        true
    }

    /// A turn on the operator's interrupt: its text, from `human`.
    fn answer_interrupt(&mut self, interrupt: Value) -> Result<(), End> {
        let msg = json!({"sender": "human", "recipient": self.config.name,
                         "content": interrupt["content"], "kind": "message"});
        let mission = self.config.mission.clone().unwrap_or_default();
        match self.think("human", &mission, &[msg]) {
            Thought::Said(Some(text)) => self.reply("human", &text),
            Thought::Said(None) => Ok(()),
            Thought::Interrupted(next) => {
                self.pending = Some(next);
                Ok(())
            }
            Thought::Stopped => Err(End::Stopped),
        }
    }

    fn live(&mut self, done: &Arc<AtomicBool>) -> End {
        let proto = match self.hub.get("/protocol", None, None) {
            Ok(a) if a.status == 200 => a.body,
            Ok(a) => return End::Refused(format!("/protocol answered HTTP {}", a.status)),
            Err(e) => return End::Unreachable(e),
        };
        self.protocol = proto["text"].as_str().unwrap_or_default().to_string();
        let name = self.config.name.clone();
        match Slot::claim(self.hub.base(), &name) {
            Ok(slot) => self.slot = Some(slot),
            Err(ClaimError::Held) => {
                return End::Refused(format!(
                    "another caucus process on this machine is joined to this hub as {name:?}; \
                     give this agent another --name"
                ));
            }
            Err(ClaimError::Io(e)) => eprintln!("caucus agent: cannot keep its token: {e}"),
        }
        let mut reg = json!({"project": name, "protocol_version": proto["version"]});
        if let Some(kept) = self.slot.as_ref().and_then(Slot::token) {
            reg["token"] = json!(kept);
        }
        match self.hub.post("/register", &reg) {
            Ok(a) if a.status == 200 => {
                self.token = a.body["token"].as_str().unwrap_or_default().to_string();
                if let Some(slot) = &self.slot
                    && let Err(e) = slot.save(&self.token)
                {
                    eprintln!("caucus agent: cannot keep its token: {e}");
                }
            }
            Ok(a) => {
                let why = a.body.get("note").or_else(|| a.body.get("detail")).cloned();
                return End::Refused(format!(
                    "the hub refused the name {:?}: {}",
                    self.config.name,
                    why.unwrap_or(a.body)
                ));
            }
            Err(e) => return End::Unreachable(e),
        }
        eprintln!("caucus agent: joined as {}", self.config.name);
        self.urgent = Some(watch_gate(
            self.hub.clone(),
            self.token.clone(),
            Arc::clone(done),
        ));
        for channel in self.config.channels.clone() {
            let body = json!({"token": self.token, "channel": channel});
            match self.hub.post("/channels/join", &body) {
                Ok(a) if a.status == 200 => {}
                Ok(a) => return End::Refused(format!("cannot join {channel}: {}", a.body)),
                Err(e) => return End::Unreachable(e),
            }
        }
        if let Some(mission) = self.config.mission.clone() {
            match self.think("all", &mission, &[]) {
                Thought::Said(Some(text)) => {
                    if let Err(end) = self.reply("all", &text) {
                        return end;
                    }
                }
                Thought::Said(None) => {}
                Thought::Interrupted(i) => self.pending = Some(i),
                Thought::Stopped => return End::Stopped,
            }
        }
        let mut acked = 0u64;
        let mut failures = 0;
        loop {
            if self.replies >= self.config.max_replies {
                return End::Done;
            }
            // Bounded: each round runs one turn, and max_replies ends it.
            if let Some(interrupt) = self.pending.take() {
                if let Err(end) = self.answer_interrupt(interrupt) {
                    return end;
                }
                continue;
            }
            let path = format!("/receive?timeout=25&ack_seq={acked}");
            let answer = match self
                .hub
                .get(&path, Some(&self.token), Some(Duration::from_secs(40)))
            {
                Ok(a) => a,
                Err(e) => {
                    failures += 1;
                    if failures > 8 {
                        return End::Unreachable(e);
                    }
                    thread::sleep(Duration::from_secs(1 << failures.min(4)));
                    continue;
                }
            };
            failures = 0;
            if answer.status == 401 {
                return End::Refused("the hub no longer knows this agent (kicked?)".into());
            }
            if answer.status == 409 && answer.body["detail"] == "already_listening" {
                return End::Refused(
                    "another listener took this agent's slot (one listener per agent)".into(),
                );
            }
            let messages = answer.body["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if messages
                .iter()
                .any(|m| m["kind"] == "control" && m["content"] == "stop")
            {
                return End::Stopped;
            }
            // One batch per conversation, in order of first arrival; an
            // interrupt heard already (at the gate) is not heard twice.
            let mut batches: Vec<(String, Vec<Value>)> = Vec::new();
            for m in messages {
                if let Some(i) = interrupt_of(&m)
                    && !self.first_time(&i)
                {
                    continue;
                }
                let seq = m["seq"].as_u64().unwrap_or(0);
                let wanted = matches!(m["kind"].as_str(), Some("message" | "answer"))
                    && m["sender"] != self.config.name.as_str()
                    && seq > acked;
                if !wanted {
                    continue;
                }
                let to = m["recipient"].as_str().unwrap_or_default();
                let target = if to.starts_with('#') {
                    to
                } else {
                    m["sender"].as_str().unwrap_or_default()
                };
                match batches.iter_mut().find(|(t, _)| t == target) {
                    Some((_, list)) => list.push(m.clone()),
                    None => batches.push((target.to_string(), vec![m.clone()])),
                }
            }
            for (target, batch) in batches {
                let mission = self.config.mission.clone().unwrap_or_default();
                match self.think(&target, &mission, &batch) {
                    Thought::Said(Some(text)) => {
                        if let Err(end) = self.reply(&target, &text) {
                            return end;
                        }
                    }
                    Thought::Said(None) => {}
                    Thought::Interrupted(i) => {
                        // The operator's word comes first; the rest of this
                        // poll's batches were not acknowledged and come back.
                        self.pending = Some(i);
                        break;
                    }
                    Thought::Stopped => return End::Stopped,
                }
                // Acknowledged only now: a crash before this point replays it.
                if let Some(max) = batch.iter().filter_map(|m| m["seq"].as_u64()).max() {
                    acked = acked.max(max);
                }
                if self.replies >= self.config.max_replies {
                    let _ = self
                        .hub
                        .post("/ack", &json!({"token": self.token, "seq": acked}));
                    return End::Done;
                }
            }
            // Whatever was skipped (our own, notices) is done with too,
            // unless an interrupt cut the round short.
            if self.pending.is_none()
                && let Some(max) = answer.body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["seq"].as_u64())
                    .max()
            {
                acked = acked.max(max);
            }
        }
    }

    /// The session id of a conversation: stable, and new after each reset.
    fn session(&self, target: &str) -> String {
        if self.generation == 0 {
            session_id(&self.config.name, target)
        } else {
            session_id(&self.config.name, &format!("{target}\n{}", self.generation))
        }
    }

    /// An interrupt or the stop the gate watcher saw, if any came within
    /// `wait`; interrupts already acted on are passed over.
    fn urgent(&mut self, wait: Duration) -> Option<Urgent> {
        let rx = self.urgent.as_ref()?;
        let got = match rx.recv_timeout(wait) {
            Ok(u) => u,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => {
                thread::sleep(wait);
                return None;
            }
        };
        match got {
            Urgent::Interrupt(i) if self.first_time(&i) => Some(Urgent::Interrupt(i)),
            Urgent::Interrupt(_) => None,
            Urgent::Stop => Some(Urgent::Stop),
        }
    }

    /// Runs the command on a conversation: its trimmed output, if any, or
    /// what ended it early.
    fn think(&mut self, target: &str, mission: &str, batch: &[Value]) -> Thought {
        let session = self.session(target);
        let first = !self.seen.contains_key(target);
        self.seen.insert(target.to_string(), true);
        let extra = if first {
            self.config
                .session_new
                .as_ref()
                .or(self.config.session.as_ref())
        } else {
            self.config.session.as_ref()
        };
        let mut command = self.config.exec.clone();
        if let Some(args) = extra {
            command.push(' ');
            command.push_str(&args.replace("{session}", &session));
        }
        let mission = (!mission.is_empty()).then_some(mission);
        let input = prompt(&self.config.name, &self.protocol, mission, batch, target);
        let child = platform::shell(&command)
            .env("CAUCUS_AGENT", &self.config.name)
            .env("CAUCUS_REPLY_TO", target)
            .env("CAUCUS_CONVERSATION", target)
            .env("CAUCUS_SESSION", &session)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("caucus agent: cannot run {command:?}: {e}");
                return Thought::Said(None);
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            thread::spawn(move || {
                let _ = stdin.write_all(input.as_bytes());
            });
        }
        let Some(mut stdout) = child.stdout.take() else {
            return Thought::Said(None);
        };
        let reader = thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let deadline = Instant::now() + self.config.exec_timeout;
        let mut cut = None;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    if let Some(u) = self.urgent(Duration::from_millis(20)) {
                        platform::end_tree(&mut child);
                        eprintln!("caucus agent: the operator cut {command:?} short");
                        cut = Some(u);
                        break None;
                    }
                }
                _ => {
                    // The whole tree: an agent CLI its shell started would
                    // otherwise run on, holding the output pipe open.
                    platform::end_tree(&mut child);
                    eprintln!("caucus agent: {command:?} ran past --exec-timeout; no reply");
                    break None;
                }
            }
        };
        let out = reader.join().unwrap_or_default();
        match (cut, status) {
            (Some(Urgent::Interrupt(i)), _) => Thought::Interrupted(i),
            (Some(Urgent::Stop), _) => Thought::Stopped,
            (None, Some(s)) if s.success() => {
                let text = out.trim();
                Thought::Said((!text.is_empty()).then(|| text.to_string()))
            }
            (None, Some(s)) => {
                eprintln!("caucus agent: {command:?} failed ({s}); no reply");
                Thought::Said(None)
            }
            (None, None) => Thought::Said(None),
        }
    }

    /// Sends one reply, waiting out rate limits and talking sticks.
    fn reply(&mut self, to: &str, text: &str) -> Result<(), End> {
        let body = json!({"token": self.token, "to": to, "content": text});
        for _ in 0..100 {
            let a = self.hub.post("/send", &body).map_err(End::Unreachable)?;
            match a.status {
                200 => {
                    self.replies += 1;
                    return Ok(());
                }
                429 => {
                    let wait = a.body["retry_after"]
                        .as_f64()
                        .unwrap_or(1.0)
                        .clamp(0.05, 60.0);
                    eprintln!("caucus agent: rate limited; waiting {wait:.2} s");
                    thread::sleep(Duration::from_secs_f64(wait));
                }
                423 => {
                    let scope = a.body["scope"].as_str().unwrap_or("all").to_string();
                    let _ = self.hub.post(
                        "/floor",
                        &json!({"token": self.token, "action": "raise", "scope": scope}),
                    );
                    eprintln!(
                        "caucus agent: {} holds the talking stick; hand raised, waiting",
                        a.body["held_by"]
                    );
                    thread::sleep(Duration::from_secs(2));
                }
                409 if a.body["detail"] == "room stopped" => return Err(End::Stopped),
                401 => return Err(End::Refused("the hub no longer knows this agent".into())),
                status => {
                    eprintln!(
                        "caucus agent: the hub refused a reply (HTTP {status}): {}",
                        a.body
                    );
                    return Ok(());
                }
            }
        }
        eprintln!("caucus agent: gave up on a reply after 100 tries");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_stable_uuid_shaped_and_distinct() {
        let a = session_id("planner", "alice");
        assert_eq!(a, session_id("planner", "alice"));
        assert_ne!(a, session_id("planner", "#api"));
        assert_ne!(a, session_id("critic", "alice"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_prompt_names_everything_the_command_needs() {
        let m =
            json!({"sender": "alice", "recipient": "#api", "content": "v2?", "kind": "message"});
        let p = prompt("planner", "RULES", Some("ship it"), &[m], "#api");
        for needle in [
            "\"planner\"",
            "RULES",
            "Your mission: ship it",
            "from alice to #api",
            "v2?",
            "message to #api",
        ] {
            assert!(p.contains(needle), "{needle} missing from {p}");
        }
    }
}
