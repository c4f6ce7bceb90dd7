//! `--data-dir`: the room survives its hub being killed.
//!
//! The busy-room test kills the hub with SIGKILL at points picked at random
//! while peers send and receive, restarts it on the same directory, and
//! checks every message the hub answered 200 to: each named recipient gets
//! it, and none gets it again once its acknowledgement was answered 200.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::Hub;
use serde_json::{Value, json};

/// A fresh, private data directory under the target dir.
fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("durability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One request on a fresh connection; `None` when the hub is not there (or
/// went away mid-request).
fn try_req(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = auth {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// The contents of the chat messages `token`'s peer has waiting.
fn chat_of(hub: &Hub, name: &str, token: &str) -> Vec<String> {
    let agent = common::Agent {
        hub,
        name: name.into(),
        token: token.into(),
    };
    agent
        .chat(0.0)
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn start(dir: &Path, port: Option<u16>, extra: &[&str]) -> Hub {
    let port = port.map(|p| p.to_string());
    let mut args = vec!["--data-dir", dir.to_str().unwrap(), "--no-rate-limit"];
    if let Some(p) = &port {
        args.extend(["--port", p.as_str()]);
    }
    args.extend(extra);
    Hub::start(&args)
}

#[test]
fn peers_channels_floors_forms_and_mode_survive_a_restart() {
    let dir = data_dir("state");
    let (alpha, beta) = {
        let hub = start(&dir, None, &[]);
        let a = hub.join("alpha");
        let b = hub.join("beta");
        assert_eq!(
            a.post("/channels/join", json!({"channel": "#ops"})).status,
            200
        );
        assert_eq!(
            b.post("/channels/join", json!({"channel": "#ops"})).status,
            200
        );
        assert_eq!(
            a.post(
                "/channels/topic",
                json!({"channel": "#ops", "topic": "the plan"})
            )
            .status,
            200
        );
        assert_eq!(a.floor("take", "#ops")["holder"], "alpha");
        let form = a.post(
            "/ask",
            json!({"title": "ship it?", "fields": [{"key": "ok", "type": "radio", "label": "ok?", "options": ["yes", "no"]}]}),
        );
        assert_eq!(form.status, 200, "{}", form.text);
        assert_eq!(a.say("beta", "kept for you").status, 200);
        assert_eq!(a.say("#ops", "kept for the channel").status, 200);
        assert_eq!(
            b.post("/status", json!({"status": "reviewing"})).status,
            200
        );
        assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
        // Killed without warning: SIGKILL.
        (a.token.clone(), b.token.clone())
    };
    let hub = start(&dir, None, &[]);
    assert_eq!(hub.get("/peers").json()["peers"], json!(["alpha", "beta"]));
    let channels = hub.get("/channels").json();
    assert_eq!(channels["channels"]["#ops"]["topic"], "the plan");
    assert_eq!(
        channels["channels"]["#ops"]["members"],
        json!(["alpha", "beta"])
    );
    assert_eq!(
        hub.get("/floor").json()["floors"]["#ops"]["holder"],
        "alpha"
    );
    let forms = hub.get("/forms").json();
    assert_eq!(forms["forms"][0]["title"], "ship it?");
    assert_eq!(forms["forms"][0]["status"], "pending");
    assert_eq!(hub.ping("beta")["status"], "reviewing");
    let b = common::Agent {
        hub: &hub,
        name: "beta".into(),
        token: beta,
    };
    // Still paused: nothing is handed out until the operator resumes.
    assert_eq!(b.receive_raw("timeout=0").json()["mode"], "paused");
    assert_eq!(hub.control(json!({"action": "resume"})).status, 200);
    let got: Vec<String> = b
        .chat(0.0)
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ["kept for you", "kept for the channel"]);
    // The old token still sends; the export still has the history.
    let a = common::Agent {
        hub: &hub,
        name: "alpha".into(),
        token: alpha,
    };
    assert_eq!(a.say("beta", "after the restart").status, 200);
    let export = hub.get("/export?format=json").json();
    let contents: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(contents.contains(&"kept for you"), "{contents:?}");
    assert!(contents.contains(&"after the restart"), "{contents:?}");
}

/// A data directory holding alpha, beta and three messages to beta;
/// returns it and beta's token.
fn three_messages(name: &str) -> (PathBuf, String) {
    let dir = data_dir(name);
    let hub = start(&dir, None, &[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    for i in 0..3 {
        assert_eq!(a.say("beta", &format!("m{i}")).status, 200);
    }
    (dir, b.token)
}

#[test]
fn a_damaged_journal_is_refused_and_a_torn_tail_is_dropped() {
    // A record cut short at the end: dropped with a warning, the rest loads.
    let (dir, beta) = three_messages("torn");
    let journal = dir.join("journal");
    let mut torn = std::fs::read(&journal).unwrap();
    torn.extend_from_slice(b"0badc0de {\"t\":\"msg\",\"m\":{\"cont");
    std::fs::write(&journal, &torn).unwrap();
    {
        let hub = start(&dir, None, &[]);
        assert_eq!(chat_of(&hub, "beta", &beta), ["m0", "m1", "m2"]);
    }

    // A flipped byte in the middle: refused, with the reason, nothing served.
    let (dir, _) = three_messages("hole");
    let journal = dir.join("journal");
    let mut bytes = std::fs::read(&journal).unwrap();
    let second_line = bytes.iter().position(|b| *b == b'\n').unwrap() + 20;
    bytes[second_line] ^= 0x20;
    std::fs::write(&journal, &bytes).unwrap();
    let err = refused_start(&dir);
    assert!(err.contains("damaged"), "{err}");
}

/// Starts a hub on `dir` that must refuse to start; returns what it said.
fn refused_start(dir: &Path) -> String {
    let out = common::caucus()
        .args(["hub", "--port", "0", "--no-browser", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "it started");
    assert!(out.stdout.is_empty(), "it never listened");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_hub_on_the_same_directory_is_refused_and_the_files_are_private() {
    let dir = data_dir("lock");
    let _hub = start(&dir, None, &[]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for f in ["journal", "snapshot", "lock"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
    }
    let err = refused_start(&dir);
    assert!(err.contains("another hub is using"), "{err}");
}

/// What the busy-room test's threads share.
#[derive(Default)]
struct Ledger {
    /// Message id -> who the hub said it went to, for every 200 to `/send`.
    accepted: HashMap<String, Vec<String>>,
    /// Recipient -> message id -> how many times it came.
    received: BTreeMap<String, HashMap<String, u32>>,
    /// Messages that came again after their ack was answered 200.
    after_ack: Vec<String>,
    /// Messages that came again before any ack covered them (allowed).
    redelivered: u32,
}

struct Shared {
    addr: String,
    ledger: Mutex<Ledger>,
    changed: Condvar,
    sending: AtomicBool,
    receiving: AtomicBool,
}

/// A tiny deterministic generator: the kill points differ per run (seeded
/// from the clock) and are printed, so a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn receiver(shared: &Shared, name: &str, token: &str) {
    let mut acked_through = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.receiving.load(Ordering::Acquire) && Instant::now() < deadline {
        let Some((200, body)) = try_req(
            &shared.addr,
            "GET",
            "/receive?timeout=0.5",
            Some(token),
            None,
        ) else {
            // The hub is down or restarting: try again shortly.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let mut top = 0;
        {
            let mut ledger = shared.ledger.lock().unwrap();
            for m in body["messages"].as_array().into_iter().flatten() {
                let (id, seq) = (
                    m["id"].as_str().unwrap_or("").to_string(),
                    m["seq"].as_u64().unwrap_or(0),
                );
                if seq <= acked_through {
                    ledger.after_ack.push(format!(
                        "{name} got {id} (seq {seq}) after acking {acked_through}"
                    ));
                }
                let seen = ledger
                    .received
                    .entry(name.to_string())
                    .or_default()
                    .entry(id)
                    .or_insert(0);
                *seen += 1;
                if *seen > 1 {
                    ledger.redelivered += 1;
                }
                top = top.max(seq);
            }
            shared.changed.notify_all();
        }
        if top > acked_through
            && let Some((200, _)) = try_req(
                &shared.addr,
                "POST",
                "/ack",
                None,
                Some(&json!({"token": token, "seq": top})),
            )
        {
            acked_through = top;
        }
    }
}

fn sender(shared: &Shared, token: &str, peers: &[String], me: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let mut n = 0;
    while shared.sending.load(Ordering::Acquire) && n < 100_000 {
        n += 1;
        let to = match rng.next(6) {
            0 => "all".to_string(),
            1 => "#room".to_string(),
            _ => peers[(me + 1 + rng.next(peers.len() as u64 - 1) as usize) % peers.len()].clone(),
        };
        let body = json!({"token": token, "to": to, "content": format!("{me}-{n}")});
        match try_req(&shared.addr, "POST", "/send", None, Some(&body)) {
            Some((200, r)) => {
                let id = r["message_id"].as_str().unwrap_or("").to_string();
                let to: Vec<String> = r["delivered_to"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect();
                let mut ledger = shared.ledger.lock().unwrap();
                ledger.accepted.insert(id, to);
                shared.changed.notify_all();
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn accepted(shared: &Shared) -> usize {
    shared.ledger.lock().unwrap().accepted.len()
}

/// Waits (bounded) until at least `n` sends were accepted.
fn wait_accepted(shared: &Shared, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ledger = shared.ledger.lock().unwrap();
    while ledger.accepted.len() < n {
        assert!(
            Instant::now() < deadline,
            "sends stalled at {}",
            ledger.accepted.len()
        );
        ledger = shared
            .changed
            .wait_timeout(ledger, Duration::from_secs(1))
            .unwrap()
            .0;
    }
}

/// Deliveries still missing: (recipient, message id).
fn missing(ledger: &Ledger) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, to) in &ledger.accepted {
        for r in to {
            if !ledger
                .received
                .get(r)
                .is_some_and(|got| got.contains_key(id))
            {
                out.push((r.clone(), id.clone()));
            }
        }
    }
    out
}

#[test]
fn sigkill_at_random_points_loses_nothing_it_confirmed() {
    let dir = data_dir("busy");
    let first = start(&dir, None, &[]);
    let port: u16 = first.addr.rsplit(':').next().unwrap().parse().unwrap();
    let names: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    let tokens: Vec<String> = names
        .iter()
        .map(|n| {
            let a = first.join(n);
            if n != "p4" {
                assert_eq!(
                    a.post("/channels/join", json!({"channel": "#room"})).status,
                    200
                );
            }
            // Acknowledging from the start: exactly once holds for ackers.
            assert_eq!(a.ack(0).status, 200);
            a.token
        })
        .collect();
    let shared = Arc::new(Shared {
        addr: first.addr.clone(),
        ledger: Mutex::default(),
        changed: Condvar::new(),
        sending: AtomicBool::new(true),
        receiving: AtomicBool::new(true),
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    eprintln!("kill-point seed {seed}");

    let mut threads = Vec::new();
    for (i, (n, t)) in names.iter().zip(&tokens).enumerate() {
        let (s, n, t) = (Arc::clone(&shared), n.clone(), t.clone());
        threads.push(std::thread::spawn(move || receiver(&s, &n, &t)));
        if i < 3 {
            let (s, t, all) = (Arc::clone(&shared), tokens[i].clone(), names.clone());
            let seed = seed ^ (i as u64 + 1);
            threads.push(std::thread::spawn(move || sender(&s, &t, &all, i, seed)));
        }
    }

    let mut hub = first;
    let mut kills = 0;
    for _ in 0..4 {
        let at = accepted(&shared) + 50 + rng.next(200) as usize;
        wait_accepted(&shared, at);
        drop(hub); // SIGKILL, then reaped
        kills += 1;
        hub = start(&dir, Some(port), &[]);
    }
    wait_accepted(&shared, accepted(&shared) + 100);
    shared.sending.store(false, Ordering::Release);

    // Every confirmed delivery arrives (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(90);
    {
        let mut ledger = shared.ledger.lock().unwrap();
        while !missing(&ledger).is_empty() && Instant::now() < deadline {
            ledger = shared
                .changed
                .wait_timeout(ledger, Duration::from_secs(1))
                .unwrap()
                .0;
        }
    }
    shared.receiving.store(false, Ordering::Release);
    for t in threads {
        t.join().unwrap();
    }
    let ledger = shared.ledger.lock().unwrap();
    let deliveries: usize = ledger.accepted.values().map(Vec::len).sum();
    eprintln!(
        "{kills} kills, {} messages confirmed, {deliveries} deliveries, {} redelivered before an ack",
        ledger.accepted.len(),
        ledger.redelivered
    );
    let missing = missing(&ledger);
    assert!(
        missing.is_empty(),
        "lost: {:?}",
        &missing[..missing.len().min(10)]
    );
    assert!(ledger.after_ack.is_empty(), "{:?}", ledger.after_ack);
    drop(hub);
}

/// The generation a snapshot continues into.
fn snapshot_gen(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("snapshot")).unwrap();
    let (_, json) = text.trim_end().split_once(' ').unwrap();
    serde_json::from_str::<Value>(json).unwrap()["gen"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_journal_past_its_limit_is_folded_into_a_snapshot() {
    let dir = data_dir("compact");
    let (beta, gen_before) = {
        let hub = start(&dir, None, &["--journal-limit", "0.01"]);
        let gen_before = snapshot_gen(&dir);
        let a = hub.join("alpha");
        let b = hub.join("beta");
        assert_eq!(b.ack(0).status, 200);
        for i in 0..200 {
            assert_eq!(a.say("beta", &format!("m{i}")).status, 200);
        }
        // Half of them read and acknowledged before the kill.
        let got = b.receive(0.0);
        assert_eq!(got.len(), 200);
        assert_eq!(b.ack(got[99]["seq"].as_u64().unwrap()).status, 200);
        (b.token.clone(), gen_before)
    };
    assert!(
        snapshot_gen(&dir) >= gen_before + 2,
        "about 50 KiB of records, 10 KiB per journal: several folds ({} then {})",
        gen_before,
        snapshot_gen(&dir)
    );
    assert!(std::fs::metadata(dir.join("journal")).unwrap().len() < 64 * 1024);
    let hub = start(&dir, None, &[]);
    let got = chat_of(&hub, "beta", &beta);
    let want: Vec<String> = (100..200).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want, "the unacknowledged half, once each, in order");
}

#[test]
fn a_journal_older_than_the_snapshot_is_skipped_not_replayed_twice() {
    let (dir, beta) = three_messages("midfold");
    // The journal as a crash would leave it between writing a new snapshot
    // and emptying the journal: the next start folds it into a snapshot of
    // the next generation; putting the old journal back recreates that.
    let old = std::fs::read(dir.join("journal")).unwrap();
    drop(start(&dir, None, &[]));
    std::fs::write(dir.join("journal"), &old).unwrap();
    let hub = start(&dir, None, &[]);
    assert_eq!(
        chat_of(&hub, "beta", &beta),
        ["m0", "m1", "m2"],
        "once each"
    );
}

/// Runs `change` (its last request is the change under test) on a hub
/// with a data directory, kills the hub with SIGKILL right after, restarts
/// it on the same directory and hands the new hub to `check`.
fn survives<T>(name: &str, change: impl FnOnce(&Hub) -> T, check: impl FnOnce(&Hub, T)) {
    let dir = data_dir(&format!("last-{name}"));
    let kept = {
        let hub = start(&dir, None, &[]);
        change(&hub)
        // Dropping the hub kills it with SIGKILL.
    };
    let hub = start(&dir, None, &[]);
    check(&hub, kept);
}

fn agent<'h>(hub: &'h Hub, name: &str, token: &str) -> common::Agent<'h> {
    common::Agent {
        hub,
        name: name.into(),
        token: token.into(),
    }
}

fn ok(r: common::Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn form_body() -> Value {
    json!({"title": "ship it?", "fields": [
        {"key": "ok", "type": "radio", "label": "ok?", "options": ["yes", "no"]}]})
}

#[test]
fn each_kind_of_change_survives_a_kill_right_after_it() {
    survives(
        "register",
        |hub| hub.join("alpha").token,
        |hub, token| {
            assert_eq!(hub.peers(), ["alpha"]);
            assert_eq!(agent(hub, "alpha", &token).say("all", "back").status, 200);
        },
    );
    survives(
        "status",
        |hub| ok(hub.join("alpha").post("/status", json!({"status": "busy"}))),
        |hub, _| assert_eq!(hub.ping("alpha")["status"], "busy"),
    );
    survives(
        "join-topic",
        |hub| {
            let a = hub.join("alpha");
            ok(a.post("/channels/join", json!({"channel": "#ops"})));
            ok(a.post(
                "/channels/topic",
                json!({"channel": "#ops", "topic": "plan"}),
            ))
        },
        |hub, _| {
            let ch = hub.get("/channels").json()["channels"]["#ops"].clone();
            assert_eq!(ch["members"], json!(["alpha"]));
            assert_eq!(ch["topic"], "plan");
        },
    );
    survives(
        "channel-leave",
        |hub| {
            let a = hub.join("alpha");
            hub.join("beta");
            ok(a.post("/channels/join", json!({"channel": "#ops"})));
            ok(a.post(
                "/channels/topic",
                json!({"channel": "#ops", "topic": "plan"}),
            ));
            ok(a.post("/channels/leave", json!({"channel": "#ops"})))
        },
        |hub, _| assert_eq!(hub.get("/channels").json()["channels"], json!({})),
    );
    survives(
        "floor-verbs",
        |hub| {
            let a = hub.join("alpha");
            let b = hub.join("beta");
            let c = hub.join("gamma");
            a.floor("take", "all");
            b.floor("raise", "all");
            c.floor("raise", "all");
            c.floor("lower", "all");
            a.floor("pass", "all")
        },
        |hub, _| {
            let f = hub.get("/floor").json()["floors"]["all"].clone();
            assert_eq!(f["holder"], "beta");
            assert_eq!(f["hands"], json!([]));
        },
    );
    survives(
        "floor-drop",
        |hub| {
            let a = hub.join("alpha");
            a.floor("take", "all");
            a.floor("drop", "all")
        },
        |hub, _| assert_eq!(hub.get("/floor").json()["floors"], json!({})),
    );
    survives(
        "ask",
        |hub| ok(hub.join("alpha").post("/ask", form_body()))["form_id"].clone(),
        |hub, id| {
            let forms = hub.get("/forms").json()["forms"].clone();
            assert_eq!(forms[0]["id"], id, "{forms}");
        },
    );
    survives(
        "answer",
        |hub| {
            let a = hub.join("alpha");
            let id = ok(a.post("/ask", form_body()))["form_id"].clone();
            let answer = json!({"action": "answer_form", "id": id, "answers": {"ok": "yes"}});
            ok(hub.control(answer));
            a.token
        },
        |hub, token| {
            assert_eq!(hub.get("/forms").json()["forms"], json!([]));
            let got = agent(hub, "alpha", &token).receive(0.0);
            assert_eq!(got[0]["kind"], "answer");
            assert_eq!(got[0]["meta"]["answers"]["ok"], "yes");
        },
    );
    survives(
        "cancel",
        |hub| {
            let a = hub.join("alpha");
            let id = ok(a.post("/ask", form_body()))["form_id"].clone();
            ok(hub.control(json!({"action": "cancel_form", "id": id})))
        },
        |hub, _| assert_eq!(hub.get("/forms").json()["forms"], json!([])),
    );
    survives(
        "stop",
        |hub| {
            let a = hub.join("alpha");
            a.floor("take", "all");
            ok(hub.control(json!({"action": "stop"})));
            a.token
        },
        |hub, token| {
            let r = agent(hub, "alpha", &token).receive_raw("timeout=0").json();
            assert_eq!(r["mode"], "stopped");
            assert_eq!(r["messages"][0]["content"], "stop");
            assert_eq!(hub.get("/floor").json()["floors"], json!({}));
        },
    );
    survives(
        "pause-peer",
        |hub| {
            let a = hub.join("alpha");
            let b = hub.join("beta");
            ok(a.say("beta", "held"));
            ok(hub.control(json!({"action": "pause_peer", "peer": "beta"})));
            b.token
        },
        |hub, token| {
            let b = agent(hub, "beta", &token);
            assert!(b.chat(0.0).is_empty(), "beta is still paused");
            ok(hub.control(json!({"action": "resume_peer", "peer": "beta"})));
            assert_eq!(b.chat(0.0)[0]["content"], "held");
        },
    );
    survives(
        "kick",
        |hub| {
            let a = hub.join("alpha");
            a.floor("take", "all");
            ok(hub.control(json!({"action": "kick", "peer": "alpha"})));
            a.token
        },
        |hub, token| {
            assert!(hub.peers().is_empty());
            assert_eq!(agent(hub, "alpha", &token).say("all", "x").status, 401);
            assert_eq!(hub.get("/floor").json()["floors"], json!({}));
        },
    );
    survives(
        "interrupt",
        |hub| {
            let a = hub.join("alpha");
            ok(hub.control(json!({"action": "pause"})));
            ok(hub.control(json!({"action": "interrupt", "peer": "alpha", "content": "halt"})));
            a.token
        },
        |hub, token| {
            // Both doors still hand it over: the gate once, the poll once.
            let a = agent(hub, "alpha", &token);
            let gate = ok(a.post("/gate", json!({})));
            assert_eq!(gate["allow"], false);
            assert_eq!(gate["interrupt"]["content"], "halt");
            let heard = a.receive(5.0);
            assert_eq!(heard.len(), 1, "{heard:?}");
            assert_eq!(heard[0]["content"], "halt");
            assert_eq!(heard[0]["meta"]["interrupt"], true);
        },
    );
    survives(
        "leave",
        |hub| {
            let a = hub.join("alpha");
            ok(a.post("/leave", json!({})));
            a.token
        },
        |hub, token| {
            assert!(hub.peers().is_empty());
            assert_eq!(agent(hub, "alpha", &token).say("all", "x").status, 401);
        },
    );
}

#[test]
fn requests_with_a_bad_token_write_nothing_to_the_journal() {
    let dir = data_dir("bogus");
    let hub = start(&dir, None, &[]);
    let a = hub.join("alpha");
    ok(a.post("/channels/join", json!({"channel": "#ops"})));
    let size = || std::fs::metadata(dir.join("journal")).unwrap().len();
    let before = size();
    let bogus = agent(&hub, "alpha", "not-a-token");
    for (path, body) in [
        ("/status", json!({"status": "x"})),
        ("/floor", json!({"action": "take", "scope": "all"})),
        ("/ask", form_body()),
        ("/channels/leave", json!({"channel": "#ops"})),
        ("/channels/topic", json!({"channel": "#ops", "topic": "x"})),
        ("/channels/join", json!({"channel": "#ops"})),
        ("/send", json!({"to": "all", "content": "x"})),
        ("/ack", json!({"seq": 1})),
        ("/leave", json!({})),
    ] {
        assert_eq!(bogus.post(path, body).status, 401, "{path}");
    }
    assert_eq!(
        size(),
        before,
        "a request with a bad token wrote to the journal"
    );
}
