//! Any request a stranger can send the hub, answered by the real endpoint
//! table against a live room (see `caucus::fuzz::hub_request`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| caucus::fuzz::hub_request(data));
