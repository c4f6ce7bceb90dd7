//! caucus as a library: the modules behind the `caucus` binary, exposed so
//! the fuzz targets (and only they) can reach the parsers a stranger can
//! feed. The binary in `main.rs` is the product; nothing here is a stable API.
//!
//! The layers, lowest first (ARCHITECTURE.md draws them; `tests/architecture.rs`
//! checks the arrows): `shared`, then `client`, then `mcp` and `hosts`, then
//! `cmd`; the `hub` stands beside them and no client imports it.

pub mod client;
pub mod cmd;
pub mod hosts;
pub mod hub;
pub mod mcp;
pub mod shared;
