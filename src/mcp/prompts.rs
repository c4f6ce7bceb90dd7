//! The MCP prompts: `join`, `talk`, `status` and `leave`, which hosts offer
//! as slash commands (Claude Code shows them as `/mcp__caucus__join`…).
//! Each expands to one user message that tells the model which tools to
//! call; nothing here talks to the hub.

use serde_json::{Map, Value, json};

/// The most a prompt's arguments may hold, in bytes, all together.
const MAX_ARGUMENTS: usize = 16 * 1024;

struct Prompt {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// (name, description, required)
    arguments: &'static [(&'static str, &'static str, bool)],
}

const PROMPTS: [Prompt; 4] = [
    Prompt {
        name: "join",
        title: "Join the caucus room",
        description: "Join the room (optionally under a name) and start hearing it",
        arguments: &[(
            "name",
            "the name to join under (default: the project's)",
            false,
        )],
    },
    Prompt {
        name: "talk",
        title: "Talk in the caucus room",
        description: "Say something to an agent, a #channel or everyone, then listen",
        arguments: &[
            (
                "to",
                "an agent's name, #channel, or all (default: all)",
                false,
            ),
            ("message", "what to say", true),
        ],
    },
    Prompt {
        name: "status",
        title: "Caucus room status",
        description: "Who is here, the room's state, and what waits for you",
        arguments: &[],
    },
    Prompt {
        name: "leave",
        title: "Leave the caucus room",
        description: "Leave the room and stop listening",
        arguments: &[],
    },
];

/// The `prompts/list` result.
pub fn list() -> Value {
    let prompts: Vec<Value> = PROMPTS
        .iter()
        .map(|p| {
            let arguments: Vec<Value> = p
                .arguments
                .iter()
                .map(|(name, description, required)| {
                    json!({"name": name, "description": description, "required": required})
                })
                .collect();
            json!({"name": p.name, "title": p.title, "description": p.description,
                   "arguments": arguments})
        })
        .collect();
    json!({ "prompts": prompts })
}

/// The `prompts/get` result, or why the request is invalid.
pub fn get(params: &Value) -> Result<Value, String> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or("prompts/get needs a \"name\" string")?;
    let prompt = PROMPTS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PROMPTS.iter().map(|p| p.name).collect();
        format!("unknown prompt {name:?}: {}", names.join(", "))
    })?;
    let empty = Map::new();
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Err("prompt arguments must be an object of strings".into()),
    };
    let mut size = 0;
    for (key, value) in args {
        let Some(text) = value.as_str() else {
            return Err(format!("prompt argument {key:?} must be a string"));
        };
        if !prompt.arguments.iter().any(|(n, _, _)| n == key) {
            return Err(format!("prompt {name:?} takes no argument {key:?}"));
        }
        size += key.len() + text.len();
    }
    if size > MAX_ARGUMENTS {
        return Err(format!("prompt arguments over {MAX_ARGUMENTS} bytes"));
    }
    let arg = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    for (key, _, required) in prompt.arguments {
        if *required && arg(key).is_none() {
            return Err(format!("prompt {name:?} needs the argument {key:?}"));
        }
    }
    let text = match name {
        "join" => {
            let how = match arg("name") {
                Some(n) => format!("call join with project={}", json!(n)),
                None => "call join".to_string(),
            };
            format!(
                "Join the caucus room: call setup, then {how}. Then keep hearing the room: \
                 run the command watch_command gives you in the background and run it again \
                 each time it ends with messages (or call listen). Answer with say."
            )
        }
        "talk" => format!(
            "In the caucus room, call say with to={} and this content, then listen for the \
             answer:\n\n{}",
            json!(arg("to").unwrap_or("all")),
            arg("message").unwrap_or_default()
        ),
        "status" => "Tell me the caucus room's state: call whoami, list_peers and peek, and \
                     list_forms if questions wait for the operator. Report who is here, \
                     whether the room is running, paused or stopped, and what waits for me. \
                     Take no message (peek, not listen)."
            .to_string(),
        _ => "Leave the caucus room: call leave, and stop any caucus watch command you \
              started in the background."
            .to_string(),
    };
    Ok(json!({
        "description": prompt.description,
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_expand_and_bad_requests_are_refused() {
        let names: Vec<Value> = list()["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(names, vec!["join", "talk", "status", "leave"]);
        let talk =
            get(&json!({"name": "talk", "arguments": {"to": "#ops", "message": "hi"}})).unwrap();
        let text = talk["messages"][0]["content"]["text"].as_str().unwrap();
        assert!(
            text.contains("to=\"#ops\"") && text.ends_with("hi"),
            "{text}"
        );
        let join = get(&json!({"name": "join"})).unwrap();
        assert!(
            join["messages"][0]["content"]["text"]
                .as_str()
                .unwrap()
                .contains("call join.")
        );
        assert!(
            get(&json!({"name": "talk"}))
                .unwrap_err()
                .contains("message")
        );
        assert!(
            get(&json!({"name": "nope"}))
                .unwrap_err()
                .contains("join, talk")
        );
        assert!(get(&json!({"name": "join", "arguments": {"x": "y"}})).is_err());
        assert!(get(&json!({"name": "join", "arguments": {"name": 3}})).is_err());
        let big = "x".repeat(MAX_ARGUMENTS + 1);
        assert!(get(&json!({"name": "talk", "arguments": {"message": big}})).is_err());
    }
}
