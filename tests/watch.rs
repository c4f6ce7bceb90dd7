//! `caucus watch` as a real process: its stdout lines, its acknowledgements
//! and each of its exit codes.

mod common;

use std::process::{Command, Output, Stdio};

use common::Hub;
use serde_json::{Value, json};

fn watch(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = common::caucus();
    cmd.arg("watch")
        .args(args)
        .env_remove("CAUCUS_TOKEN")
        .env_remove("CAUCUS_HUB_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts a watcher for `name`, waits until it polls, runs `act`, returns its output.
fn run_while(hub: &Hub, name: &str, mut cmd: Command, act: impl FnOnce()) -> Output {
    let child = cmd.spawn().expect("start caucus watch");
    hub.wait_for_peer(name, |p| p["listening"] == true);
    act();
    child.wait_with_output().expect("watcher output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn prints_each_message_acknowledges_and_exits_0() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let cmd = watch(&["--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "first line");
    });
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: first line\n");
    // What it printed was acknowledged: nothing comes back.
    assert!(b.receive(0.2).is_empty());
}

#[test]
fn the_operators_stop_prints_the_stop_line_and_exits_3() {
    let hub = Hub::start(&[]);
    let b = hub.join("beta");
    let cmd = watch(&["--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        hub.control(json!({"action": "stop"}));
    });
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stdout(&out),
        "[caucus] STOP -- operator stopped the room; watcher exiting.\n"
    );
}

#[test]
fn json_mode_prints_one_object_per_line() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let cmd = watch(&["--json", "--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        a.say("all", "multi\nline");
    });
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["content"], "multi\nline");
    assert_eq!(lines[0]["sender"], "alpha");
}

#[test]
fn a_rejected_token_exits_1() {
    let hub = Hub::start(&[]);
    let out = watch(&["--hub", &hub.url(), "--token", "bogus"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[test]
fn usage_errors_exit_2() {
    let hub = Hub::start(&[]);
    for args in [
        vec!["--hub", "nonsense", "--token", "t"],
        vec!["--hub", "http://192.0.2.10:8765", "--token", "t"],
        vec!["--hub", &hub.url()],
        vec!["--hub", &hub.url(), "--token-file", "/nonexistent/token"],
        vec!["--hub", &hub.url(), "--token", "t", "--timeout", "soon"],
        vec!["--frobnicate"],
    ] {
        let out = watch(&args, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
}

#[test]
fn the_token_comes_from_flag_then_file_then_environment() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let path = std::env::temp_dir().join(format!("caucus-watch-token-{}", std::process::id()));
    std::fs::write(&path, format!("{}\n", b.token)).unwrap();
    let file = path.to_str().unwrap();
    // The file is used when no --token is given, and wins over the environment.
    let cmd = watch(
        &["--hub", &hub.url(), "--token-file", file],
        &[("CAUCUS_TOKEN", "bogus")],
    );
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "via file");
    });
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: via file\n");
    // --token wins over a bad file.
    std::fs::write(&path, "bogus").unwrap();
    let cmd = watch(
        &[
            "--hub",
            &hub.url(),
            "--token",
            &b.token,
            "--token-file",
            file,
        ],
        &[],
    );
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "via flag");
    });
    assert_eq!(out.status.code(), Some(0));
    // The environment, and CAUCUS_HUB_URL, when nothing else is given.
    let cmd = watch(
        &[],
        &[("CAUCUS_TOKEN", &b.token), ("CAUCUS_HUB_URL", &hub.url())],
    );
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "via env");
    });
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: via env\n");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn an_unreachable_hub_is_retried_then_given_up_with_exit_4() {
    let url = common::dead_url();
    let out = watch(&["--hub", &url, "--token", "t", "--give-up", "1"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "{err}");
    assert!(err.contains("giving up"), "{err}");
}

#[test]
fn a_watcher_killed_mid_poll_loses_nothing() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let mut first = watch(&["--hub", &hub.url(), "--token", &b.token], &[])
        .spawn()
        .unwrap();
    hub.wait_for_peer("beta", |p| p["listening"] == true);
    first.kill().unwrap();
    first.wait().unwrap();
    // The hub still holds the dead watcher's poll: this message goes to it.
    a.say("beta", "do not lose me");
    hub.wait_for_peer("beta", |p| p["listening"] == false);
    let out = watch(&["--hub", &hub.url(), "--token", &b.token], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: do not lose me\n");
}

/// A stand-in for Codex's app-server on its control socket, playing the
/// documented contract: WebSocket over a Unix socket, one JSON-RPC object
/// per text frame (no `jsonrpc` member), `initialize` then `initialized`,
/// `thread/read` with the thread's status, `turn/start`.
#[cfg(unix)]
struct FakeCodex {
    status: std::sync::Arc<std::sync::Mutex<&'static str>>,
    /// Each turn/start's text, and each "active" status answered.
    events: std::sync::mpsc::Receiver<(String, String)>,
}

#[cfg(unix)]
impl FakeCodex {
    fn start(home: &std::path::Path, thread: &'static str) -> FakeCodex {
        use std::os::unix::net::UnixListener;
        let dir = home.join("app-server-control");
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("app-server-control.sock")).unwrap();
        let status = std::sync::Arc::new(std::sync::Mutex::new("idle"));
        let (tx, events) = std::sync::mpsc::channel();
        let shared = std::sync::Arc::clone(&status);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(50) {
                let Ok(stream) = stream else { return };
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    continue;
                };
                let mut initialized = false;
                while let Ok(frame) = ws.read() {
                    let tungstenite::Message::Text(text) = frame else {
                        continue;
                    };
                    let m: Value = serde_json::from_str(text.as_str()).unwrap();
                    assert!(
                        m.get("jsonrpc").is_none(),
                        "the app-server omits jsonrpc: {m}"
                    );
                    let result = match m["method"].as_str().unwrap_or_default() {
                        "initialize" => {
                            assert_eq!(m["params"]["clientInfo"]["name"], "caucus-watch");
                            json!({"userAgent": "fake"})
                        }
                        "initialized" => {
                            initialized = true;
                            continue;
                        }
                        "thread/read" => {
                            assert!(initialized, "initialized comes first");
                            assert_eq!(m["params"]["threadId"], thread);
                            let s = *shared.lock().unwrap();
                            if s == "active" {
                                let _ = tx.send(("busy".into(), String::new()));
                            }
                            json!({"thread": {"id": thread, "status": {"type": s}}})
                        }
                        "turn/start" => {
                            assert_eq!(m["params"]["threadId"], thread);
                            let text = m["params"]["input"][0]["text"].as_str().unwrap();
                            let _ = tx.send(("turn".into(), text.to_string()));
                            json!({"turn": {"id": "turn_1", "status": "inProgress"}})
                        }
                        other => panic!("unexpected method {other}"),
                    };
                    // A notification on the way, as a live server sends.
                    let note = json!({"method": "thread/status/changed", "params": {}});
                    ws.send(tungstenite::Message::text(note.to_string()))
                        .unwrap();
                    let answer = json!({"id": m["id"], "result": result});
                    ws.send(tungstenite::Message::text(answer.to_string()))
                        .unwrap();
                }
            }
        });
        FakeCodex { status, events }
    }

    fn next(&self) -> (String, String) {
        self.events
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the fake app-server heard nothing")
    }
}

#[cfg(unix)]
#[test]
fn in_codex_push_mode_messages_start_turns_and_the_watcher_keeps_watching() {
    let hub = Hub::start(&[]);
    let alpha = hub.join("alpha");
    let bravo = hub.join("bravo");
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("codex-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let codex = FakeCodex::start(&home, "thr_1");
    let home_str = home.to_str().unwrap();
    let mut child = watch(
        &[
            "--hub",
            &hub.url(),
            "--token",
            &alpha.token,
            "--push",
            "codex",
        ],
        &[("CODEX_HOME", home_str), ("CODEX_THREAD_ID", "thr_1")],
    )
    .spawn()
    .unwrap();
    hub.wait_for_peer("alpha", |p| p["listening"] == true);

    // An idle session: the batch starts a turn, and the watcher goes on.
    assert_eq!(bravo.say("alpha", "first").status, 200);
    let (kind, text) = codex.next();
    assert_eq!(kind, "turn");
    assert!(text.starts_with("[caucus] New messages"), "{text}");
    assert!(
        text.contains("[caucus] msg bravo -> alpha: first"),
        "{text}"
    );
    // Acknowledged once the turn was accepted; the watcher listens again.
    hub.wait_for_peer("alpha", |p| p["listening"] == true && p["waiting"] == 0);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the watcher keeps running"
    );

    // A busy session: the batch waits for the turn to end.
    *codex.status.lock().unwrap() = "active";
    assert_eq!(bravo.say("alpha", "second").status, 200);
    assert_eq!(codex.next().0, "busy");
    *codex.status.lock().unwrap() = "idle";
    let (kind, text) = loop {
        let e = codex.next();
        if e.0 != "busy" {
            break e;
        }
    };
    assert_eq!(kind, "turn");
    assert!(text.contains("bravo -> alpha: second"), "{text}");

    // A thread the app-server cannot take input for: printed, exit 0.
    *codex.status.lock().unwrap() = "notLoaded";
    hub.wait_for_peer("alpha", |p| p["listening"] == true && p["waiting"] == 0);
    assert_eq!(bravo.say("alpha", "third").status, 200);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "[caucus] msg bravo -> alpha: third\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("thread is notLoaded"), "{err}");
}

#[test]
fn push_mode_outside_codex_prints_and_exits_as_usual() {
    let hub = Hub::start(&[]);
    let alpha = hub.join("alpha");
    let bravo = hub.join("bravo");
    let mut cmd = watch(&["--hub", &hub.url(), "--token", &alpha.token], &[]);
    cmd.env("CAUCUS_CODEX_PUSH", "1")
        .env_remove("CODEX_THREAD_ID");
    let out = run_while(&hub, "alpha", cmd, || {
        assert_eq!(bravo.say("alpha", "hello").status, 200);
    });
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "[caucus] msg bravo -> alpha: hello\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside a Codex session"));
    let bad = watch(&["--token", "x", "--push", "gemini"], &[])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn an_interrupt_reaches_a_watcher_through_a_pause_as_the_operators_word() {
    let hub = Hub::start(&[]);
    let b = hub.join("beta");
    let a = hub.join("alpha");
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    assert_eq!(a.say("beta", "held by the pause").status, 200);
    let cmd = watch(&["--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        let r = hub
            .control(json!({"action": "interrupt", "peer": "beta", "content": "stop and report"}));
        assert_eq!(r.status, 200);
    });
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "[caucus] msg human -> beta: stop and report\n"
    );
}

#[test]
fn a_hub_notice_alone_never_wakes_the_agent_it_rides_along_with_a_message() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let cmd = watch(&["--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        // "alpha took the talking stick": a notice queued for beta. The
        // watcher takes it, acknowledges it and listens on.
        assert_eq!(a.floor("take", "all")["ok"], true);
        hub.wait_for_peer("beta", |p| p["listening"] == true && p["waiting"] == 0);
        assert_eq!(a.floor("drop", "all")["ok"], true);
        hub.wait_for_peer("beta", |p| p["listening"] == true && p["waiting"] == 0);
        a.say("beta", "a real message");
    });
    assert_eq!(out.status.code(), Some(0));
    let printed = stdout(&out);
    assert_eq!(
        printed.lines().last(),
        Some("[caucus] msg alpha -> beta: a real message"),
        "{printed}"
    );
}
