//! The agent CLIs as runtimes of `caucus agent --runtime`: how each is run
//! headless with the prompt on stdin (an argv we build, no shell, nothing
//! from the room that could become a flag), and how its own JSON output is
//! read for the reply, the session to resume and the turn's usage.
//!
//! What each prints was read off the real CLIs (Claude Code 2.1.332, Codex
//! 0.171.0, Gemini CLI 0.61.0, `smoke/hosts/`):
//! - `claude -p --output-format json`: one object with `result`,
//!   `session_id`, `total_cost_usd`, `usage` (`input_tokens`,
//!   `cache_read_input_tokens`, `cache_creation_input_tokens`,
//!   `output_tokens`) and `is_error`;
//! - `codex exec --json -`: one event per line: `thread.started`
//!   (`thread_id`), `item.completed` with an `agent_message` item (`text`),
//!   `turn.completed` (`usage`: `input_tokens`, `cached_input_tokens`,
//!   `output_tokens`), or `turn.failed` / `error`;
//! - `gemini -p "" --output-format json`: one object with `response`,
//!   `session_id`, `stats.models.NAME.tokens` (`prompt`, `candidates`,
//!   `cached`), or `error`.

use serde_json::Value;

/// A known agent CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Claude,
    Codex,
    Gemini,
}

/// What one turn of a runtime came to.
#[derive(Debug, Default, PartialEq)]
pub struct Said {
    /// The reply; `None` when the CLI printed none (silence).
    pub text: Option<String>,
    /// The CLI's session, to resume the conversation with next turn.
    pub session: Option<String>,
    pub usage: Usage,
}

/// The tokens (and, where the CLI says, the dollars) one turn spent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Input tokens, cached ones included.
    pub input_tokens: u64,
    /// Of which read from the provider's cache.
    pub cached_tokens: u64,
    pub output_tokens: u64,
    /// What the CLI reckoned the turn cost (Claude Code does).
    pub cost_usd: Option<f64>,
}

impl Runtime {
    /// The runtime named `word` (`claude`, `codex`, `gemini`).
    pub fn parse(word: &str) -> Result<Runtime, String> {
        match word {
            "claude" => Ok(Runtime::Claude),
            "codex" => Ok(Runtime::Codex),
            "gemini" => Ok(Runtime::Gemini),
            other => Err(format!(
                "--runtime: {other:?} is not one: claude, codex or gemini (or --exec for any \
                 other CLI)"
            )),
        }
    }

    /// The program run, found on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Runtime::Claude => "claude",
            Runtime::Codex => "codex",
            Runtime::Gemini => "gemini",
        }
    }

    /// The arguments of one headless turn reading its prompt from stdin.
    /// `model` and `resume` are passed as the values of their own flags,
    /// so nothing in them can become a flag of its own.
    pub fn args(self, model: Option<&str>, resume: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Runtime::Claude => vec!["-p".into(), "--output-format".into(), "json".into()],
            Runtime::Codex => vec![
                "exec".into(),
                "--json".into(),
                "--skip-git-repo-check".into(),
            ],
            Runtime::Gemini => vec![
                "-p".into(),
                String::new(),
                "--output-format".into(),
                "json".into(),
            ],
        };
        if let Some(m) = model {
            args.push(format!("--model={m}"));
        }
        if let (Runtime::Claude, Some(id)) = (self, resume) {
            args.push(format!("--resume={id}"));
        }
        if self == Runtime::Codex {
            // The prompt: `-` reads it from stdin.
            args.push("-".into());
        }
        args
    }

    /// Reads what the CLI printed on stdout for one turn.
    pub fn read(self, stdout: &str) -> Result<Said, String> {
        match self {
            Runtime::Claude => read_claude(stdout),
            Runtime::Codex => read_codex(stdout),
            Runtime::Gemini => read_gemini(stdout),
        }
    }
}

fn object(stdout: &str, who: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(stdout.trim())
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| format!("{who} printed no JSON object (is it the version caucus knows?)"))
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn reply(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn read_claude(stdout: &str) -> Result<Said, String> {
    let out = object(stdout, "claude")?;
    if out["is_error"] == true {
        return Err(format!(
            "claude reported an error: {}",
            out["result"].as_str().unwrap_or("(no text)")
        ));
    }
    let usage = &out["usage"];
    let cached = count(&usage["cache_read_input_tokens"]);
    Ok(Said {
        text: reply(out["result"].as_str()),
        session: out["session_id"].as_str().map(str::to_string),
        usage: Usage {
            input_tokens: count(&usage["input_tokens"])
                + cached
                + count(&usage["cache_creation_input_tokens"]),
            cached_tokens: cached,
            output_tokens: count(&usage["output_tokens"]),
            cost_usd: out["total_cost_usd"].as_f64(),
        },
    })
}

fn read_codex(stdout: &str) -> Result<Said, String> {
    let mut said = Said::default();
    let mut events = 0;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        events += 1;
        match event["type"].as_str() {
            Some("thread.started") => {
                said.session = event["thread_id"].as_str().map(str::to_string);
            }
            Some("item.completed") if event["item"]["type"] == "agent_message" => {
                said.text = reply(event["item"]["text"].as_str());
            }
            Some("turn.completed") => {
                let u = &event["usage"];
                said.usage.input_tokens += count(&u["input_tokens"]);
                said.usage.cached_tokens += count(&u["cached_input_tokens"]);
                said.usage.output_tokens += count(&u["output_tokens"]);
            }
            Some("turn.failed" | "error") => {
                let why = event["error"]["message"]
                    .as_str()
                    .or(event["message"].as_str())
                    .unwrap_or("(no message)");
                return Err(format!("codex reported an error: {why}"));
            }
            _ => {}
        }
    }
    if events == 0 {
        return Err("codex printed no JSON events (is it the version caucus knows?)".into());
    }
    Ok(said)
}

fn read_gemini(stdout: &str) -> Result<Said, String> {
    let out = object(stdout, "gemini")?;
    if let Some(error) = out.get("error").filter(|e| !e.is_null()) {
        let why = error["message"].as_str().unwrap_or("(no message)");
        return Err(format!("gemini reported an error: {why}"));
    }
    let mut usage = Usage::default();
    if let Some(models) = out["stats"]["models"].as_object() {
        for model in models.values() {
            let t = &model["tokens"];
            usage.input_tokens += count(&t["prompt"]);
            usage.cached_tokens += count(&t["cached"]);
            usage.output_tokens += count(&t["candidates"]);
        }
    }
    Ok(Said {
        text: reply(out["response"].as_str()),
        session: out["session_id"].as_str().map(str::to_string),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_s_result_is_read_with_its_session_and_cost() {
        let out = r#"{"type":"result","subtype":"success","is_error":false,"result":" hi there ",
            "session_id":"aa00d964","total_cost_usd":0.000108,"usage":{"input_tokens":12,
            "cache_creation_input_tokens":2,"cache_read_input_tokens":5,"output_tokens":3}}"#;
        let said = Runtime::Claude.read(out).unwrap();
        assert_eq!(said.text.as_deref(), Some("hi there"));
        assert_eq!(said.session.as_deref(), Some("aa00d964"));
        assert_eq!(
            said.usage,
            Usage {
                input_tokens: 19,
                cached_tokens: 5,
                output_tokens: 3,
                cost_usd: Some(0.000108)
            }
        );
        let failed = r#"{"type":"result","is_error":true,"result":"credit balance too low"}"#;
        assert!(
            Runtime::Claude
                .read(failed)
                .unwrap_err()
                .contains("credit balance")
        );
        assert!(Runtime::Claude.read("Error: not logged in").is_err());
    }

    #[test]
    fn codex_s_events_are_read_for_the_last_message_and_the_turn_s_usage() {
        let out = r#"{"type":"thread.started","thread_id":"01a2"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"metadata"}}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"reply"}}
{"type":"turn.completed","usage":{"input_tokens":12,"cached_input_tokens":4,"output_tokens":3}}"#;
        let said = Runtime::Codex.read(out).unwrap();
        assert_eq!(said.text.as_deref(), Some("reply"));
        assert_eq!(said.session.as_deref(), Some("01a2"));
        assert_eq!((said.usage.input_tokens, said.usage.cached_tokens), (12, 4));
        assert_eq!(said.usage.cost_usd, None);
        let failed = r#"{"type":"turn.failed","error":{"message":"quota exceeded"}}"#;
        assert!(Runtime::Codex.read(failed).unwrap_err().contains("quota"));
        assert!(Runtime::Codex.read("").is_err());
    }

    #[test]
    fn gemini_s_response_is_read_with_every_model_s_tokens() {
        let out = r#"{"session_id":"c34d","response":"hello","stats":{"models":{
            "a":{"tokens":{"prompt":24,"candidates":6,"cached":0}},
            "b":{"tokens":{"prompt":12,"candidates":3,"cached":2}}}}}"#;
        let said = Runtime::Gemini.read(out).unwrap();
        assert_eq!(said.text.as_deref(), Some("hello"));
        assert_eq!(
            (
                said.usage.input_tokens,
                said.usage.output_tokens,
                said.usage.cached_tokens
            ),
            (36, 9, 2)
        );
        let failed = r#"{"error":{"type":"FatalAuthenticationError","message":"no key"}}"#;
        assert!(Runtime::Gemini.read(failed).unwrap_err().contains("no key"));
    }

    #[test]
    fn nothing_from_the_room_becomes_a_flag() {
        let args = Runtime::Claude.args(Some("-rf --dangerously"), Some("--x"));
        assert!(args.contains(&"--model=-rf --dangerously".to_string()));
        assert!(args.contains(&"--resume=--x".to_string()));
        assert_eq!(
            Runtime::Codex.args(None, None).last().map(String::as_str),
            Some("-")
        );
        assert!(Runtime::parse("bash").is_err());
    }
}
