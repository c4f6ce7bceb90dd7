//! Whether each host will use what `caucus setup` wrote. Every host skips
//! an untrusted project's files without a word (the server, the hooks, the
//! allowed tools), so `doctor` reads the host's own record of the user's
//! consent and names the step that gives it:
//!
//! - Claude Code (`~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json`):
//!   the workspace trust dialog (`projects[DIR].hasTrustDialogAccepted`;
//!   without it the project's `permissions.allow` is ignored, so every
//!   caucus tool asks and `claude -p` is denied them) and the approval of
//!   the project's MCP server (`enabledMcpjsonServers` in the project entry
//!   or a settings file, or `enableAllProjectMcpServers`).
//! - Codex (`$CODEX_HOME/config.toml`, default `~/.codex/config.toml`):
//!   `[projects."DIR"] trust_level = "trusted"`, and a `trusted_hash`
//!   under `[hooks.state."DIR/.codex/hooks.json:…"]` for the hooks,
//!   written when the user trusts them in `/hooks`. Push into an idle
//!   session needs Codex's app-server daemon, whose control socket is
//!   looked for.
//! - Gemini CLI (`~/.gemini/trustedFolders.json`): the folder, or a parent,
//!   trusted, unless folder trust is off in the user's settings.
//!
//! It only reads, and a file it cannot read is a finding, never a crash.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Report;
use crate::hosts::codex_toml::CodexConfig;
use crate::hosts::setup::Host;

pub(super) fn check(host: Host, dir: &Path, report: &mut Report) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match host {
        Host::Claude => claude(&dir, report),
        Host::Codex => codex(&dir, report),
        Host::Gemini => gemini(&dir, report),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn claude(dir: &Path, report: &mut Report) {
    let config = std::env::var_os("CLAUDE_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(".claude.json"))
        .or_else(|| home().map(|h| h.join(".claude.json")));
    let Some(config) = config else {
        report.fix("no HOME: cannot find Claude Code's ~/.claude.json");
        return;
    };
    let state = read_json(&config).unwrap_or(Value::Null);
    let key = dir.display().to_string();
    let project = &state["projects"][&key];
    if project["hasTrustDialogAccepted"] == true {
        report.ok(format!("Claude Code trusts {key}"));
    } else {
        report.fix(format!(
            "Claude Code has not trusted {key} ({}): until it does it ignores the project's \
             permissions.allow, so every caucus tool asks and `claude -p` is denied them. Run \
             `claude` here once and accept the trust dialog",
            config.display()
        ));
    }
    let settings: Vec<Value> = [
        dir.join(".claude").join("settings.local.json"),
        dir.join(".claude").join("settings.json"),
    ]
    .into_iter()
    .chain(home().map(|h| h.join(".claude").join("settings.json")))
    .filter_map(|p| read_json(&p))
    .chain(std::iter::once(project.clone()))
    .collect();
    let names = |key: &str| -> bool {
        settings.iter().any(|s| {
            s[key]
                .as_array()
                .is_some_and(|l| l.iter().any(|n| n == "caucus"))
        })
    };
    if names("disabledMcpjsonServers") {
        report.fix(
            "Claude Code was told not to use the project's MCP server \"caucus\" \
             (disabledMcpjsonServers): remove it from that list, or run `claude mcp reset-project-choices` \
             here and approve it at the next start",
        );
    } else if names("enabledMcpjsonServers")
        || settings
            .iter()
            .any(|s| s["enableAllProjectMcpServers"] == true)
    {
        report.ok("Claude Code has approved the project's MCP server \"caucus\"");
    } else {
        report.fix(
            "Claude Code has not approved the project's MCP server \"caucus\" yet: at the next \
             interactive `claude` here, approve it when asked (headless `claude -p` uses it \
             without asking)",
        );
    }
}

/// Codex's home: `CODEX_HOME`, else `~/.codex`.
fn codex_home() -> Option<PathBuf> {
    std::env::var_os("CODEX_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".codex")))
}

fn codex(dir: &Path, report: &mut Report) {
    let Some(home) = codex_home() else {
        report.fix("no HOME: cannot find Codex's config.toml");
        return;
    };
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let parsed = match CodexConfig::parse(&text, &config.display().to_string()) {
        Ok(parsed) => parsed,
        Err(e) => {
            report.fix(format!("{e}: Codex cannot read it either"));
            return;
        }
    };
    let key = dir.display().to_string();
    let trusted = parsed.trusts_project(&key);
    if trusted {
        report.ok(format!("Codex trusts {key}"));
    } else {
        report.fix(format!(
            "Codex does not trust {key} ({}): it reads neither .codex/config.toml nor \
             .codex/hooks.json here. Start `codex` here and trust the project",
            config.display()
        ));
    }
    let hooks = dir.join(".codex").join("hooks.json");
    let hooks_trusted = parsed.trusts_hooks_of(&hooks.display().to_string());
    if hooks_trusted {
        report.ok("Codex trusts the caucus hooks (reviewed in /hooks)");
    } else if hooks.exists() {
        report.fix(
            "Codex has not trusted the caucus hooks: it skips them without a word, so the agent \
             hears nothing between turns and the chair's pause does not hold. Start `codex` \
             here, open /hooks, review and trust them (again after each `caucus setup codex` \
             that changes them)",
        );
    }
    let socket = home
        .join("app-server-control")
        .join("app-server-control.sock");
    if socket.exists() {
        report.ok(
            "Codex's app-server daemon runs: `caucus watch --push codex` can wake an idle session",
        );
    } else {
        report.ok(
            "Codex's app-server daemon is not running: an idle Codex session is woken only by \
             its watcher's exit; for push, run `codex app-server daemon start` and start \
             sessions on it (see docs/CONNECTORS.md)",
        );
    }
}

fn gemini(dir: &Path, report: &mut Report) {
    let Some(home) = home().map(|h| h.join(".gemini")) else {
        report.fix("no HOME: cannot find Gemini CLI's trustedFolders.json");
        return;
    };
    let settings = read_json(&home.join("settings.json")).unwrap_or(Value::Null);
    if settings["security"]["folderTrust"]["enabled"] == false {
        report.ok("Gemini CLI's folder trust is off: it reads every folder's settings");
        return;
    }
    let path = home.join("trustedFolders.json");
    let rules = read_json(&path).unwrap_or(Value::Null);
    let rules = rules.as_object().cloned().unwrap_or_default();
    // The most specific rule that covers the folder decides.
    let mut best: Option<(usize, bool)> = None;
    for (folder, rule) in &rules {
        let folder = Path::new(folder);
        let (root, trust) = match rule.as_str() {
            Some("TRUST_FOLDER") => (folder, true),
            Some("TRUST_PARENT") => (folder.parent().unwrap_or(folder), true),
            Some("DO_NOT_TRUST") => (folder, false),
            _ => continue,
        };
        if dir.starts_with(root) {
            let depth = root.components().count();
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, trust));
            }
        }
    }
    match best {
        Some((_, true)) => report.ok(format!("Gemini CLI trusts {}", dir.display())),
        Some((_, false)) => report.fix(format!(
            "Gemini CLI was told not to trust {} ({}): it ignores .gemini/settings.json here \
             (the caucus server and hooks). Trust the folder with /permissions in gemini",
            dir.display(),
            path.display()
        )),
        None => report.fix(format!(
            "Gemini CLI has not trusted {} ({}): it ignores .gemini/settings.json here (the \
             caucus server and hooks). Start `gemini` here and trust the folder when asked",
            dir.display(),
            path.display()
        )),
    }
}
