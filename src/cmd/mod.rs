//! The client commands: the stdio bridge, the watcher, the agent that
//! lives in the room, and the scripting commands.

pub mod agent;
pub mod bridge;
pub mod script;
pub mod watch;
