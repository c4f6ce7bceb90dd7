//! Any bytes a stranger can send before the hub knows what request it is:
//! the request head, its framing rules, and a chunked body's size lines.

#![no_main]

use caucus::fuzz::head;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((h, len))) = head::parse(data) {
        assert!(len <= data.len() && len <= head::MAX_HEAD);
        let _ = h.framing();
        let _ = h.expects_continue();
        let _ = h.keep_alive();
        let _ = head::chunk_size(&data[len..]);
    }
    let _ = head::chunk_size(data);
});
