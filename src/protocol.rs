//! The agents' operating protocol: the text the hub serves at `/protocol`
//! and hands to an agent whose copy is stale, and its revision.

/// The revision of `protocol.md`; bump it whenever the text changes.
pub const VERSION: i64 = 1;
/// The agents' operating protocol, served at `/protocol`.
pub const TEXT: &str = include_str!("protocol.md");
