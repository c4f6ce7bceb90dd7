//! Read deadlines and the open-connection cap: slow or silent clients are
//! closed, busy ones (a held long-poll) are not.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Hub;
use serde_json::json;

/// Reads until the hub closes the connection; returns what it sent. Fails
/// if the connection is still open after `bound` (a generous safety bound,
/// far beyond the deadlines these tests set).
fn read_until_closed(s: &mut TcpStream, bound: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(bound)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the hub kept the connection open ({e}); got {got:?}"),
        }
    }
}

#[test]
fn a_head_that_never_completes_is_closed_at_the_deadline() {
    let hub = Hub::start(&["--read-deadline", "1"]);
    let mut s = TcpStream::connect(&hub.addr).unwrap();
    s.write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let got = read_until_closed(&mut s, Duration::from_secs(60));
    assert!(
        got.is_empty(),
        "no answer for a head never finished: {got:?}"
    );
    // The hub is fine.
    assert_eq!(hub.get("/version").status, 200);
}

#[test]
fn a_head_trickled_a_byte_at_a_time_is_cut_off() {
    let hub = Hub::start(&["--read-deadline", "1"]);
    let mut s = TcpStream::connect(&hub.addr).unwrap();
    let mut reader = s.try_clone().unwrap();
    let head = b"GET /version HTTP/1.1\r\nX-Slow: ".to_vec();
    s.write_all(&head).unwrap();
    // The trickle itself is the client under test, not a synchronisation:
    // it writes a byte every 100 ms, for up to 60 s, until the hub closes.
    let writer = std::thread::spawn(move || {
        for _ in 0..600 {
            if s.write_all(b"a").is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    let got = read_until_closed(&mut reader, Duration::from_secs(60));
    assert!(got.is_empty(), "{got:?}");
    assert!(writer.join().unwrap(), "the trickle was never refused");
}

/// Sends a `/send` whose head promises `missing` more body bytes than
/// follow, then goes quiet; returns what the hub answered before closing.
fn send_short(hub: &Hub, token: &str, pad: usize, missing: usize) -> String {
    let body = json!({"token": token, "to": "alpha", "content": "x".repeat(pad)}).to_string();
    let mut s = TcpStream::connect(&hub.addr).unwrap();
    let head = format!(
        "POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len() + missing
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    String::from_utf8(read_until_closed(&mut s, Duration::from_secs(60))).unwrap()
}

#[test]
fn a_body_that_stops_short_is_cut_off_and_changes_nothing() {
    let hub = Hub::start(&["--read-deadline", "1"]);
    let a = hub.join("alpha");
    // A body that stops short gets 408 and the connection is closed.
    let got = send_short(&hub, &a.token, 2000, 100);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("request body incomplete"), "{got}");
    // A small body is held to the same rule.
    let got = send_short(&hub, &a.token, 10, 100);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(a.receive(0.0).is_empty(), "nothing was sent");
    assert_eq!(a.say("alpha", "still fine").status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_its_answer() {
    let hub = Hub::start(&["--read-deadline", "1"]);
    let mut s = TcpStream::connect(&hub.addr).unwrap();
    s.write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let got = String::from_utf8(read_until_closed(&mut s, Duration::from_secs(60))).unwrap();
    assert!(got.starts_with("HTTP/1.1 200"), "answered first: {got}");
}

#[test]
fn a_long_poll_outlasting_the_deadline_is_answered() {
    let hub = Hub::start(&["--read-deadline", "1"]);
    let a = hub.join("alpha");
    // Held for 3 s on an open connection, three deadlines long.
    let r = a.receive_raw("timeout=3");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["messages"], json!([]));
}

/// Whether the hub closed `s` (without an answer) by now.
fn closed_by_hub(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        other => panic!("unexpected read: {other:?}"),
    }
}

#[test]
fn past_the_open_connection_cap_newcomers_wait_and_the_longest_idle_make_way() {
    let hub = Hub::start(&["--max-connections", "4", "--read-deadline", "600"]);
    let mut silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(&hub.addr).unwrap())
        .collect();
    // A newcomer at the cap: refused with 503 until one of the silent four
    // has been idle a second, then served, and the oldest is closed for it.
    let mut refused = 0;
    let served = (0..600).find_map(|_| {
        let r = hub.raw(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        match r.status {
            200 => Some(r),
            503 => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(50));
                None
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    });
    assert!(served.is_some(), "never served");
    assert!(refused > 0, "the cap never bit");
    assert!(
        closed_by_hub(&mut silent[0]),
        "the longest idle was not closed"
    );
    // The other three are untouched and still work.
    for s in &mut silent[1..] {
        assert!(!closed_by_hub(s));
        s.write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let got = String::from_utf8(read_until_closed(s, Duration::from_secs(60))).unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    }
}

/// Bodies that trickle do not hold every slot: at the cap, a connection
/// still reading its body makes way for a newcomer as an idle one does, so
/// the operator's `/control` gets through.
#[test]
fn at_the_cap_trickling_bodies_make_way_for_the_operator() {
    let hub = Hub::start(&["--max-connections", "4", "--read-deadline", "600"]);
    let mut tricklers: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&hub.addr).unwrap();
            s.write_all(
                b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{",
            )
            .unwrap();
            s
        })
        .collect();
    let op = hub.operator().unwrap().to_string();
    let body = r#"{"action":"pause"}"#;
    let request = format!(
        "POST /control HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: \
         Bearer {op}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let served = (0..600).find_map(|_| {
        let r = hub.raw(request.as_bytes());
        match r.status {
            200 => Some(r),
            503 => {
                std::thread::sleep(Duration::from_millis(50));
                None
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    });
    assert_eq!(
        served.expect("the operator never got through").json()["mode"],
        "paused"
    );
    assert!(
        closed_by_hub(&mut tricklers[0]),
        "the longest trickler made way"
    );
}
