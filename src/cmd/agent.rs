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
use serde_json::json;

use crate::client::{CallError, HubClient, Listener, hub_url, join};
use crate::hosts::runtime::Runtime;
use crate::shared::cli::{self, seconds, text};
use crate::shared::identity::Slot;
use crate::shared::lines;
use crate::shared::platform;
use crate::shared::wire::{Interruption, Kind, Message, Mode, Origin};

pub const HELP: &str = "\
caucus agent: a peer that lives in the room, thinking with any agent CLI

Usage: caucus agent --name NAME (--runtime CLI | --exec COMMAND) [OPTIONS]

Each batch of new messages in a conversation (one peer, or one #channel)
goes to the agent CLI on stdin, with the sender, the channel and the
room's protocol. What it answers is sent back to that peer or channel;
answering nothing stays silent.

Options:
  --name NAME          name in the room [env: CAUCUS_PROJECT]
  --runtime CLI        claude, codex or gemini: run headless (no shell), its
                       JSON read for the reply and the turn's usage; Claude
                       Code resumes its session per conversation
  --model MODEL        the model the runtime asks for (its --model)
  --exec COMMAND       any other agent CLI, run with sh -c (cmd /C on
                       Windows); what it prints is the reply
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
    /// The shell command of `--exec`, or empty with `--runtime`.
    exec: String,
    runtime: Option<Runtime>,
    model: Option<String>,
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
    let mut runtime = None;
    let mut model = None;
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
            Long("runtime") => runtime = Some(Runtime::parse(&text(args.value())?)?),
            Long("model") => model = Some(text(args.value())?),
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
    let exec = exec.filter(|e| !e.trim().is_empty());
    match (&exec, runtime) {
        (None, None) => return Err("--runtime or --exec is required".into()),
        (Some(_), Some(_)) => return Err("--runtime and --exec: give one".into()),
        _ => {}
    }
    if model.is_some() && runtime.is_none() {
        return Err("--model goes with --runtime (put it in the --exec command)".into());
    }
    Ok(Some(Config {
        hub: hub_url(hub)?,
        name: name
            .filter(|n| !n.trim().is_empty())
            .ok_or("--name is required")?,
        exec: exec.unwrap_or_default(),
        runtime,
        model,
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
        sessions: BTreeMap::new(),
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
        let _ = agent.hub.leave(&agent.token);
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
    /// A runtime's own session per conversation, to resume it.
    sessions: BTreeMap<String, String>,
    replies: u64,
    /// Resets so far: each gives every conversation a fresh session id.
    generation: u64,
    /// What the gate watcher reports: an interrupt, or the stop.
    urgent: Option<Receiver<Urgent>>,
    /// Interrupts already acted on (each reaches us by two doors).
    handled: VecDeque<String>,
    /// An interrupt that ended a command, to act on next.
    pending: Option<Interruption>,
}

/// What the gate watcher saw.
enum Urgent {
    Interrupt(Interruption),
    Stop,
}

/// What running the command came to.
enum Thought {
    Said(Option<String>),
    Interrupted(Interruption),
    Stopped,
}

/// Waits at the hub's tool gate for an interrupt or the stop, for as long
/// as the agent lives; each one found goes to the agent.
fn watch_gate(hub: HubClient, token: String, done: Arc<AtomicBool>) -> Receiver<Urgent> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut failures = 0u32;
        while !done.load(Ordering::Relaxed) {
            match hub.gate(&token, Some(20.0)) {
                Ok(gate) => {
                    failures = 0;
                    if gate.mode == Mode::Stopped {
                        let _ = tx.send(Urgent::Stop);
                        return;
                    }
                    if let Some(i) = gate.interrupt
                        && tx.send(Urgent::Interrupt(i)).is_err()
                    {
                        return;
                    }
                }
                // Gone from the room, or no hub: the main loop finds out
                // and ends; until it does, ask again now and then.
                Err(_) => {
                    failures += 1;
                    thread::sleep(Duration::from_secs(u64::from(failures.min(5))));
                }
            }
        }
    });
    rx
}

/// The interrupt a message carries, if it is one (`meta.interrupt`).
fn interrupt_of(m: &Message) -> Option<Interruption> {
    let meta = m.meta.as_ref()?;
    (meta["interrupt"] == true && m.origin == Origin::Operator).then(|| Interruption {
        id: m.id.clone(),
        content: m.content.clone(),
        reset: meta["reset"] == true,
    })
}

/// What one poll brought, as the conversations to answer, in order of
/// first arrival: one per channel, or per agent for direct messages; the
/// agent's own messages left out, and an interrupt already heard (at the
/// gate) not heard twice (`fresh` says whether one is new).
pub fn conversations(
    messages: &[Message],
    me: &str,
    mut fresh: impl FnMut(&Interruption) -> bool,
) -> Vec<(String, Vec<Message>)> {
    let mut found: Vec<(String, Vec<Message>)> = Vec::new();
    for m in messages {
        if let Some(i) = interrupt_of(m)
            && !fresh(&i)
        {
            continue;
        }
        if !matches!(m.kind, Kind::Message | Kind::Answer) || m.sender == me {
            continue;
        }
        let target = if m.recipient.starts_with('#') {
            &m.recipient
        } else {
            &m.sender
        };
        match found.iter_mut().find(|(t, _)| t == target) {
            Some((_, list)) => list.push(m.clone()),
            None => found.push((target.clone(), vec![m.clone()])),
        }
    }
    found
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
    messages: &[Message],
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
            let kind = if m.kind == Kind::Answer {
                " (the operator's answer)"
            } else {
                ""
            };
            p.push_str(&format!(
                "\n--- from {} to {}{kind}\n",
                lines::one_line(&m.sender),
                lines::one_line(&m.recipient),
            ));
            // Each line of the content is marked, so no sender can write a
            // line that passes for the prompt's own ("--- from human ...").
            for line in lines::split(&m.content) {
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
    fn first_time(&mut self, interrupt: &Interruption) -> bool {
        let id = interrupt.id.clone();
        if self.handled.contains(&id) {
            return false;
        }
        if self.handled.len() == 32 {
            self.handled.pop_front();
        }
        self.handled.push_back(id);
        if interrupt.reset {
            self.generation += 1;
            self.seen.clear();
            self.sessions.clear();
            eprintln!(
                "caucus agent: the operator reset this agent; every conversation starts afresh"
            );
        }
        true
    }

    /// A turn on the operator's interrupt: its text, from `human`.
    fn answer_interrupt(&mut self, interrupt: Interruption) -> Result<(), End> {
        let msg = Message {
            id: interrupt.id,
            sender: "human".into(),
            recipient: self.config.name.clone(),
            content: interrupt.content,
            kind: Kind::Message,
            ts: 0.0,
            seq: 0,
            origin: Origin::Operator,
            meta: None,
        };
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
        if let Err(end) = self.join(done) {
            return end;
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
        let hub = self.hub.clone();
        let mut listener = Listener::new(&hub, &self.token, 0);
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
            let got = match listener.poll(25.0) {
                Ok(got) => got,
                Err(e) if e.status() == Some(401) => {
                    return End::Refused("the hub no longer knows this agent (kicked?)".into());
                }
                Err(e) if e.is(409, "already_listening") => {
                    return End::Refused(
                        "another listener took this agent's slot (one listener per agent)".into(),
                    );
                }
                Err(e) => {
                    failures += 1;
                    if failures > 8 {
                        return End::Unreachable(e.to_string());
                    }
                    thread::sleep(Duration::from_secs(1 << failures.min(4)));
                    continue;
                }
            };
            failures = 0;
            if got.stop {
                return End::Stopped;
            }
            let name = self.config.name.clone();
            let batches = conversations(&got.messages, &name, |i| self.first_time(i));
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
                listener.handed_over(batch.iter().map(|m| m.seq).max().unwrap_or(0));
                if self.replies >= self.config.max_replies {
                    let _ = listener.ack();
                    return End::Done;
                }
            }
            // Whatever was skipped (our own, notices) is done with too,
            // unless an interrupt cut the round short.
            if self.pending.is_none() {
                listener.handed_over(got.max_seq);
            }
        }
    }

    /// Reads the room's protocol, joins under the agent's name (keeping
    /// its token on this machine), starts the gate watcher, and joins the
    /// configured channels.
    fn join(&mut self, done: &Arc<AtomicBool>) -> Result<(), End> {
        let refused = |e: CallError| match e {
            CallError::Unreachable(e) => End::Unreachable(e),
            other => End::Refused(other.to_string()),
        };
        let protocol = self.hub.protocol().map_err(refused)?;
        self.protocol = protocol.text;
        let name = self.config.name.clone();
        self.slot = join::claim(&self.hub, &name, "caucus agent")
            .map_err(|held| End::Refused(format!("{held}; give this agent another --name")))?;
        let reg = join::register_kept(
            &self.hub,
            &name,
            self.slot.as_ref(),
            None,
            Some(protocol.version),
            "caucus agent",
        )
        .map_err(|e| match e {
            CallError::Unreachable(e) => End::Unreachable(e),
            other => End::Refused(format!("the hub refused the name {name:?}: {other}")),
        })?;
        self.token = reg.token;
        eprintln!("caucus agent: joined as {name}");
        self.urgent = Some(watch_gate(
            self.hub.clone(),
            self.token.clone(),
            Arc::clone(done),
        ));
        for channel in self.config.channels.clone() {
            self.hub
                .join_channel(&self.token, &channel)
                .map_err(|e| match e {
                    CallError::Unreachable(e) => End::Unreachable(e),
                    other => End::Refused(format!("cannot join {channel}: {other}")),
                })?;
        }
        Ok(())
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

    /// The reply in what the command printed: its trimmed text, or what a
    /// runtime's JSON says (whose session is kept for the conversation,
    /// and whose usage is said on stderr).
    fn reply_in(&mut self, target: &str, out: &str) -> Option<String> {
        let Some(runtime) = self.config.runtime else {
            let text = out.trim();
            return (!text.is_empty()).then(|| text.to_string());
        };
        match runtime.read(out) {
            Ok(said) => {
                if runtime == Runtime::Claude
                    && let Some(session) = said.session
                {
                    self.sessions.insert(target.to_string(), session);
                }
                let u = said.usage;
                let cost = u.cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default();
                eprintln!(
                    "caucus agent: {} turn for {target}: {} tokens in ({} cached), {} out{cost}",
                    runtime.program(),
                    u.input_tokens,
                    u.cached_tokens,
                    u.output_tokens
                );
                said.text
            }
            Err(why) => {
                eprintln!("caucus agent: {why}; no reply");
                None
            }
        }
    }

    /// Runs the command on a conversation: its trimmed output, if any, or
    /// what ended it early.
    fn think(&mut self, target: &str, mission: &str, batch: &[Message]) -> Thought {
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
        let (mut run, command) = match self.config.runtime {
            Some(runtime) => {
                let resume = self.sessions.get(target).map(String::as_str);
                let args = runtime.args(self.config.model.as_deref(), resume);
                (
                    platform::direct(runtime.program(), &args),
                    runtime.program().to_string(),
                )
            }
            None => {
                let mut command = self.config.exec.clone();
                if let Some(args) = extra {
                    command.push(' ');
                    command.push_str(&args.replace("{session}", &session));
                }
                (platform::shell(&command), command)
            }
        };
        let mission = (!mission.is_empty()).then_some(mission);
        let input = prompt(&self.config.name, &self.protocol, mission, batch, target);
        // The model's CLI never sees a secret of the room's: it could say it.
        for secret in [
            "CAUCUS_OPERATOR_TOKEN",
            "CAUCUS_OBSERVER_TOKEN",
            "CAUCUS_AGENT_KEY",
            "CAUCUS_TOKEN",
        ] {
            run.env_remove(secret);
        }
        let child = run
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
            (None, Some(s)) if s.success() => Thought::Said(self.reply_in(target, &out)),
            (None, Some(s)) => {
                eprintln!("caucus agent: {command:?} failed ({s}); no reply");
                Thought::Said(None)
            }
            (None, None) => Thought::Said(None),
        }
    }

    /// Sends one reply, waiting out rate limits and talking sticks.
    fn reply(&mut self, to: &str, text: &str) -> Result<(), End> {
        for _ in 0..100 {
            let refusal = match self.hub.send(&self.token, to, text) {
                Ok(_) => {
                    self.replies += 1;
                    return Ok(());
                }
                Err(CallError::Unreachable(e)) => return Err(End::Unreachable(e)),
                Err(CallError::Refused { status, refusal }) => (status, refusal),
                Err(e) => {
                    eprintln!("caucus agent: a reply went unanswered: {e}");
                    return Ok(());
                }
            };
            match refusal {
                (429, said) => {
                    let wait = said.retry_after.unwrap_or(1.0).clamp(0.05, 60.0);
                    eprintln!("caucus agent: rate limited; waiting {wait:.2} s");
                    thread::sleep(Duration::from_secs_f64(wait));
                }
                (423, said) => {
                    let scope = said.scope.clone().unwrap_or_else(|| "all".into());
                    let _ = self.hub.post(
                        "/floor",
                        &json!({"token": self.token, "action": "raise", "scope": scope}),
                    );
                    eprintln!(
                        "caucus agent: {} holds the talking stick; hand raised, waiting",
                        said.held_by.as_deref().unwrap_or("someone")
                    );
                    thread::sleep(Duration::from_secs(2));
                }
                (409, said) if said.says("room stopped") => return Err(End::Stopped),
                (401, _) => return Err(End::Refused("the hub no longer knows this agent".into())),
                (status, said) => {
                    eprintln!(
                        "caucus agent: the hub refused a reply (HTTP {status}): {}",
                        said.detail.map(|d| d.to_string()).unwrap_or_default()
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

    fn message(seq: u64, sender: &str, to: &str, content: &str) -> Message {
        Message {
            id: format!("{seq:012x}"),
            sender: sender.into(),
            recipient: to.into(),
            content: content.into(),
            kind: Kind::Message,
            ts: 0.0,
            seq,
            origin: if sender == "human" {
                Origin::Operator
            } else {
                Origin::Agent
            },
            meta: None,
        }
    }

    #[test]
    fn a_poll_becomes_one_batch_per_conversation_in_order_of_first_arrival() {
        let mut interrupt = message(5, "human", "planner", "stop that");
        interrupt.meta = Some(json!({"interrupt": true, "reset": false}));
        let mut answer = message(6, "human", "#api", "yes");
        answer.kind = Kind::Answer;
        let messages = [
            message(1, "alice", "#api", "v2?"),
            message(2, "bob", "planner", "hi"),
            message(3, "planner", "#api", "my own"),
            message(4, "alice", "#api", "and v3?"),
            interrupt.clone(),
            answer,
        ];
        let mut heard = Vec::new();
        let found = conversations(&messages, "planner", |i| {
            heard.push(i.id.clone());
            false
        });
        let shape: Vec<(String, Vec<u64>)> = found
            .iter()
            .map(|(t, list)| (t.clone(), list.iter().map(|m| m.seq).collect()))
            .collect();
        assert_eq!(
            shape,
            [
                ("#api".to_string(), vec![1, 4, 6]),
                ("bob".to_string(), vec![2])
            ],
            "own messages out, an interrupt heard before out"
        );
        assert_eq!(heard, [interrupt.id.clone()]);
        // A new interrupt is a conversation with the operator.
        let found = conversations(std::slice::from_ref(&interrupt), "planner", |_| true);
        assert_eq!(found[0].0, "human");
    }

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
        let m = message(1, "alice", "#api", "v2?");
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
