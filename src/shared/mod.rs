//! What both halves share, and nothing that talks to a hub: the wire types,
//! line formats, time, secrets, the OS, the kept identities, the room's
//! protocol text, and the argument helpers.

pub mod cli;
pub mod clock;
pub mod files;
pub mod identity;
pub mod lines;
pub mod platform;
pub mod protocol;
pub mod secret;
pub mod wire;
