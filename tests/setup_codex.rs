//! `caucus setup codex` on `.codex/config.toml` files a user really has:
//! the `caucus` table written in any legal form is merged in that form, the
//! user's comments stay, the result is TOML another parser reads, and a
//! file it cannot merge is refused with the reason and left as it was.

mod common;

use std::path::{Path, PathBuf};

fn repo(name: &str, config: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("setup-codex-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".codex")).unwrap();
    std::fs::write(dir.join(".codex/config.toml"), config).unwrap();
    dir
}

fn setup_codex(dir: &Path) -> std::process::Output {
    common::caucus()
        .args(["setup", "codex", "--hub", "http://127.0.0.1:8765"])
        .current_dir(dir)
        .output()
        .unwrap()
}

fn config(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".codex/config.toml")).unwrap()
}

#[test]
fn every_legal_form_of_the_caucus_table_is_merged_into_valid_toml() {
    for (name, old, kept) in [
        (
            "trailing-comment",
            "[mcp_servers.caucus] # the room\ncommand = \"old\"\n\n[mcp_servers.other]\n\
             command = \"x\"\n",
            "# the room",
        ),
        (
            "quoted-key",
            "# my servers\n[mcp_servers.\"caucus\"]\ncommand = \"old\"\n",
            "# my servers",
        ),
        (
            "dotted-keys",
            "mcp_servers.caucus.command = \"old\" # was here\nmcp_servers.other.command = \"x\"\n",
            "# was here",
        ),
    ] {
        let dir = repo(name, old);
        let out = setup_codex(&dir);
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
        let text = config(&dir);
        let table: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        let caucus = &table["mcp_servers"]["caucus"];
        assert_eq!(caucus["args"][0].as_str(), Some("bridge"), "{name}: {text}");
        assert_eq!(
            caucus["env"]["CAUCUS_PROJECT"].as_str(),
            Some(name),
            "{name}: {text}"
        );
        assert_eq!(
            caucus["default_tools_approval_mode"].as_str(),
            Some("approve")
        );
        assert!(text.contains(kept), "{name}: the comment went\n{text}");
        if old.contains("other") {
            assert_eq!(table["mcp_servers"]["other"]["command"].as_str(), Some("x"));
        }
        // A second run finds nothing to change.
        let again = setup_codex(&dir);
        assert_eq!(again.status.code(), Some(0));
        assert_eq!(config(&dir), text, "{name}");
    }
}

#[test]
fn a_config_it_cannot_merge_is_refused_and_left_as_it_was() {
    for (name, old, why) in [
        ("broken", "[mcp_servers\ncommand = 1\n", "not valid TOML"),
        (
            "not-a-table",
            "mcp_servers = 3\n",
            "mcp_servers is not a table",
        ),
    ] {
        let dir = repo(name, old);
        let out = setup_codex(&dir);
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{name}: {err}");
        assert_eq!(config(&dir), old, "{name}: changed");
        assert!(
            !dir.join(".codex/hooks.json").exists(),
            "{name}: nothing is written when one file is refused"
        );
    }
}
