//! Any bytes an MCP host can write to `caucus bridge`'s stdin: the JSON-RPC
//! loop must answer or ignore each line and never panic. Tool calls reach
//! a port where nothing listens, so they end in `hub_unreachable` at once.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    caucus::fuzz::serve_lines(data, std::io::sink(), "http://127.0.0.1:9");
});
