//! Any query against any bytes of history: parsing the query and scanning
//! the lines (anchor search, line boundaries, parsing) must never panic,
//! and what it finds must match the query.

#![no_main]

use caucus::hub::search::{Query, in_block};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the query; the rest is the history.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(q) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(query) = Query::parse(q) else {
        return;
    };
    let history = data.get(split + 1..).unwrap_or_default();
    let found = in_block(&query, history, 50);
    assert!(found.messages.len() <= 50);
    for m in &found.messages {
        assert!(query.matches(m));
    }
});
