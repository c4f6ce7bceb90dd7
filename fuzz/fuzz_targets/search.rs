//! Any query against any bytes of history: parsing the query and scanning
//! the lines (anchor search, line boundaries, parsing) must never panic,
//! and what it finds must match the query.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| caucus::fuzz::search_block(data));
