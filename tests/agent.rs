//! `caucus agent` as a real process whose `--exec` is a small script: two of
//! them converse, wait out the rate limit, and leave on the operator's stop.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Hub;
use serde_json::json;

fn counter() -> String {
    format!("sh {}/tests/scripts/counter.sh", env!("CARGO_MANIFEST_DIR"))
}

fn agent(hub: &Hub, name: &str, extra: &[&str]) -> Child {
    agent_running(hub, name, &counter(), extra)
}

/// `caucus agent` whose `--exec` is `exec`.
fn agent_running(hub: &Hub, name: &str, exec: &str, extra: &[&str]) -> Child {
    common::caucus()
        .args(["agent", "--hub", &hub.url(), "--name", name, "--exec", exec])
        .args(extra)
        .env_remove("CAUCUS_PROJECT")
        .env_remove("CAUCUS_MISSION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start caucus agent")
}

/// Waits (at most 60 s) for a child to exit; its code and stderr.
fn finish(child: Child) -> (Option<i32>, String) {
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The chat messages of the room's log, as (sender, content).
fn chat(hub: &Hub) -> Vec<(String, String)> {
    hub.log()
        .into_iter()
        .filter(|m| m["kind"] == "message")
        .map(|m| {
            (
                m["sender"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn two_agents_converse_and_wait_out_the_rate_limit() {
    let hub = Hub::start(&[]);
    let b = agent(&hub, "bravo", &["--max-replies", "7"]);
    hub.wait_for_peer("bravo", |p| p["listening"] == true);
    let a = agent(
        &hub,
        "alpha",
        &["--max-replies", "7", "--mission", "count 0"],
    );
    let (code_a, err_a) = finish(a);
    let (code_b, err_b) = finish(b);
    assert_eq!(code_a, Some(0), "{err_a}");
    assert_eq!(code_b, Some(0), "{err_b}");
    let said = chat(&hub);
    let expected: Vec<(String, String)> = (1..=14)
        .map(|n| {
            (
                if n % 2 == 1 { "alpha" } else { "bravo" }.to_string(),
                format!("count {n}"),
            )
        })
        .collect();
    assert_eq!(said, expected, "the conversation lost or reordered a turn");
    // Seven sends in a burst of five: the rest waited for the bucket.
    assert!(
        err_a.contains("rate limited") || err_b.contains("rate limited"),
        "no wait was needed? {err_a}\n{err_b}"
    );
    // A direct reply goes to the sender, the mission to everyone.
    let log = hub.log();
    let first = log.iter().find(|m| m["content"] == "count 1").unwrap();
    assert_eq!(first["recipient"], "all");
    let second = log.iter().find(|m| m["content"] == "count 2").unwrap();
    assert_eq!(second["recipient"], "alpha");
}

#[test]
fn agents_leave_on_the_operators_stop() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let b = agent(&hub, "bravo", &[]);
    hub.wait_for_peer("bravo", |p| p["listening"] == true);
    let a = agent(&hub, "alpha", &["--mission", "count 0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !chat(&hub).iter().any(|(_, c)| c == "count 6") {
        assert!(Instant::now() < deadline, "they never got to count 6");
        std::thread::sleep(Duration::from_millis(10));
    }
    hub.control(json!({"action": "stop"}));
    assert_eq!(finish(a).0, Some(3));
    assert_eq!(finish(b).0, Some(3));
    assert!(hub.peers().is_empty(), "they left");
}

#[test]
fn a_channel_message_is_answered_in_the_channel_and_a_direct_one_to_its_sender() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let b = agent(&hub, "bravo", &["--max-replies", "2", "--join", "#ops"]);
    hub.wait_for_peer("bravo", |p| p["listening"] == true);
    let peer = hub.join("charlie");
    assert_eq!(peer.say("#ops", "count 41").status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !chat(&hub).iter().any(|(_, c)| c == "count 42") {
        assert!(Instant::now() < deadline, "no reply in the channel");
        std::thread::sleep(Duration::from_millis(10));
    }
    hub.control(json!({"action": "say", "to": "bravo", "content": "count 99"}));
    let (code, err) = finish(b);
    assert_eq!(code, Some(0), "{err}");
    let log = hub.log();
    let in_channel = log.iter().find(|m| m["content"] == "count 42").unwrap();
    assert_eq!(in_channel["recipient"], "#ops");
    let to_operator = log
        .iter()
        .find(|m| m["content"] == "count 100")
        .expect("a reply");
    assert_eq!(to_operator["recipient"], "human");
}

#[test]
fn bad_usage_and_a_taken_name_have_their_exit_codes() {
    let hub = Hub::start(&[]);
    let out = common::caucus()
        .args(["agent", "--name", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dead = common::dead_url();
    let out = common::caucus()
        .args(["agent", "--hub", &dead, "--name", "x", "--exec", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let _holder = hub.join("taken-name");
    let out = common::caucus()
        .args([
            "agent",
            "--hub",
            &hub.url(),
            "--name",
            "hub",
            "--exec",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a reserved name is refused");
}

#[test]
fn a_killed_agent_restarts_under_its_name_and_a_second_one_is_refused() {
    let hub = Hub::start(&[]);
    let mut first = agent(&hub, "solo", &[]);
    hub.wait_for_peer("solo", |p| p["listening"] == true);
    // A second agent under the same name on this machine is refused at once.
    let (code, err) = finish(agent(&hub, "solo", &[]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("another caucus process"), "{err}");
    // Killed without a chance to leave: its name stays in the room...
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(hub.ping("solo")["state"], "live");
    // ...and a new start presents the kept token and takes it back.
    let again = agent(&hub, "solo", &[]);
    hub.wait_for_peer("solo", |p| p["listening"] == true);
    assert_eq!(hub.control(json!({"action": "stop"})).status, 200);
    let (code, err) = finish(again);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("joined as solo"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_command_past_its_timeout_is_ended_with_everything_it_started() {
    let hub = Hub::start(&[]);
    let dir = common::state_dir().with_extension("exec-tree");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("grandchild.pid");
    // The command starts a long-lived process of its own and waits on it.
    let exec = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let child = agent_running(&hub, "slow", &exec, &["--exec-timeout", "1"]);
    hub.wait_for_peer("slow", |p| p["listening"] == true);
    let a = hub.join("alpha");
    assert_eq!(a.say("slow", "think hard").status, 200);
    // Wait (bounded) for the grandchild to exist, then to be gone.
    let pid = (0..600)
        .find_map(|_| {
            let text = std::fs::read_to_string(&pidfile).unwrap_or_default();
            let pid = text.trim().parse::<i32>().ok();
            if pid.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            pid
        })
        .expect("the command never started its process");
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = || unsafe { libc::kill(pid, 0) } == 0;
    let ended = (0..1200).any(|_| {
        let gone = !alive();
        if !gone {
            std::thread::sleep(Duration::from_millis(50));
        }
        gone
    });
    assert!(ended, "the command's own process outlived the timeout");
    assert_eq!(hub.control(json!({"action": "stop"})).status, 200);
    let (code, err) = finish(child);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("ran past --exec-timeout"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_operators_interrupt_ends_the_running_command_and_a_reset_starts_afresh() {
    let hub = Hub::start(&[]);
    let dir = common::state_dir().with_extension("exec-interrupt");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("work.pid");
    // Long work on "think hard"; on the operator's words, an answer that
    // names the session the command runs in.
    let exec = format!(
        "input=$(cat); case \"$input\" in \
           *'look up'*) echo \"heard: look up in $CAUCUS_SESSION\";; \
           *'start afresh'*) echo \"fresh in $CAUCUS_SESSION\";; \
           *) sleep 300 & echo $! > {}; wait;; esac",
        pidfile.display()
    );
    let child = agent_running(&hub, "worker", &exec, &[]);
    hub.wait_for_peer("worker", |p| p["listening"] == true);
    let mut feed = common::Feed::open(&hub, "", None).unwrap();
    let a = hub.join("alpha");
    assert_eq!(a.say("worker", "think hard").status, 200);
    let started = |old: Option<i32>| {
        (0..600)
            .find_map(|_| {
                let text = std::fs::read_to_string(&pidfile).unwrap_or_default();
                let pid = text.trim().parse::<i32>().ok().filter(|p| Some(*p) != old);
                if pid.is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                pid
            })
            .expect("the command never started its work")
    };
    let gone = |pid: i32| {
        // SAFETY: signal 0 only asks whether the process exists.
        (0..1200).any(|_| {
            let gone = unsafe { libc::kill(pid, 0) } != 0;
            if !gone {
                std::thread::sleep(Duration::from_millis(50));
            }
            gone
        })
    };
    let first = started(None);

    // The interrupt ends the running command (and what it started) and
    // starts a turn with the operator's words; the answer goes to human.
    let r = hub.control(json!({"action": "interrupt", "peer": "worker", "content": "look up"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let said = feed.until("message", |e| e["message"]["sender"] == "worker");
    let text = said["message"]["content"].as_str().unwrap().to_string();
    assert!(text.starts_with("heard: look up in "), "{text}");
    assert_eq!(said["message"]["recipient"], "human");
    assert!(gone(first), "the interrupted work outlived the interrupt");
    let before = text.trim_start_matches("heard: look up in ").to_string();

    // What it cut short comes back (nothing lost): the work starts again.
    let second = started(Some(first));

    // A reset ends it too, and the next turn runs in a fresh session.
    let r = hub.control(json!({"action": "reset_peer", "peer": "worker"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let said = feed.until("message", |e| e["message"]["sender"] == "worker");
    let text = said["message"]["content"].as_str().unwrap().to_string();
    let after = text.trim_start_matches("fresh in ").to_string();
    assert!(text.starts_with("fresh in "), "{text}");
    assert_ne!(before, after, "a reset gives a fresh session id");
    assert!(gone(second));

    // The stop ends the command it finds running, and the agent.
    let third = started(Some(second));
    assert_eq!(hub.control(json!({"action": "stop"})).status, 200);
    let (code, err) = finish(child);
    assert_eq!(code, Some(3), "{err}");
    assert!(gone(third));
    assert!(err.contains("the operator cut"), "{err}");
    assert!(err.contains("starts afresh"), "{err}");
}

#[cfg(unix)]
#[test]
fn each_runtime_is_run_headless_and_its_json_read_for_the_reply() {
    for runtime in ["claude", "codex", "gemini"] {
        let hub = Hub::start(&[]);
        let bob = hub.join("bob");
        let (bin, log) = common::standins(runtime);
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let seat = common::caucus()
            .args([
                "agent",
                "--hub",
                &hub.url(),
                "--name",
                "seat",
                "--runtime",
                runtime,
            ])
            .args(["--model", "m-1", "--max-replies", "2"])
            .env("PATH", &path)
            .env("STANDIN_LOG", &log)
            .env("CAUCUS_OPERATOR_TOKEN", "never-passed-on")
            .env_remove("CAUCUS_PROJECT")
            .env_remove("CAUCUS_MISSION")
            .current_dir(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        hub.wait_for_peer("seat", |p| p["listening"] == true);
        assert_eq!(bob.say("seat", "first question").status, 200);
        let first = bob.chat(30.0);
        assert_eq!(
            first[0]["content"],
            format!("reply 1 from {runtime}"),
            "{first:?}"
        );
        assert_eq!(bob.say("seat", "second question").status, 200);
        let second = bob.chat(30.0);
        assert_eq!(second[0]["content"], format!("reply 2 from {runtime}"));
        let (code, err) = finish(seat);
        assert_eq!(code, Some(0), "{err}");
        let read = |n: u32, what: &str| {
            std::fs::read_to_string(log.join(format!("{runtime}.{n}.{what}"))).unwrap()
        };
        assert!(
            read(1, "prompt").contains("first question"),
            "the prompt on stdin"
        );
        assert!(read(2, "prompt").contains("second question"));
        let args = read(2, "args");
        assert!(args.lines().any(|a| a == "--model=m-1"), "{args}");
        let expected = match runtime {
            "claude" => "--output-format",
            "codex" => "--json",
            _ => "--output-format",
        };
        assert!(args.lines().any(|a| a == expected), "{args}");
        // Claude Code resumes the conversation's session.
        assert_eq!(
            args.lines().any(|a| a == "--resume=sess-1"),
            runtime == "claude",
            "{args}"
        );
        let env = read(1, "env");
        assert!(env.contains("CAUCUS_REPLY_TO=bob"), "{env}");
        assert!(
            !env.contains("never-passed-on"),
            "no secret reaches the CLI: {env}"
        );
        assert!(err.contains("tokens in"), "the turn's usage is said: {err}");
        if runtime == "claude" {
            assert!(err.contains("$0.0125"), "{err}");
        }
    }
}
