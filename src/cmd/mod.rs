//! The client commands: the stdio bridge, the watcher, the agent that
//! lives in the room, the scripting commands, and the room file (`up`,
//! `down`).

pub mod agent;
pub mod bridge;
pub mod room;
pub mod script;
pub mod watch;
