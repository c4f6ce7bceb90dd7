//! Commands for shell users: `caucus say`, `caucus peers`, `caucus control`.
//! Each prints a line a person can read, or with `--json` the hub's answer
//! as one JSON object, and exits 0 on success, 1 when the hub refused, 2 on
//! a usage error, 4 when the hub cannot be reached (the watcher's codes).

use std::process::ExitCode;

use lexopt::prelude::*;
use serde_json::{Value, json};

use serde::de::DeserializeOwned;

use crate::client::{Answer, CallError, HubClient, hub_url, join, verbs};
use crate::shared::cli::{self, text};
use crate::shared::wire::{Approvals, PeerList, Sent};

pub const SAY_HELP: &str = "\
caucus say: send one message into the room

Usage: caucus say [OPTIONS] TEXT...

Options:
  --to TARGET         a peer, \"all\" or a #channel [default: all]
  --as NAME           join (or rejoin) under NAME and send as it
  --token T           send with an agent's token instead
  --token-file PATH   read that token from a file
                      (without --as: --token, --token-file, then env CAUCUS_TOKEN)
  --hub URL           [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --json              print the hub's answer as JSON
";

pub const PEERS_HELP: &str = "\
caucus peers: list the agents in the room

Usage: caucus peers [--hub URL] [--json]
";

pub const CONTROL_HELP: &str = "\
caucus control: the chair's commands from a shell

Usage: caucus control pause|resume|stop|reset [OPTIONS]
       caucus control interrupt PEER TEXT...    the words reach PEER at its next
                                                step, through a pause
       caucus control reset-peer PEER [TEXT...] PEER drops its context on the room
       caucus control approvals                 the tool calls waiting for you
       caucus control approve ID
       caucus control deny ID [--reason TEXT]
       caucus control token                     print the operator token, to sign
                                                a console in by hand

Options:
  --reason TEXT       deny: why, shown to the agent
  --operator-token T  [env: CAUCUS_OPERATOR_TOKEN] [default: the token a hub on
                      this machine keeps for its port, in the state folder]
  --hub URL           [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --json              print the hub's answer as JSON

Exit codes (all three commands): 0 done, 1 refused by the hub, 2 usage,
4 hub unreachable.
";

/// How this command signs what it prints on stderr.
const COMMAND: &str = "caucus";

const REFUSED: u8 = 1;
const UNREACHABLE: u8 = 4;

/// Options every scripting command shares.
struct Common {
    hub: Option<String>,
    json: bool,
}

impl Common {
    fn client(&self) -> Result<HubClient, String> {
        Ok(HubClient::new(&hub_url(self.hub.clone())?))
    }

    /// Prints an answer (the hub's JSON with `--json`, else what `human`
    /// makes of it) and turns it into the exit code.
    fn finish<T: DeserializeOwned>(
        &self,
        result: Result<Answer, String>,
        human: impl Fn(&T) -> String,
    ) -> ExitCode {
        let raw = result.as_ref().map(|a| a.body.clone()).unwrap_or_default();
        match verbs::read::<T>(result) {
            Ok(answer) => {
                if self.json {
                    println!("{raw}");
                } else {
                    println!("{}", human(&answer));
                }
                ExitCode::SUCCESS
            }
            Err(e) => self.failed(e, &raw),
        }
    }

    /// What a call that has no answer prints, and its exit code.
    fn failed(&self, e: CallError, raw: &Value) -> ExitCode {
        match e {
            CallError::Unreachable(e) => {
                eprintln!("caucus: the hub is unreachable: {e}");
                ExitCode::from(UNREACHABLE)
            }
            CallError::Refused { status, .. } => {
                if self.json {
                    println!("{}", json!({"status": status, "error": raw}));
                }
                eprintln!("caucus: {e}");
                ExitCode::from(REFUSED)
            }
            CallError::BadAnswer(_) => {
                eprintln!("caucus: {e}");
                ExitCode::from(REFUSED)
            }
        }
    }
}

pub fn say(mut args: lexopt::Parser) -> ExitCode {
    let mut common = Common {
        hub: None,
        json: false,
    };
    let (mut to, mut name, mut token, mut token_file) = ("all".to_string(), None, None, None);
    let mut words = Vec::new();
    let parsed: Result<(), String> = (|| {
        while let Some(arg) = args.next().map_err(|e| e.to_string())? {
            match arg {
                Long("to") => to = text(args.value())?,
                Long("as") => name = Some(text(args.value())?),
                Long("token") => token = Some(text(args.value())?),
                Long("token-file") => token_file = Some(text(args.value())?),
                Long("hub") => common.hub = Some(text(args.value())?),
                Long("json") => common.json = true,
                Short('h') | Long("help") => return Err(String::new()),
                Value(w) => words.push(w.into_string().map_err(|_| "arguments must be UTF-8")?),
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(())
    })();
    match parsed {
        Err(e) if e.is_empty() => {
            print!("{SAY_HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return cli::usage(COMMAND, e),
        Ok(()) => {}
    }
    if words.is_empty() {
        return cli::usage(COMMAND, "nothing to say: give the message as arguments");
    }
    let client = match common.client() {
        Ok(c) => c,
        Err(e) => return cli::usage(COMMAND, e),
    };
    let token = if let Some(name) = name {
        // The name's token is kept on this machine, so the next `say --as`
        // under the same name is the same peer, not a refused stranger.
        let slot = match join::claim(&client, &name, "caucus say") {
            Ok(slot) => slot,
            Err(held) => {
                return cli::usage(
                    COMMAND,
                    format!("{held}; speak with its token (--token-file) or under another name"),
                );
            }
        };
        match join::register_kept(&client, &name, slot.as_ref(), None, None, "caucus say") {
            Ok(reg) => reg.token,
            Err(e) => return common.failed(e, &Value::Null),
        }
    } else {
        let found = match (token, token_file) {
            (Some(t), _) => Ok(t),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read the token file {path}: {e}")),
            (None, None) => std::env::var("CAUCUS_TOKEN").map_err(|_| {
                "who is speaking? give --as NAME, --token or --token-file".to_string()
            }),
        };
        match found {
            Ok(t) => t.trim().to_string(),
            Err(e) => return cli::usage(COMMAND, e),
        }
    };
    let content = words.join(" ");
    let result = client.post(
        "/send",
        &json!({"token": token, "to": to, "content": content}),
    );
    common.finish(result, |sent: &Sent| {
        if sent.delivered_to.is_empty() {
            "sent; nobody is there to receive it".to_string()
        } else {
            format!("sent to {}", sent.delivered_to.join(", "))
        }
    })
}

pub fn peers(mut args: lexopt::Parser) -> ExitCode {
    let mut common = Common {
        hub: None,
        json: false,
    };
    loop {
        match args.next() {
            Ok(None) => break,
            Ok(Some(Long("hub"))) => match text(args.value()) {
                Ok(v) => common.hub = Some(v),
                Err(e) => return cli::usage(COMMAND, e),
            },
            Ok(Some(Long("json"))) => common.json = true,
            Ok(Some(Short('h') | Long("help"))) => {
                print!("{PEERS_HELP}");
                return ExitCode::SUCCESS;
            }
            Ok(Some(other)) => return cli::usage(COMMAND, other.unexpected()),
            Err(e) => return cli::usage(COMMAND, e),
        }
    }
    let client = match common.client() {
        Ok(c) => c,
        Err(e) => return cli::usage(COMMAND, e),
    };
    common.finish(client.get("/peers", None, None), |list: &PeerList| {
        if list.peers.is_empty() {
            "(nobody)".to_string()
        } else {
            list.peers.join("\n")
        }
    })
}

/// The operator token a hub on this machine keeps for its port, when the
/// hub URL is on loopback (`--hub`, `CAUCUS_HUB_URL` or the default).
pub fn local_operator_token(flag: Option<String>) -> Option<String> {
    let url = crate::client::hub_url(flag).ok()?;
    crate::shared::identity::kept_operator_token(crate::client::loopback_port(&url)?)
}

pub fn control(mut args: lexopt::Parser) -> ExitCode {
    let mut common = Common {
        hub: None,
        json: false,
    };
    let mut words: Vec<String> = Vec::new();
    let mut reason = None;
    let mut operator = std::env::var("CAUCUS_OPERATOR_TOKEN").ok();
    loop {
        let next = args.next();
        let result: Result<(), String> = match next {
            Ok(None) => break,
            Ok(Some(Long("hub"))) => text(args.value()).map(|v| common.hub = Some(v)),
            Ok(Some(Long("operator-token"))) => text(args.value()).map(|v| operator = Some(v)),
            Ok(Some(Long("reason"))) => text(args.value()).map(|v| reason = Some(v)),
            Ok(Some(Long("json"))) => {
                common.json = true;
                Ok(())
            }
            Ok(Some(Short('h') | Long("help"))) => {
                print!("{CONTROL_HELP}");
                return ExitCode::SUCCESS;
            }
            Ok(Some(Value(v))) => match v.into_string() {
                Ok(w) => {
                    words.push(w);
                    Ok(())
                }
                Err(_) => Err("arguments must be text".into()),
            },
            Ok(Some(other)) => Err(other.unexpected().to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            return cli::usage(COMMAND, e);
        }
    }
    let (action, rest) = match words.split_first() {
        Some((a, rest)) => (a.as_str(), rest),
        None => {
            return cli::usage(
                COMMAND,
                "which action? pause, resume, stop, reset, interrupt, reset-peer, approvals, approve or deny",
            );
        }
    };
    let body = match (action, rest) {
        ("pause" | "resume" | "stop" | "reset", []) => json!({"action": action}),
        ("interrupt", [peer, text @ ..]) if !text.is_empty() => {
            json!({"action": "interrupt", "peer": peer, "content": text.join(" ")})
        }
        ("reset-peer", [peer, text @ ..]) => {
            let mut b = json!({"action": "reset_peer", "peer": peer});
            if !text.is_empty() {
                b["content"] = json!(text.join(" "));
            }
            b
        }
        ("approve", [id]) => json!({"action": "approve", "id": id}),
        ("deny", [id]) => json!({"action": "deny", "id": id, "reason": reason}),
        ("approvals", []) => Value::Null,
        ("token", []) => {
            return match local_operator_token(common.hub.clone()).or(operator) {
                Some(t) => {
                    println!("{t}");
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!(
                        "caucus control: no operator token kept for that hub on this machine \
                         (a hub on another machine, or one started with --no-auth or \
                         --operator-token): ask whoever started it"
                    );
                    ExitCode::from(REFUSED)
                }
            };
        }
        ("token", _) => return cli::usage(COMMAND, "token takes no arguments"),
        ("interrupt", _) => {
            return cli::usage(COMMAND, "interrupt needs a PEER and the words to say");
        }
        ("reset-peer", _) => return cli::usage(COMMAND, "reset-peer needs a PEER"),
        ("approve" | "deny", _) => {
            return cli::usage(COMMAND, format!("{action} needs one approval ID"));
        }
        ("pause" | "resume" | "stop" | "reset" | "approvals", _) => {
            return cli::usage(COMMAND, format!("{action} takes no arguments"));
        }
        (other, _) => {
            return cli::usage(
                COMMAND,
                format!(
                    "unknown action {other:?}: pause, resume, stop, reset, interrupt, reset-peer, \
                 approvals, approve or deny"
                ),
            );
        }
    };
    let client = match common.client() {
        Ok(c) => c,
        Err(e) => return cli::usage(COMMAND, e),
    };
    let operator = operator.or_else(|| local_operator_token(common.hub.clone()));
    if body.is_null() {
        let result = client.get("/approvals", operator.as_deref(), None);
        return common.finish(result, |list: &Approvals| {
            if list.approvals.is_empty() {
                return "no tool call waits for approval".into();
            }
            list.approvals
                .iter()
                .map(|a| {
                    crate::shared::lines::one_line(&format!(
                        "{}  {} asks to run {}: {} (asked {}s ago)",
                        a.id, a.peer, a.tool, a.preview, a.age
                    ))
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }
    let result = client.post_as("/control", &body, operator.as_deref());
    // Each action answers its own shape (docs/API.md): open JSON here.
    common.finish(result, |body: &Value| {
        if let Some(mode) = body["mode"].as_str() {
            format!("the room is {mode}")
        } else if let Some(state) = body["state"].as_str() {
            format!("approval {}: {state}", body["id"].as_str().unwrap_or("?"))
        } else if body["reset"] == json!(true) {
            format!("{} was reset", body["peer"].as_str().unwrap_or("?"))
        } else {
            format!("{} was interrupted", body["peer"].as_str().unwrap_or("?"))
        }
    })
}
