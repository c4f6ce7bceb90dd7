//! caucus as a library: the modules behind the `caucus` binary, exposed so
//! the fuzz targets (and only they) can reach the parsers a stranger can
//! feed. The binary in `main.rs` is the product; nothing here is a stable API.

pub mod agent;
pub mod bridge;
pub mod cli;
pub mod client;
pub mod clock;
pub mod codex_push;
pub mod doctor;
pub mod hook;
pub mod hub;
pub mod identity;
pub mod lines;
pub mod mcp;
pub mod platform;
pub mod protocol;
pub mod script;
pub mod secret;
pub mod service;
pub mod setup;
pub mod watch;
pub mod wire;
