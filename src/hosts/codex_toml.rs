//! Codex's `config.toml`, read and edited in one place: `setup codex`
//! merges the `caucus` MCP server into it, `doctor` reads that server back
//! and the trust records Codex writes in the user's own file.
//!
//! A TOML table can be written several legal ways (`[mcp_servers.caucus]`,
//! `[mcp_servers."caucus"]`, dotted keys `mcp_servers.caucus.command = …`,
//! an inline table): the document is parsed (`toml_edit`, which keeps the
//! user's comments and layout), the `caucus` entry is changed in whatever
//! form it already has, and a file that does not parse, or where
//! `mcp_servers` or `caucus` is not a table, is refused with the reason;
//! nothing is ever written that a TOML parser would reject.

use serde_json::{Value, json};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike};

/// What `setup codex` writes as the `caucus` server.
pub struct Server<'a> {
    pub command: &'a str,
    pub args: &'a [&'a str],
    pub env: &'a [(String, String)],
}

/// A parsed Codex `config.toml`.
pub struct CodexConfig {
    doc: DocumentMut,
}

impl CodexConfig {
    /// Parses `text` (empty for a file that does not exist yet); `what`
    /// names the file in the error.
    pub fn parse(text: &str, what: &str) -> Result<Self, String> {
        text.parse::<DocumentMut>()
            .map(|doc| CodexConfig { doc })
            .map_err(|e| {
                let first = e.to_string();
                let first = first.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("{what} is not valid TOML ({}): fix it first", first.trim())
            })
    }

    /// The document as text.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Sets the `caucus` server to `server` (with its tools pre-approved),
    /// keeping every other key, the entry's own form, and the comments.
    pub fn set_server(&mut self, server: &Server<'_>, what: &str) -> Result<(), String> {
        let fresh = self.doc.as_table().is_empty();
        let root = self.doc.as_table_mut();
        if !root.contains_key("mcp_servers") {
            let mut servers = Table::new();
            servers.set_implicit(true);
            root.insert("mcp_servers", Item::Table(servers));
        }
        let item = root.get_mut("mcp_servers");
        let inline = item.as_ref().is_some_and(|i| i.is_inline_table());
        let servers = item
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| format!("{what}: mcp_servers is not a table; change it by hand"))?;
        let values = server_values(server);
        let inline = inline || servers.is_dotted();
        match servers.get_mut("caucus") {
            Some(entry) => {
                let entry = entry.as_table_like_mut().ok_or_else(|| {
                    format!("{what}: mcp_servers.caucus is not a table; change it by hand")
                })?;
                // Keys of ours keep their place and their comments; any
                // other key (or sub-table) of the entry goes.
                let stale: Vec<String> = entry
                    .iter()
                    .map(|(k, _)| k.to_string())
                    .filter(|k| !values.iter().any(|(ours, _)| ours == k))
                    .collect();
                for key in stale {
                    entry.remove(&key);
                }
                for (key, value) in values {
                    match entry.get_mut(key) {
                        Some(Item::Value(old)) => {
                            let decor = old.decor().clone();
                            *old = value;
                            *old.decor_mut() = decor;
                        }
                        _ => {
                            entry.insert(key, Item::Value(value));
                        }
                    }
                }
            }
            None if inline => {
                // Inside an inline table, or a table made of dotted keys:
                // the entry as an inline table keeps the form legal.
                let mut inline = InlineTable::new();
                for (key, value) in values {
                    inline.insert(key, value);
                }
                servers.insert("caucus", Item::Value(inline.into()));
            }
            None => {
                let mut table = Table::new();
                for (key, value) in values {
                    table.insert(key, Item::Value(value));
                }
                if !fresh {
                    table.decor_mut().set_prefix("\n");
                }
                servers.insert("caucus", Item::Table(table));
            }
        }
        Ok(())
    }

    /// The `caucus` server, in the JSON shape of the other hosts' files
    /// (`command`, `args`, `env`), if there is one.
    pub fn server(&self) -> Option<Value> {
        let entry = self
            .doc
            .get("mcp_servers")?
            .as_table_like()?
            .get("caucus")?
            .as_table_like()?;
        let text = |item: &Item| item.as_str().map(str::to_string);
        let args: Vec<String> = entry
            .get("args")
            .and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut env = serde_json::Map::new();
        if let Some(table) = entry.get("env").and_then(Item::as_table_like) {
            for (key, value) in table.iter() {
                if let Some(v) = text(value) {
                    env.insert(key.to_string(), json!(v));
                }
            }
        }
        Some(json!({
            "command": entry.get("command").and_then(text),
            "args": args,
            "env": env,
        }))
    }

    /// Whether Codex trusts the project at `path` (`projects."PATH"`).
    pub fn trusts_project(&self, path: &str) -> bool {
        self.table_at(&["projects", path])
            .and_then(|p| p.get("trust_level"))
            .and_then(Item::as_str)
            == Some("trusted")
    }

    /// Whether any hook of the file `hooks_json` carries the hash of the
    /// user's review (`hooks.state."FILE:EVENT:…".trusted_hash`).
    pub fn trusts_hooks_of(&self, hooks_json: &str) -> bool {
        let prefix = format!("{hooks_json}:");
        self.table_at(&["hooks", "state"]).is_some_and(|state| {
            state.iter().any(|(key, item)| {
                key.starts_with(&prefix)
                    && item
                        .as_table_like()
                        .is_some_and(|t| t.contains_key("trusted_hash"))
            })
        })
    }

    fn table_at(&self, path: &[&str]) -> Option<&dyn TableLike> {
        let mut at: &dyn TableLike = self.doc.as_table();
        for key in path {
            at = at.get(key)?.as_table_like()?;
        }
        Some(at)
    }
}

fn server_values(server: &Server<'_>) -> Vec<(&'static str, toml_edit::Value)> {
    let args: Array = server.args.iter().copied().collect();
    let mut env = InlineTable::new();
    for (key, value) in server.env {
        env.insert(key, value.as_str().into());
    }
    vec![
        ("command", server.command.into()),
        ("args", args.into()),
        ("env", env.into()),
        ("default_tools_approval_mode", "approve".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> (Vec<&'static str>, Vec<(String, String)>) {
        (
            vec!["bridge"],
            vec![
                (
                    "CAUCUS_HUB_URL".to_string(),
                    "http://127.0.0.1:8765".to_string(),
                ),
                ("CAUCUS_PROJECT".to_string(), "alpha \"q\"".to_string()),
            ],
        )
    }

    fn merged(old: &str) -> String {
        let (args, env) = server();
        let mut c = CodexConfig::parse(old, "config.toml").unwrap();
        c.set_server(
            &Server {
                command: "C:\\caucus\\caucus.exe",
                args: &args,
                env: &env,
            },
            "config.toml",
        )
        .unwrap();
        c.text()
    }

    /// The merged text parses (with another parser than ours), holds our
    /// server once, and reads back the same through `server()`.
    fn check(old: &str) -> String {
        let text = merged(old);
        let table: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        let caucus = &table["mcp_servers"]["caucus"];
        assert_eq!(
            caucus["command"].as_str(),
            Some("C:\\caucus\\caucus.exe"),
            "{text}"
        );
        assert_eq!(
            caucus["env"]["CAUCUS_PROJECT"].as_str(),
            Some("alpha \"q\"")
        );
        assert_eq!(
            caucus["default_tools_approval_mode"].as_str(),
            Some("approve")
        );
        let back = CodexConfig::parse(&text, "x").unwrap().server().unwrap();
        assert_eq!(back["args"], json!(["bridge"]));
        assert_eq!(back["env"]["CAUCUS_HUB_URL"], "http://127.0.0.1:8765");
        // Merging again changes nothing.
        assert_eq!(merged(&text), text);
        text
    }

    #[test]
    fn a_header_with_a_trailing_comment_is_merged_and_the_comment_kept() {
        let text = check(
            "# mine\nmodel = \"o3\"\n\n[mcp_servers.caucus] # the room\ncommand = \"old\"\n\
             extra = 1\n\n[mcp_servers.other]\ncommand = \"x\" # keep me\n",
        );
        assert!(text.contains("# the room"), "{text}");
        assert!(text.contains("# keep me"), "{text}");
        assert!(text.contains("# mine"), "{text}");
        assert!(!text.contains("extra"), "{text}");
        assert!(text.contains("[mcp_servers.other]"), "{text}");
    }

    #[test]
    fn a_quoted_key_is_the_same_table() {
        let text = check("[mcp_servers.\"caucus\"]\ncommand = \"old\"\n");
        assert_eq!(text.matches("command").count(), 1, "{text}");
    }

    #[test]
    fn dotted_keys_are_merged_as_dotted_keys() {
        let text = check(
            "mcp_servers.caucus.command = \"old\"\nmcp_servers.caucus.args = [\"x\"]\n\
             mcp_servers.other.command = \"y\"\n",
        );
        assert!(text.contains("mcp_servers.other.command"), "{text}");
        assert_eq!(text.matches("caucus.command").count(), 1, "{text}");
    }

    #[test]
    fn other_legal_forms_take_the_server_too() {
        for old in [
            "",
            "model = \"o3\"\n",
            "[mcp_servers]\nother = { command = \"y\" }\n",
            "mcp_servers = { other = { command = \"y\" } }\n",
            "mcp_servers.other.command = \"y\"\n",
            "[mcp_servers.caucus]\ncommand = \"a\"\n[mcp_servers.caucus.env]\nK = \"v\"\n",
            "[mcp_servers.caucusish]\ncommand = \"b\"\n",
        ] {
            let text = check(old);
            if old.contains("caucusish") {
                assert!(text.contains("[mcp_servers.caucusish]"), "{text}");
            }
            assert!(!text.contains("K = "), "{text}");
        }
    }

    #[test]
    fn what_cannot_be_merged_is_refused_with_the_reason() {
        let (args, env) = server();
        let s = Server {
            command: "c",
            args: &args,
            env: &env,
        };
        let err = CodexConfig::parse("[mcp_servers\n", "config.toml")
            .err()
            .unwrap();
        assert!(err.contains("not valid TOML"), "{err}");
        for (old, why) in [
            ("mcp_servers = 3\n", "mcp_servers is not a table"),
            (
                "mcp_servers.caucus = \"x\"\n",
                "mcp_servers.caucus is not a table",
            ),
        ] {
            let mut c = CodexConfig::parse(old, "config.toml").unwrap();
            let err = c.set_server(&s, "config.toml").err().unwrap();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn windows_paths_quotes_and_controls_round_trip() {
        for command in [
            "C:\\Users\\a b\\caucus.exe",
            "say \"hi\" 'there'",
            "tab\there\nline",
            "ünï",
        ] {
            let mut c = CodexConfig::parse("", "x").unwrap();
            let s = Server {
                command,
                args: &[],
                env: &[],
            };
            c.set_server(&s, "x").unwrap();
            let table: toml::Table = toml::from_str(&c.text()).unwrap();
            assert_eq!(
                table["mcp_servers"]["caucus"]["command"].as_str(),
                Some(command)
            );
        }
    }

    #[test]
    fn trust_records_are_read_in_the_form_codex_writes_them() {
        let c = CodexConfig::parse(
            "[projects.\"/w/a b\"]\ntrust_level = \"trusted\"\n\n\
             [hooks.state.\"/w/a b/.codex/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:1\"\n",
            "x",
        )
        .unwrap();
        assert!(c.trusts_project("/w/a b"));
        assert!(!c.trusts_project("/w/a"));
        assert!(c.trusts_hooks_of("/w/a b/.codex/hooks.json"));
        assert!(!c.trusts_hooks_of("/w/a/.codex/hooks.json"));
    }
}
