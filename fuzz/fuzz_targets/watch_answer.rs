//! Any answer a hub (or something pretending to be one) can send the
//! watcher: reading it must never panic, whatever its shape.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = caucus::fuzz::read_batch(&answer, false);
        let _ = caucus::fuzz::read_batch(&answer, true);
    }
});
