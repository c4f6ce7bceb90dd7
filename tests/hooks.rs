//! `caucus setup claude` and `caucus hook`, played as Claude Code plays
//! them: setup wires a temporary git repository; the bridge is started
//! exactly as `.mcp.json` says (command, args, env, working directory) and
//! driven over stdio; each installed hook command is run through the shell
//! in the repository with the event JSON the hooks reference documents on
//! stdin, and what it prints is what the host would read.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bridge, Feed, Hub, caucus, state_dir};
use serde_json::{Value, json};

/// A fresh directory under the test's temporary folder.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hooks-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with `stdin`, giving it at most 120 s.
fn run(mut cmd: Command, stdin: &str) -> Ran {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start");
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    let _ = out.read_to_string(&mut stdout);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: reader.join().unwrap(),
    }
}

/// The HOME a repository's user has in these tests (the hosts' own
/// records of trust live there).
fn user_home(dir: &Path) -> std::path::PathBuf {
    let home = dir.with_file_name(format!(
        "{}-home",
        dir.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&home).unwrap();
    home
}

fn doctor(dir: &Path, extra: &[&str]) -> Ran {
    let mut cmd = caucus();
    cmd.arg("doctor")
        .args(extra)
        .current_dir(dir)
        .env("HOME", user_home(dir))
        .env_remove("CODEX_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CAUCUS_HUB_URL");
    run(cmd, "")
}

/// What the user does once by hand in each host, written as the host
/// writes it: Claude Code's trust dialog and server approval, Codex's
/// project trust and hook review, Gemini CLI's folder trust.
fn user_trusts(dir: &Path) {
    let home = user_home(dir);
    let key = dir.canonicalize().unwrap().display().to_string();
    let claude = json!({"projects": {&key: {"hasTrustDialogAccepted": true,
                                           "enabledMcpjsonServers": ["caucus"]}}});
    std::fs::write(home.join(".claude.json"), claude.to_string()).unwrap();
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::write(
        home.join(".codex/config.toml"),
        format!(
            "[projects.\"{key}\"]\ntrust_level = \"trusted\"\n\n\
             [hooks.state.\"{key}/.codex/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:00\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(home.join(".gemini")).unwrap();
    std::fs::write(
        home.join(".gemini/trustedFolders.json"),
        json!({&key: "TRUST_FOLDER"}).to_string(),
    )
    .unwrap();
}

fn setup(dir: &Path, extra: &[&str]) -> Ran {
    let mut cmd = caucus();
    cmd.args(["setup", "claude"]).args(extra).current_dir(dir);
    run(cmd, "")
}

/// The hook command setup installed for `event`.
fn hook_command(repo: &Path, event: &str) -> String {
    let settings = read_json(&repo.join(".claude/settings.json"));
    let groups = settings["hooks"][event].as_array().unwrap();
    let ours: Vec<&str> = groups
        .iter()
        .flat_map(|g| g["hooks"].as_array().unwrap())
        .filter_map(|h| h["command"].as_str())
        .filter(|c| c.contains(" hook "))
        .collect();
    assert_eq!(ours.len(), 1, "{settings}");
    ours[0].to_string()
}

/// Runs a hook command as the host does: through the shell, in the
/// repository, the event JSON on stdin.
fn run_hook(repo: &Path, command: &str, event: &Value) -> Ran {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", command])
        .current_dir(repo)
        .env("CAUCUS_STATE_DIR", state_dir())
        .env_remove("CAUCUS_PROJECT")
        .env_remove("CAUCUS_HUB_URL");
    let ran = run(cmd, &event.to_string());
    assert_eq!(ran.code, 0, "a hook always exits 0: {}", ran.stderr);
    ran
}

/// The event Claude Code sends a hook (common fields and the event's own).
fn event(repo: &Path, name: &str, extra: Value) -> Value {
    let mut e = json!({
        "session_id": "test-session",
        "transcript_path": repo.join("transcript.jsonl"),
        "cwd": repo,
        "permission_mode": "default",
        "hook_event_name": name,
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// Starts the bridge exactly as `.mcp.json` says.
fn bridge_from_config(repo: &Path) -> Bridge {
    let config = read_json(&repo.join(".mcp.json"));
    bridge_from_entry(repo, &config["mcpServers"]["caucus"])
}

#[test]
fn setup_wires_a_repository_and_the_hooks_keep_the_agent_in_the_room() {
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    let repo = fresh_dir("alpha-repo");
    assert!(
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .status()
            .unwrap()
            .success()
    );
    // What the user had before stays.
    std::fs::write(
        repo.join(".mcp.json"),
        r#"{"mcpServers": {"other": {"command": "other-server"}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(repo.join(".claude")).unwrap();
    std::fs::write(
        repo.join(".claude/settings.json"),
        r#"{"permissions": {"allow": ["Bash(ls)"]},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo mine"}]}]}}"#,
    )
    .unwrap();

    let first = setup(&repo, &["--hub", &url]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.stdout.matches("wrote ").count(),
        2,
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("approve"), "{}", first.stdout);
    assert!(first.stdout.contains("claude"), "{}", first.stdout);
    let mcp = read_json(&repo.join(".mcp.json"));
    let settings_text = std::fs::read_to_string(repo.join(".claude/settings.json")).unwrap();
    assert_eq!(mcp["mcpServers"]["other"]["command"], "other-server");
    let server = &mcp["mcpServers"]["caucus"];
    assert_eq!(server["args"], json!(["bridge"]));
    assert_eq!(server["env"]["CAUCUS_HUB_URL"], url);
    assert!(Path::new(server["command"].as_str().unwrap()).is_absolute());
    let settings = read_json(&repo.join(".claude/settings.json"));
    assert_eq!(
        settings["permissions"]["allow"],
        json!(["Bash(ls)", "mcp__caucus"]),
        "the user's rule stays; the room's own tools are allowed"
    );
    assert_eq!(
        settings["hooks"]["Stop"][0]["hooks"][0]["command"], "echo mine",
        "the user's own hook stays"
    );

    // Twice changes nothing.
    let again = setup(&repo, &["--hub", &url]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout.matches("unchanged ").count(),
        2,
        "{}",
        again.stdout
    );
    assert_eq!(
        std::fs::read_to_string(repo.join(".claude/settings.json")).unwrap(),
        settings_text
    );

    // The doctor finds all in place; nobody joined yet is not a problem.
    user_trusts(&repo);
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(!checked.stdout.contains("fix "), "{}", checked.stdout);
    assert!(
        checked.stdout.contains("no agent has joined"),
        "{}",
        checked.stdout
    );

    let stop = hook_command(&repo, "Stop");
    let prompt = hook_command(&repo, "UserPromptSubmit");
    let start = hook_command(&repo, "SessionStart");

    // Before the bridge joined, the hooks find no agent and do nothing.
    let none = run_hook(
        &repo,
        &stop,
        &event(&repo, "Stop", json!({"stop_hook_active": false})),
    );
    assert_eq!(none.stdout.trim(), "{}");
    assert!(none.stderr.contains("no agent joined"), "{}", none.stderr);

    // The host starts the bridge; the model joins under the directory's name.
    let mut bridge = bridge_from_config(&repo);
    let joined = bridge.join();
    assert_eq!(joined["project"], "alpha-repo", "{joined}");

    let bravo = hub.join("bravo");
    assert_eq!(bravo.say("alpha-repo", "hello from bravo").status, 200);

    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("\"alpha-repo\" is joined; 1 message(s) wait"),
        "{}",
        checked.stdout
    );

    // SessionStart and UserPromptSubmit: the room and what waits, as context.
    for (command, name, extra) in [
        (&start, "SessionStart", json!({"source": "startup"})),
        (&prompt, "UserPromptSubmit", json!({"prompt": "carry on"})),
    ] {
        let ran = run_hook(&repo, command, &event(&repo, name, extra));
        let out: Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(out["hookSpecificOutput"]["hookEventName"], name);
        let text = out["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap();
        assert!(text.contains("you are alpha-repo"), "{text}");
        assert!(text.contains("bravo"), "{text}");
        assert!(text.contains("hello from bravo"), "{text}");
    }

    // PreToolUse: running, the tool runs; paused (the room, or this agent),
    // it is denied with the operator's word, but the caucus tools still run.
    let pre = hook_command(&repo, "PreToolUse");
    let bash = event(
        &repo,
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "toolu_1"}),
    );
    let listen = event(
        &repo,
        "PreToolUse",
        json!({"tool_name": "mcp__caucus__listen", "tool_input": {}, "tool_use_id": "toolu_2"}),
    );
    assert_eq!(
        run_hook(&repo, &pre, &bash).stdout.trim(),
        "{}",
        "running: allowed"
    );
    for (pause, resume) in [
        (json!({"action": "pause"}), json!({"action": "resume"})),
        (
            json!({"action": "pause_peer", "peer": "alpha-repo"}),
            json!({"action": "resume_peer", "peer": "alpha-repo"}),
        ),
    ] {
        assert_eq!(hub.control(pause.clone()).status, 200);
        let out: Value = serde_json::from_str(&run_hook(&repo, &pre, &bash).stdout).unwrap();
        let decision = &out["hookSpecificOutput"];
        assert_eq!(decision["hookEventName"], "PreToolUse");
        assert_eq!(decision["permissionDecision"], "deny", "{pause}");
        assert!(
            decision["permissionDecisionReason"]
                .as_str()
                .unwrap()
                .contains("paused")
        );
        assert_eq!(
            run_hook(&repo, &pre, &listen).stdout.trim(),
            "{}",
            "caucus tools still run"
        );
        assert_eq!(hub.control(resume).status, 200);
        assert_eq!(
            run_hook(&repo, &pre, &bash).stdout.trim(),
            "{}",
            "resumed: allowed"
        );
    }

    // Stop: the waiting message blocks the stop and is handed over...
    let stop_event = event(&repo, "Stop", json!({"stop_hook_active": false}));
    let ran = run_hook(&repo, &stop, &stop_event);
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(out["decision"], "block");
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.contains("bravo"), "{reason}");
    assert!(reason.contains("hello from bravo"), "{reason}");

    // ...and acknowledged: with nothing new within its window it lets the
    // session stop (a short window here).
    let active = event(&repo, "Stop", json!({"stop_hook_active": true}));
    let short_stop = format!("{stop} --wait 1");
    let ran = run_hook(&repo, &short_stop, &active);
    assert_eq!(
        ran.stdout.trim(),
        "{}",
        "already handed over: {}",
        ran.stdout
    );

    // The hub's notices alone never cost a turn: "charlie took the
    // talking stick" waits for the agent, and the stop is not blocked for it.
    let charlie = hub.join("charlie");
    assert_eq!(charlie.floor("take", "all")["ok"], true);
    hub.wait_for_peer("alpha-repo", |p| p["waiting"] == 1);
    let ran = run_hook(&repo, &short_stop, &stop_event);
    assert_eq!(ran.stdout.trim(), "{}", "a notice alone: {}", ran.stdout);
    hub.wait_for_peer("alpha-repo", |p| p["waiting"] == 0);
    assert_eq!(charlie.floor("drop", "all")["ok"], true);

    // After a continuation the stop still waits its window, so two hooked
    // agents keep talking: a message arriving during the wait is handed over.
    let waiting = run_hook_later(&repo, &stop, &active);
    hub.wait_for_peer("alpha-repo", |p| p["listening"] == true);
    assert_eq!(bravo.say("alpha-repo", "still there?").status, 200);
    let ran = waiting.join().unwrap();
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(out["decision"], "block", "{}", ran.stderr);
    assert!(out["reason"].as_str().unwrap().contains("still there?"));

    // A message that arrives while the hook waits is handed over.
    let waiting = run_hook_later(&repo, &stop, &stop_event);
    hub.wait_for_peer("alpha-repo", |p| p["listening"] == true);
    assert_eq!(bravo.say("alpha-repo", "late news").status, 200);
    let ran = waiting.join().unwrap();
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(out["decision"], "block");
    assert!(
        out["reason"].as_str().unwrap().contains("late news"),
        "{out}"
    );

    // With the session already continued, nothing new: it lets go.
    let ran = run_hook(&repo, &short_stop, &active);
    assert_eq!(ran.stdout.trim(), "{}");

    // Paused: the session may stop at once, without waiting the window.
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    let ran = run_hook(&repo, &stop, &active);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("holds the room"), "{}", ran.stderr);
    assert_eq!(hub.control(json!({"action": "resume"})).status, 200);

    // After the operator's stop the hook lets the session end, at once.
    assert_eq!(hub.control(json!({"action": "stop"})).status, 200);
    let ran = run_hook(&repo, &stop, &stop_event);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("operator stopped"), "{}", ran.stderr);
    let ran = run_hook(
        &repo,
        &prompt,
        &event(&repo, "UserPromptSubmit", json!({"prompt": "x"})),
    );
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    let text = out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(text.contains("stopped"), "{text}");
    let out: Value = serde_json::from_str(&run_hook(&repo, &pre, &bash).stdout).unwrap();
    let reason = out["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("stopped"), "{reason}");

    // Bad input: each exits 0, prints nothing for the host, says why.
    let ran = {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &stop])
            .current_dir(&repo)
            .env("CAUCUS_STATE_DIR", state_dir());
        run(cmd, "{not json")
    };
    assert_eq!((ran.code, ran.stdout.trim()), (0, "{}"));
    assert!(ran.stderr.contains("not a JSON object"), "{}", ran.stderr);
    let mut cmd = caucus();
    cmd.args(["hook", "teatime", "--hub", &url])
        .current_dir(&repo);
    let ran = run(cmd, &stop_event.to_string());
    assert_eq!((ran.code, ran.stdout.trim()), (0, "{}"));
    assert!(ran.stderr.contains("unknown event"), "{}", ran.stderr);
    let mut cmd = caucus();
    cmd.args(["hook", "stop", "--hub", &url, "--name", "nobody"]);
    let ran = run(cmd, &stop_event.to_string());
    assert_eq!((ran.code, ran.stdout.trim()), (0, "{}"));
    assert!(ran.stderr.contains("no agent joined"), "{}", ran.stderr);

    // No hub: the hook lets the session go on.
    bridge.kill();
    drop(bravo);
    drop(hub);
    let ran = run_hook(&repo, &stop, &stop_event);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("unreachable"), "{}", ran.stderr);
    let ran = run_hook(
        &repo,
        &prompt,
        &event(&repo, "UserPromptSubmit", json!({"prompt": "x"})),
    );
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("unreachable"), "{}", ran.stderr);
    let ran = run_hook(&repo, &pre, &bash);
    assert_eq!(ran.stdout.trim(), "{}", "no hub: the tool runs");
    assert!(ran.stderr.contains("the tool runs"), "{}", ran.stderr);
}

#[test]
fn setup_refuses_what_it_cannot_merge_and_changes_nothing() {
    let repo = fresh_dir("refusals");
    // Not a JSON object: refused, and settings.json is not written either.
    std::fs::write(repo.join(".mcp.json"), "[1, 2]").unwrap();
    let ran = setup(&repo, &[]);
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("not a JSON object"), "{}", ran.stderr);
    assert_eq!(
        std::fs::read_to_string(repo.join(".mcp.json")).unwrap(),
        "[1, 2]"
    );
    assert!(!repo.join(".claude").exists());

    // A symbolic link is never written through.
    #[cfg(unix)]
    {
        std::fs::remove_file(repo.join(".mcp.json")).unwrap();
        let elsewhere = repo.join("elsewhere.json");
        std::fs::write(&elsewhere, "{}").unwrap();
        std::os::unix::fs::symlink(&elsewhere, repo.join(".mcp.json")).unwrap();
        let ran = setup(&repo, &[]);
        assert_eq!(ran.code, 1);
        assert!(ran.stderr.contains("symbolic link"), "{}", ran.stderr);
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "{}");
        // Nor through a linked folder: a `.claude` that is the user's
        // global one.
        std::fs::remove_file(repo.join(".mcp.json")).unwrap();
        let global = fresh_dir("refusals-global-claude");
        std::os::unix::fs::symlink(&global, repo.join(".claude")).unwrap();
        let ran = setup(&repo, &[]);
        assert_eq!(ran.code, 1);
        assert!(ran.stderr.contains("symbolic link"), "{}", ran.stderr);
        assert!(
            !global.join("settings.json").exists(),
            "nothing written there"
        );
        assert!(!repo.join(".mcp.json").exists(), "nor anything else");
        std::fs::remove_file(repo.join(".claude")).unwrap();
    }

    // Usage errors: exit 2.
    let mut cmd = caucus();
    cmd.args(["setup", "emacs"]).current_dir(&repo);
    assert_eq!(run(cmd, "").code, 2);
    let mut cmd = caucus();
    cmd.args(["setup", "claude", "--hub", "http://10.1.2.3:1"])
        .env_remove("CAUCUS_ALLOW_REMOTE_HUB")
        .current_dir(&repo);
    assert_eq!(run(cmd, "").code, 2);
}

#[test]
fn the_doctor_names_each_problem_with_its_fix() {
    let repo = fresh_dir("unwired");
    let dead = common::dead_url();
    let checked = doctor(&repo, &["--hub", &dead]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    let fixes: Vec<&str> = checked
        .stdout
        .lines()
        .filter(|l| l.starts_with("fix "))
        .collect();
    assert_eq!(fixes.len(), 5, "{}", checked.stdout);
    assert!(fixes[0].contains(".mcp.json") && fixes[0].contains("caucus setup claude"));
    assert!(fixes[1].contains("does not answer") && fixes[1].contains("caucus hub"));
    assert!(fixes[2].contains("settings.json") && fixes[2].contains("caucus setup claude"));
    assert!(fixes[3].contains("has not trusted") && fixes[3].contains("trust dialog"));
    assert!(fixes[4].contains("not approved") && fixes[4].contains("\"caucus\""));

    // Wired, but to another program, with the hub up.
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    assert_eq!(setup(&repo, &["--hub", &url]).code, 0);
    let mut mcp = read_json(&repo.join(".mcp.json"));
    mcp["mcpServers"]["caucus"]["command"] = json!("/bin/true");
    std::fs::write(repo.join(".mcp.json"), mcp.to_string()).unwrap();
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert!(
        checked.stdout.contains("not this caucus"),
        "{}",
        checked.stdout
    );
    assert!(checked.stdout.contains("the hub at"), "{}", checked.stdout);

    // A corrupt .mcp.json names no hub: the doctor says so, and does not
    // report a second, guessed hub.
    std::fs::write(repo.join(".mcp.json"), "{ not json").unwrap();
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert!(
        checked.stdout.contains("not valid JSON"),
        "{}",
        checked.stdout
    );
    assert!(!checked.stdout.contains("the hub at"), "{}", checked.stdout);

    // Usage errors: exit 2.
    assert_eq!(doctor(&repo, &["--bogus"]).code, 2);
}

#[test]
fn the_doctor_finds_each_host_ignoring_an_untrusted_repository() {
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    let repo = fresh_dir("untrusted-repo");
    for host in ["claude", "codex", "gemini"] {
        let mut cmd = caucus();
        cmd.args(["setup", host, "--hub", &url]).current_dir(&repo);
        assert_eq!(run(cmd, "").code, 0);
    }
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    let fixes: Vec<&str> = checked
        .stdout
        .lines()
        .filter(|l| l.starts_with("fix "))
        .collect();
    let expect = [
        "Claude Code has not trusted",
        "Claude Code has not approved",
        "Codex does not trust",
        "Codex has not trusted the caucus hooks",
        "Gemini CLI has not trusted",
    ];
    assert_eq!(fixes.len(), expect.len(), "{}", checked.stdout);
    for (fix, want) in fixes.iter().zip(expect) {
        assert!(fix.contains(want), "{want}: {}", checked.stdout);
    }
    assert!(
        checked.stdout.contains("codex app-server daemon start"),
        "push needs the daemon: {}",
        checked.stdout
    );

    // Each host told no: still a finding, with its own step.
    let home = user_home(&repo);
    let key = repo.canonicalize().unwrap().display().to_string();
    user_trusts(&repo);
    std::fs::write(
        home.join(".gemini/trustedFolders.json"),
        json!({&key: "DO_NOT_TRUST"}).to_string(),
    )
    .unwrap();
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert_eq!(
        checked.stdout.matches("fix ").count(),
        1,
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("told not to trust"),
        "{}",
        checked.stdout
    );

    // All trusted: all well.
    user_trusts(&repo);
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
}

#[test]
fn with_channel_mode_confirmed_the_stop_hook_leaves_delivery_to_the_pushes() {
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    let repo = fresh_dir("pushed-repo");
    let ran = setup(&repo, &["--hub", &url, "--channel"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains("claude --dangerously-load-development-channels server:caucus"),
        "{}",
        ran.stdout
    );
    let mcp = read_json(&repo.join(".mcp.json"));
    assert_eq!(
        mcp["mcpServers"]["caucus"]["args"],
        json!(["bridge", "--channel"])
    );

    let mut bridge = bridge_from_config(&repo);
    let (init, _) = common::request_between(
        &mut bridge,
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "claude-code", "version": "2.1.197"}}),
    );
    assert_eq!(
        init["result"]["capabilities"]["experimental"]["claude/channel"],
        json!({})
    );
    common::tool_between(&mut bridge, 2, "setup", json!({}));
    let code = common::join_and_read_probe(&mut bridge, 3);

    let stop = hook_command(&repo, "Stop");
    let stop_event = event(&repo, "Stop", json!({"stop_hook_active": false}));
    let bravo = hub.join("bravo");

    // Not confirmed yet: the hook delivers, as without channels.
    bravo.say("pushed-repo", "via the hook");
    let ran = run_hook(&repo, &stop, &stop_event);
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert!(
        out["reason"].as_str().unwrap().contains("via the hook"),
        "{out}"
    );

    // Confirmed: the hook lets go at once, and the message is pushed.
    let (who, _) = common::tool_between(&mut bridge, 4, "whoami", json!({"probe": code}));
    assert_eq!(who["channel"], "confirmed");
    hub.wait_for_peer("pushed-repo", |p| p["listening"] == true);
    let ran = run_hook(&repo, &stop, &stop_event);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("pushes"), "{}", ran.stderr);
    bravo.say("pushed-repo", "via the channel");
    let push = common::next_push(&mut bridge);
    assert_eq!(push["content"], "via the channel");

    // The bridge gone, its marker means nothing: the hook delivers again.
    bridge.kill();
    bravo.say("pushed-repo", "after the bridge");
    let ran = run_hook(&repo, &stop, &stop_event);
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert!(
        out["reason"].as_str().unwrap().contains("after the bridge"),
        "{out}"
    );
}

/// Starts the bridge as a server entry (command, args, env) says.
fn bridge_from_entry(repo: &Path, server: &Value) -> Bridge {
    let mut cmd = Command::new(server["command"].as_str().unwrap());
    for a in server["args"].as_array().unwrap() {
        cmd.arg(a.as_str().unwrap());
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAUCUS_STATE_DIR", state_dir());
    for (k, v) in server["env"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    cmd.current_dir(repo).stderr(Stdio::inherit());
    Bridge::spawn(cmd)
}

/// The one hook command of ours for `event` in a hooks file.
fn hook_in(path: &Path, event: &str) -> String {
    let settings = read_json(path);
    let ours: Vec<String> = settings["hooks"][event]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["hooks"].as_array().unwrap().clone())
        .filter_map(|h| h["command"].as_str().map(str::to_string))
        .filter(|c| c.contains(" hook "))
        .collect();
    assert_eq!(ours.len(), 1, "{settings}");
    ours[0].clone()
}

#[test]
fn setup_codex_merges_config_toml_and_its_hooks_work_as_codex_runs_them() {
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    let repo = fresh_dir("codex-repo");
    std::fs::create_dir_all(repo.join(".codex")).unwrap();
    std::fs::write(
        repo.join(".codex/config.toml"),
        "model = \"gpt-5\"\n\n[mcp_servers.caucus]\ncommand = \"old-caucus\"\n\n\
         [mcp_servers.caucus.env]\nX = \"1\"\n\n[mcp_servers.other]\ncommand = \"other\"\n",
    )
    .unwrap();
    let mut cmd = caucus();
    cmd.args(["setup", "codex", "--hub", &url])
        .current_dir(&repo);
    let first = run(cmd, "");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("/hooks"), "{}", first.stdout);
    let text = std::fs::read_to_string(repo.join(".codex/config.toml")).unwrap();
    let config: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(config["model"].as_str(), Some("gpt-5"));
    assert_eq!(
        config["mcp_servers"]["other"]["command"].as_str(),
        Some("other")
    );
    let server: Value = serde_json::to_value(&config["mcp_servers"]["caucus"]).unwrap();
    assert_eq!(server["args"], json!(["bridge"]));
    assert_eq!(
        server["env"],
        json!({"CAUCUS_HUB_URL": url, "CAUCUS_PROJECT": "codex-repo"}),
        "the old sub-table went"
    );
    let mut cmd = caucus();
    cmd.args(["setup", "codex", "--hub", &url])
        .current_dir(&repo);
    let again = run(cmd, "");
    assert_eq!(
        again.stdout.matches("unchanged ").count(),
        2,
        "{}",
        again.stdout
    );

    user_trusts(&repo);
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("config.toml: the caucus server runs"),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("hooks.json: the caucus hooks run"),
        "{}",
        checked.stdout
    );

    let mut bridge = bridge_from_entry(&repo, &server);
    bridge.join();
    let bravo = hub.join("bravo");
    bravo.say("codex-repo", "for codex");
    let hooks = repo.join(".codex/hooks.json");
    // Codex's Stop input, and its output schema: decision and reason only.
    let stop = hook_in(&hooks, "Stop");
    let input = json!({"session_id": "s", "transcript_path": null, "cwd": repo,
        "hook_event_name": "Stop", "model": "gpt-5", "turn_id": "t1",
        "stop_hook_active": false, "last_assistant_message": "done"});
    let ran = run_hook(&repo, &stop, &input);
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["decision", "reason"]);
    assert!(out["reason"].as_str().unwrap().contains("for codex"));
    let prompt = hook_in(&hooks, "UserPromptSubmit");
    let input = json!({"session_id": "s", "cwd": repo, "hook_event_name": "UserPromptSubmit",
        "model": "gpt-5", "turn_id": "t2", "prompt": "go on"});
    let out: Value = serde_json::from_str(&run_hook(&repo, &prompt, &input).stdout).unwrap();
    assert_eq!(
        out["hookSpecificOutput"]["hookEventName"],
        "UserPromptSubmit"
    );
    assert!(
        out["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("bravo")
    );
}

#[test]
fn setup_gemini_writes_server_and_hooks_and_they_work_as_gemini_runs_them() {
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    let repo = fresh_dir("gemini-repo");
    std::fs::create_dir_all(repo.join(".gemini")).unwrap();
    std::fs::write(
        repo.join(".gemini/settings.json"),
        r#"{"theme": "Default", "hooks": {"AfterAgent": [{"hooks": [{"type": "command", "command": "mine"}]}]}}"#,
    )
    .unwrap();
    let mut cmd = caucus();
    cmd.args(["setup", "gemini", "--hub", &url])
        .current_dir(&repo);
    let first = run(cmd, "");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let path = repo.join(".gemini/settings.json");
    let settings = read_json(&path);
    assert_eq!(settings["theme"], "Default");
    assert_eq!(
        settings["hooks"]["AfterAgent"][0]["hooks"][0]["command"],
        "mine"
    );
    assert_eq!(
        settings["hooks"]["AfterAgent"][1]["hooks"][0]["timeout"],
        60000
    );
    let mut cmd = caucus();
    cmd.args(["setup", "gemini", "--hub", &url, "--channel"])
        .current_dir(&repo);
    assert_eq!(run(cmd, "").code, 2, "--channel is Claude Code's");

    user_trusts(&repo);
    let checked = doctor(&repo, &[]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("settings.json: the caucus hooks run"),
        "{}",
        checked.stdout
    );
    // Claude Code is not wired here; asked for it, the doctor says what to do.
    let checked = doctor(&repo, &["--host", "claude"]);
    assert_eq!(checked.code, 1);
    assert!(
        checked.stdout.contains("caucus setup claude"),
        "{}",
        checked.stdout
    );

    let mut bridge = bridge_from_entry(&repo, &settings["mcpServers"]["caucus"]);
    bridge.join();
    let bravo = hub.join("bravo");
    bravo.say("gemini-repo", "for gemini");
    let before = hook_in(&path, "BeforeAgent");
    let input = json!({"session_id": "s", "transcript_path": "/tmp/t.json", "cwd": repo,
        "hook_event_name": "BeforeAgent", "timestamp": "2026-11-26T03:00:00Z", "prompt": "hi"});
    let out: Value = serde_json::from_str(&run_hook(&repo, &before, &input).stdout).unwrap();
    assert_eq!(out["hookSpecificOutput"]["hookEventName"], "BeforeAgent");
    assert!(
        out["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("for gemini")
    );
    let after = hook_in(&path, "AfterAgent");
    let input = json!({"session_id": "s", "transcript_path": "/tmp/t.json", "cwd": repo,
        "hook_event_name": "AfterAgent", "timestamp": "2026-11-26T03:00:01Z", "prompt": "hi",
        "prompt_response": "ok", "stop_hook_active": false});
    let out: Value = serde_json::from_str(&run_hook(&repo, &after, &input).stdout).unwrap();
    assert_eq!(
        out["decision"], "block",
        "Gemini reads block as deny: a retry turn"
    );
    assert!(out["reason"].as_str().unwrap().contains("for gemini"));
    let before_tool = hook_in(&path, "BeforeTool");
    let input = json!({"session_id": "s", "transcript_path": "/tmp/t.json", "cwd": repo,
        "hook_event_name": "BeforeTool", "timestamp": "2026-11-26T03:00:02Z",
        "tool_name": "run_shell_command", "tool_input": {"command": "ls"}});
    assert_eq!(run_hook(&repo, &before_tool, &input).stdout.trim(), "{}");
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    let out: Value = serde_json::from_str(&run_hook(&repo, &before_tool, &input).stdout).unwrap();
    assert_eq!(out["decision"], "deny", "{out}");
    assert!(out["reason"].as_str().unwrap().contains("paused"));
    // The room's own tools, as Gemini CLI names them, stay allowed: the
    // agent must be able to listen for the resume.
    let listen = json!({"session_id": "s", "transcript_path": "/tmp/t.json", "cwd": repo,
        "hook_event_name": "BeforeTool", "timestamp": "2026-11-26T03:00:03Z",
        "tool_name": "mcp_caucus_listen", "tool_input": {},
        "mcp_context": {"server_name": "caucus", "tool_name": "listen"}});
    assert_eq!(run_hook(&repo, &before_tool, &listen).stdout.trim(), "{}");
}

/// Runs a hook command on a thread of its own (it waits for the operator).
fn run_hook_later(repo: &Path, command: &str, event: &Value) -> std::thread::JoinHandle<Ran> {
    let (repo, command, event) = (repo.to_path_buf(), command.to_string(), event.clone());
    std::thread::spawn(move || run_hook(&repo, &command, &event))
}

#[test]
fn the_chair_reaches_a_hooked_agent_mid_turn_interrupt_and_approval() {
    let hub = Hub::start(&[]);
    let url = format!("http://{}", hub.addr);
    let repo = fresh_dir("delta-repo");
    assert_eq!(setup(&repo, &["--hub", &url]).code, 0);
    let mut bridge = bridge_from_config(&repo);
    assert_eq!(bridge.join()["project"], "delta-repo");
    let pre = hook_command(&repo, "PreToolUse");
    let permission = hook_command(&repo, "PermissionRequest");
    assert!(permission.contains(" hook permission "), "{permission}");
    let bash = event(
        &repo,
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "make"}, "tool_use_id": "t1"}),
    );
    let denial = |ran: Ran| -> String {
        let out: Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
        out["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Bad input: an interrupt for nobody, or with no words, changes nothing.
    let nobody = hub.control(json!({"action": "interrupt", "peer": "ghost", "content": "x"}));
    assert_eq!(nobody.status, 404);
    let wordless = hub.control(json!({"action": "interrupt", "peer": "delta-repo"}));
    assert_eq!(wordless.status, 422);
    assert_eq!(
        run_hook(&repo, &pre, &bash).stdout.trim(),
        "{}",
        "nothing pending"
    );

    // Paused, then interrupted: the next tool call is denied with the
    // operator's text, once; the one after it for the pause.
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    let sent = hub.control(
        json!({"action": "interrupt", "peer": "delta-repo", "content": "stop the migration now"}),
    );
    assert_eq!(sent.status, 200, "{}", sent.text);
    let first = denial(run_hook(&repo, &pre, &bash));
    assert!(first.contains("stop the migration now"), "{first}");
    let second = denial(run_hook(&repo, &pre, &bash));
    assert!(!second.contains("stop the migration"), "once: {second}");
    assert!(second.contains("paused"), "{second}");

    // The priority lane: listen hears the interrupt through the pause,
    // once, as the operator's word.
    let (_, text) = bridge.call_with_text("listen", json!({"timeout": 5}));
    assert!(text.contains("human -> delta-repo (interrupt)"), "{text}");
    assert!(text.contains("stop the migration now"), "{text}");
    assert_eq!(hub.control(json!({"action": "resume"})).status, 200);
    assert_eq!(
        run_hook(&repo, &pre, &bash).stdout.trim(),
        "{}",
        "resumed: runs"
    );
    let (_, again) = bridge.call_with_text("listen", json!({"timeout": 0}));
    assert!(!again.contains("stop the migration"), "once: {again}");

    // PermissionRequest: the prompt waits in /approvals and the console's
    // feed; the operator allows it, and the hook prints the host's allow.
    let mut feed = Feed::open(&hub, "", None).unwrap();
    let ask = event(
        &repo,
        "PermissionRequest",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build", "description": "clean"}}),
    );
    let waiting = run_hook_later(&repo, &permission, &ask);
    let shown = feed.until("approvals", |e| {
        e["approvals"].as_array().unwrap().len() == 1
    });
    let a = &shown["approvals"][0];
    assert_eq!(a["peer"], "delta-repo");
    assert_eq!(a["tool"], "Bash");
    assert!(
        a["preview"].as_str().unwrap().contains("rm -rf build"),
        "{a}"
    );
    let listed = hub.get("/approvals").json();
    assert_eq!(listed["approvals"][0]["id"], a["id"]);
    let id = a["id"].as_str().unwrap().to_string();
    let yes = hub.control(json!({"action": "approve", "id": id}));
    assert_eq!(yes.status, 200, "{}", yes.text);
    let out: Value = serde_json::from_str(&waiting.join().unwrap().stdout).unwrap();
    assert_eq!(
        out["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(out["hookSpecificOutput"]["decision"]["behavior"], "allow");
    // Answered once: a second verdict, or one for no such id, is refused.
    assert_eq!(hub.control(json!({"action": "deny", "id": id})).status, 409);
    assert_eq!(
        hub.control(json!({"action": "approve", "id": "nope"}))
            .status,
        404
    );
    assert_eq!(hub.control(json!({"action": "approve"})).status, 422);

    // A second run: denied, with the operator's reason.
    let waiting = run_hook_later(&repo, &permission, &ask);
    let shown = feed.until("approvals", |e| {
        e["approvals"].as_array().unwrap().len() == 1
    });
    let id = shown["approvals"][0]["id"].as_str().unwrap().to_string();
    let no = hub.control(json!({"action": "deny", "id": id, "reason": "not on main"}));
    assert_eq!(no.status, 200);
    let out: Value = serde_json::from_str(&waiting.join().unwrap().stdout).unwrap();
    let decision = &out["hookSpecificOutput"]["decision"];
    assert_eq!(decision["behavior"], "deny");
    assert!(
        decision["message"]
            .as_str()
            .unwrap()
            .contains("not on main")
    );

    // No answer within the hook's window: nothing printed, the host decides.
    let quick = permission.replace("--wait 100", "--wait 5");
    assert_ne!(quick, permission);
    let ran = run_hook(&repo, &quick, &ask);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(
        ran.stderr.contains("the host's dialog decides"),
        "{}",
        ran.stderr
    );
    // The caucus tools never wait for the operator.
    let own = event(
        &repo,
        "PermissionRequest",
        json!({"tool_name": "mcp__caucus__send"}),
    );
    assert_eq!(run_hook(&repo, &permission, &own).stdout.trim(), "{}");

    // Every request and verdict is in the log (and so the transcript).
    let log: Vec<String> = hub
        .log()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        log.iter().any(|l| l.contains("asks to run Bash")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("the operator allowed")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("the operator denied")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("no answer in time")),
        "{log:?}"
    );
    bridge.close();
}

#[test]
fn a_permission_hook_without_a_hub_or_with_bad_input_leaves_the_host_to_decide() {
    let repo = fresh_dir("echo-repo");
    let dead = common::dead_url();
    assert_eq!(setup(&repo, &["--hub", &dead]).code, 0);
    let permission = hook_command(&repo, "PermissionRequest");
    let ask = event(&repo, "PermissionRequest", json!({"tool_name": "Bash"}));
    let ran = run_hook(&repo, &permission, &ask);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("no agent joined"), "{}", ran.stderr);
    let ran = run_hook(&repo, &permission, &json!("not an object"));
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(ran.stderr.contains("not a JSON object"), "{}", ran.stderr);
}

#[test]
fn after_a_hub_restart_the_hooks_join_again_and_the_bridge_follows_but_not_after_a_kick() {
    let first = Hub::start(&[]);
    let port = first.addr.rsplit(':').next().unwrap().to_string();
    let url = format!("http://{}", first.addr);
    let repo = fresh_dir("phoenix-repo");
    assert_eq!(setup(&repo, &["--hub", &url]).code, 0);
    let mut bridge = bridge_from_config(&repo);
    assert_eq!(bridge.join()["project"], "phoenix-repo");
    drop(first); // SIGKILL, no --data-dir: the new hub knows no agent
    let hub = Hub::start(&["--port", &port]);
    let pre = hook_command(&repo, "PreToolUse");
    let bash = event(
        &repo,
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}}),
    );

    // The chair pauses the new hub's room: the hook joins again for the
    // agent, and the pause holds at once (it failed open before).
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    let ran = run_hook(&repo, &pre, &bash);
    let out: Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|_| panic!("{} {}", ran.stdout, ran.stderr));
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "deny",
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("joined again"), "{}", ran.stderr);
    assert_eq!(hub.peers(), ["phoenix-repo"]);
    assert_eq!(hub.control(json!({"action": "resume"})).status, 200);

    // The bridge takes up the kept token: its next call works, no new name.
    let witness = hub.join("witness");
    let said = bridge.call("say", json!({"to": "witness", "content": "still here"}));
    assert_eq!(said["delivered_to"], json!(["witness"]), "{said}");
    assert_eq!(hub.peers(), ["phoenix-repo", "witness"]);
    drop(witness);

    // A kick is the same run of the hub: the hook does not join again.
    assert_eq!(
        hub.control(json!({"action": "kick", "peer": "phoenix-repo"}))
            .status,
        200
    );
    let ran = run_hook(&repo, &pre, &bash);
    assert_eq!(ran.stdout.trim(), "{}");
    assert!(!ran.stderr.contains("joined again"), "{}", ran.stderr);
    assert!(!hub.peers().contains(&"phoenix-repo".to_string()));
}

/// A package manager installs the binary behind a link to a versioned
/// path: setup writes the link, so an upgrade does not break the wiring.
#[cfg(unix)]
#[test]
fn setup_writes_the_path_the_user_ran_not_a_links_target() {
    let repo = fresh_dir("linked-repo");
    let bin = fresh_dir("linked-bin");
    let link = bin.join("caucus");
    std::os::unix::fs::symlink(common::BIN, &link).unwrap();
    // Run through the link, by path and by name on PATH.
    let mut cmd = Command::new(&link);
    cmd.env("CAUCUS_STATE_DIR", state_dir())
        .args(["setup", "claude", "--hub", "http://127.0.0.1:9"])
        .current_dir(&repo);
    assert_eq!(run(cmd, "").code, 0);
    let mcp = read_json(&repo.join(".mcp.json"));
    assert_eq!(mcp["mcpServers"]["caucus"]["command"], json!(link), "{mcp}");
    let mut cmd = Command::new("caucus");
    cmd.env("PATH", &bin)
        .env("CAUCUS_STATE_DIR", state_dir())
        .args(["setup", "gemini", "--hub", "http://127.0.0.1:9"])
        .current_dir(&repo);
    assert_eq!(run(cmd, "").code, 0);
    let gemini = read_json(&repo.join(".gemini/settings.json"));
    assert_eq!(gemini["mcpServers"]["caucus"]["command"], json!(link));
    let hook = gemini["hooks"]["BeforeTool"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    assert!(hook.starts_with(&*link.to_string_lossy()), "{hook}");
}
