//! The hub's health figures that are not the room's: its own memory, and
//! the tick that sends the console the room's figures every 1.5 s.

use std::sync::Arc;
use std::thread;

use super::events::HEALTH_EVERY;
use super::state::Hub;

/// Resident memory of this process in MiB, from `/proc/self/statm`.
pub fn resident_mib() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (pages * 4096.0 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

/// The console's health tick. Memory is read before the lock is taken.
pub fn start(hub: Arc<Hub>) -> Result<(), String> {
    thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            loop {
                thread::sleep(HEALTH_EVERY);
                if hub.room().watched() {
                    let rss = resident_mib();
                    hub.room().publish_health(rss);
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the health tick: {e}"))
}
