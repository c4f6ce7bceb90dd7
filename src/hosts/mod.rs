//! The agent hosts (Claude Code, Codex, Gemini CLI): how a repository is
//! wired for each (`setup`), checked (`doctor`), what their hooks run
//! (`hook`), and Codex's push mode.

pub mod codex_push;
pub mod codex_toml;
pub mod doctor;
pub mod hook;
pub mod runtime;
pub mod setup;
